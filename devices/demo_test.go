package devices_test

import (
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/twpayne/go-geom/xy"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

const demoDir = "../configs/demo"

func loadDemo(t testing.TB) *devices.Registry {
	t.Helper()
	r, err := devices.Load(demoDir)
	if err != nil {
		t.Fatalf("Load(%s): %v", demoDir, err)
	}
	return r
}

// centre returns the centroid of an area, a point inside it for the
// convex zones of the demo.
func centre(t testing.TB, a *devices.Area) contract.Point {
	t.Helper()
	c := xy.MultiPolygonCentroid(a.Polygon)
	return contract.Point{Lon: c.X(), Lat: c.Y()}
}

func TestDemoCounts(t *testing.T) {
	r := loadDemo(t)
	for _, tc := range []struct {
		what     string
		got, min int
		max      int
	}{
		{"smoke detectors", len(r.Devices(contract.KindSmoke)), 200, 1000},
		{"hydrant monitors", len(r.Devices(contract.KindHydrant)), 20, 20},
		{"chargers", len(r.Devices(contract.KindCharger)), 5, 5},
		{"stations", len(r.Stations()), 3, 3},
		{"zones", len(r.Areas(devices.LevelZone)), 9, 100},
		{"communities", len(r.Areas(devices.LevelCommunity)), 3, 3},
		{"grids", len(r.Areas(devices.LevelGrid)), 1, 1},
		{"electrical fire monitors", len(r.Devices(contract.KindElectrical)), 1, 100},
		{"gas detectors", len(r.Devices(contract.KindGas)), 1, 100},
		{"call buttons", len(r.Devices(contract.KindButton)), 1, 200},
		{"cameras", len(r.Devices(contract.KindCamera)), 1, 100},
		{"transmission units", len(r.GB26875Units()), 1, 10},
	} {
		if tc.got < tc.min || tc.got > tc.max {
			t.Errorf("%s: got %d, want %d..%d", tc.what, tc.got, tc.min, tc.max)
		}
	}
	all := r.Devices("")
	n := 0
	for _, k := range contract.Kinds {
		n += len(r.Devices(k))
	}
	if n != len(all) {
		t.Errorf("Devices(\"\") has %d, the kinds add up to %d", len(all), n)
	}
	if !slices.IsSortedFunc(all, func(a, b *devices.Device) int { return compare(a.ID, b.ID) }) {
		t.Error("Devices(\"\") not sorted by id")
	}
	if !slices.IsSortedFunc(r.Sites(), func(a, b *devices.Site) int { return compare(a.ID, b.ID) }) {
		t.Error("Sites() not sorted by id")
	}
	for _, c := range r.Devices(contract.KindCharger) {
		if c.Ports != 10 {
			t.Errorf("%s: %d ports, want 10", c.ID, c.Ports)
		}
		kinds := map[contract.Kind]int{}
		for _, d := range r.SiteDevices(c.Site) {
			kinds[d.Kind]++
		}
		if kinds[contract.KindSmoke] != 1 || kinds[contract.KindCharger] != 1 || kinds[contract.KindElectrical] != 1 {
			t.Errorf("shed %s: devices %v, want one charger, one smoke detector and one electrical fire monitor", c.Site, kinds)
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDemoResidents(t *testing.T) {
	r := loadDemo(t)
	var households, alone, bereaved, disabled, twoDetectors int
	for _, s := range r.Sites() {
		if s.Type != contract.SiteHousehold {
			continue
		}
		households++
		var smoke, buttons int
		for _, d := range r.SiteDevices(s.ID) {
			switch d.Kind {
			case contract.KindSmoke:
				smoke++
			case contract.KindButton:
				buttons++
			case contract.KindGas:
			default:
				t.Errorf("household %s: device %s is a %s, want smoke detectors, a gas detector, a call button", s.ID, d.ID, d.Kind)
			}
		}
		if smoke < 1 || smoke > 2 {
			t.Errorf("household %s: %d smoke detectors, want one or two", s.ID, smoke)
		}
		if smoke == 2 {
			twoDetectors++
		}
		if s.Flags.ElderlyAlone != (buttons == 1) {
			t.Errorf("household %s: elderly alone %v, %d call buttons: every elderly resident living alone has one, nobody else", s.ID, s.Flags.ElderlyAlone, buttons)
		}
		if s.Flags.ElderlyAlone {
			alone++
			if s.Guardian.Name == "" || s.Guardian.Phone == "" {
				t.Errorf("household %s: elderly alone without a guardian", s.ID)
			}
		}
		if s.Flags.Bereaved {
			bereaved++
		}
		if s.Flags.Disabled {
			disabled++
		}
		// Site flags are the union of the residents' flags.
		var union contract.ResidentFlags
		for _, res := range s.Residents() {
			union.ElderlyAlone = union.ElderlyAlone || res.Flags.ElderlyAlone
			union.Bereaved = union.Bereaved || res.Flags.Bereaved
			union.Disabled = union.Disabled || res.Flags.Disabled
		}
		if union != s.Flags {
			t.Errorf("household %s: flags %+v, residents' union %+v", s.ID, s.Flags, union)
		}
		for _, d := range r.SiteDevices(s.ID) {
			if d.Flags() != s.Flags || d.Zone() != s.Zone || d.Station() != s.Station || d.Community() != s.Community {
				t.Errorf("device %s does not carry its site's zone, station and flags", d.ID)
			}
		}
	}
	if twoDetectors < 20 {
		t.Errorf("%d households with a second (kitchen) detector, want at least 20", twoDetectors)
	}
	if households < 200 {
		t.Errorf("%d households, want at least 200", households)
	}
	if f := float64(alone) / float64(households); f < 0.28 || f > 0.40 {
		t.Errorf("%d of %d households elderly alone (%.2f), want about a third", alone, households, f)
	}
	if bereaved == 0 || disabled == 0 {
		t.Errorf("bereaved %d, disabled %d households, want some of each", bereaved, disabled)
	}
}

func TestDemoSitesPlaced(t *testing.T) {
	r := loadDemo(t)
	for _, s := range r.Sites() {
		if s.Zone == "" || s.Community == "" || s.Grid == "" || s.Station == "" {
			t.Fatalf("site %s not placed: zone %q community %q grid %q station %q", s.ID, s.Zone, s.Community, s.Grid, s.Station)
		}
		z, ok := r.Locate(s.Location)
		if !ok || z.ID != s.Zone {
			t.Fatalf("site %s: Locate says %v, site says zone %s", s.ID, z, s.Zone)
		}
		if z.Parent != s.Community {
			t.Fatalf("site %s: community %s, zone's parent %s", s.ID, s.Community, z.Parent)
		}
		if _, st := r.Route(s.Location); st.ID != s.Station {
			t.Fatalf("site %s: station %s, Route says %s", s.ID, s.Station, st.ID)
		}
	}
	// Station.Zones lists exactly the zones naming the station.
	for _, st := range r.Stations() {
		var want []string
		for _, z := range r.Areas(devices.LevelZone) {
			if z.Station == st.ID {
				want = append(want, z.ID)
			}
		}
		if !slices.Equal(st.Zones, want) {
			t.Errorf("station %s: zones %v, want %v", st.ID, st.Zones, want)
		}
	}
}

func TestDemoGaps(t *testing.T) {
	r := loadDemo(t)
	gaps := r.Gaps()
	var stationless []string
	for _, z := range r.Areas(devices.LevelZone) {
		if z.Station == "" {
			stationless = append(stationless, z.ID)
		}
	}
	if len(stationless) != 1 {
		t.Fatalf("demo has station-less zones %v, want exactly one", stationless)
	}
	found := false
	for _, g := range gaps {
		if g.Kind == devices.GapZoneWithoutStation && g.ID == stationless[0] {
			found = true
		}
		if g.ID == "" || g.Detail == "" {
			t.Errorf("gap %+v without id or detail", g)
		}
	}
	if !found {
		t.Errorf("Gaps() = %v, want a %s gap for %s", gaps, devices.GapZoneWithoutStation, stationless[0])
	}
}

// nearest returns the station nearest to p, computed here the long way.
func nearest(r *devices.Registry, p contract.Point) *devices.Station {
	var best *devices.Station
	bestD := math.Inf(1)
	for _, s := range r.Stations() {
		if d := devices.Distance(p, s.Location); d < bestD {
			best, bestD = s, d
		}
	}
	return best
}

func TestRoute(t *testing.T) {
	r := loadDemo(t)
	var stationless *devices.Area
	for _, z := range r.Areas(devices.LevelZone) {
		if z.Station == "" {
			stationless = z
		}
	}
	z01, _ := r.Area("Z-01")
	z05, _ := r.Area("Z-05")
	if z01 == nil || z05 == nil || stationless == nil {
		t.Fatal("demo lacks Z-01, Z-05 or a station-less zone")
	}
	// A point of the station-less zone near its western edge.
	sc := centre(t, stationless)
	westOfCentre := contract.Point{Lon: sc.Lon - 0.004, Lat: sc.Lat}

	for _, tc := range []struct {
		name        string
		p           contract.Point
		wantZone    string // "" = outside every zone
		wantStation string // "" = the nearest station, computed
	}{
		{"Z-01 centre, own station", centre(t, z01), "Z-01", z01.Station},
		{"Z-05 centre, own station", centre(t, z05), "Z-05", z05.Station},
		{"station-less zone centre", sc, stationless.ID, ""},
		{"station-less zone, west part", westOfCentre, stationless.ID, ""},
		{"east of the sub-district", contract.Point{Lon: 113.70, Lat: 34.72}, "", ""},
		{"far south", contract.Point{Lon: 113.64, Lat: 34.50}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zone, st := r.Route(tc.p)
			gotZone := ""
			if zone != nil {
				gotZone = zone.ID
			}
			if gotZone != tc.wantZone {
				t.Errorf("zone %q, want %q", gotZone, tc.wantZone)
			}
			want := tc.wantStation
			if want == "" {
				want = nearest(r, tc.p).ID
			}
			if st == nil || st.ID != want {
				t.Errorf("station %v, want %s", st, want)
			}
			if lz, ok := r.Locate(tc.p); ok != (tc.wantZone != "") || (ok && lz.ID != tc.wantZone) {
				t.Errorf("Locate = %v, %v; want zone %q", lz, ok, tc.wantZone)
			}
		})
	}
	if zs, _ := r.Route(centre(t, z01)); zs.Station == "" {
		t.Error("Z-01 should have a station")
	}
}

func TestNearestStationsAndNearby(t *testing.T) {
	r := loadDemo(t)
	p := contract.Point{Lon: 113.645, Lat: 34.72}
	ss := r.NearestStations(p)
	if len(ss) != len(r.Stations()) {
		t.Fatalf("NearestStations: %d stations, want %d", len(ss), len(r.Stations()))
	}
	for i := 1; i < len(ss); i++ {
		if devices.Distance(p, ss[i-1].Location) > devices.Distance(p, ss[i].Location) {
			t.Errorf("NearestStations not ordered by distance at %d", i)
		}
	}
	if ss[0] != nearest(r, p) {
		t.Errorf("NearestStations()[0] = %s, want %s", ss[0].ID, nearest(r, p).ID)
	}
	hy := r.Nearby(p, contract.KindHydrant, 3)
	if len(hy) != 3 {
		t.Fatalf("Nearby 3 hydrants: got %d", len(hy))
	}
	// No hydrant outside the three is nearer than the third.
	limit := devices.Distance(p, hy[2].Location)
	for _, d := range r.Devices(contract.KindHydrant) {
		if d.Kind != contract.KindHydrant {
			t.Fatalf("Devices(hydrant) returned %s", d.Kind)
		}
		if !slices.Contains(hy, d) && devices.Distance(p, d.Location) < limit {
			t.Errorf("hydrant %s is nearer than the third returned", d.ID)
		}
	}
	for _, d := range hy {
		if d.Kind != contract.KindHydrant {
			t.Errorf("Nearby(hydrant) returned a %s", d.Kind)
		}
	}
	if got := r.Nearby(p, contract.KindCharger, 100); len(got) != 5 {
		t.Errorf("Nearby 100 chargers: %d, want all 5", len(got))
	}
	if got := r.Nearby(p, contract.KindSmoke, 0); got != nil {
		t.Errorf("Nearby 0: %v, want nil", got)
	}
}

func TestLookups(t *testing.T) {
	r := loadDemo(t)
	d, ok := r.Device("SD-0001")
	if !ok || d.Kind != contract.KindSmoke || d.Site != "H-0001" {
		t.Fatalf("Device(SD-0001) = %+v, %v", d, ok)
	}
	s, ok := r.Site(d.Site)
	if !ok || d.Location != s.Location {
		t.Errorf("SD-0001 location %v, its site's %v", d.Location, s.Location)
	}
	if _, ok := r.Device("SD-9999"); ok {
		t.Error("Device(SD-9999) found")
	}
	if _, ok := r.Station("MFS-1"); !ok {
		t.Error("Station(MFS-1) not found")
	}
	if a, ok := r.Area("G-1"); !ok || a.Level != devices.LevelGrid {
		t.Errorf("Area(G-1) = %v, %v", a, ok)
	}
	// Chargers carry their own location, a few metres from the shed.
	for _, c := range r.Devices(contract.KindCharger) {
		s, _ := r.Site(c.Site)
		if dist := devices.Distance(c.Location, s.Location); dist == 0 || dist > 20 {
			t.Errorf("charger %s is %.1f m from its shed, want a few metres", c.ID, dist)
		}
	}
	// Returned slices are copies: changing one leaves the registry alone.
	all := r.Devices("")
	all[0] = nil
	if r.Devices("")[0] == nil {
		t.Error("Devices returns the registry's own slice")
	}
	if len(r.Areas("")) != len(r.Areas(devices.LevelGrid))+len(r.Areas(devices.LevelCommunity))+len(r.Areas(devices.LevelZone)) {
		t.Error(`Areas("") is not every area`)
	}
}

func TestConcurrentReads(t *testing.T) {
	r := loadDemo(t)
	sites := r.Sites()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s := sites[(g*131+i)%len(sites)]
				if _, st := r.Route(s.Location); st == nil {
					t.Error("no station")
					return
				}
				r.Nearby(s.Location, contract.KindHydrant, 2)
				r.SiteDevices(s.ID)
			}
		})
	}
	wg.Wait()
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b contract.Point
		want float64 // metres
		tol  float64 // relative
	}{
		{"one degree of latitude", contract.Point{Lon: 113.64, Lat: 34}, contract.Point{Lon: 113.64, Lat: 35}, 111195, 0.005},
		{"one degree of longitude on the equator", contract.Point{Lon: 0, Lat: 0}, contract.Point{Lon: 1, Lat: 0}, 111195, 0.005},
		// 1° of longitude at 34.72° N is cos(34.72°) × 111.195 km.
		{"one degree of longitude in Zhengzhou", contract.Point{Lon: 113, Lat: 34.72}, contract.Point{Lon: 114, Lat: 34.72}, 91380, 0.005},
		{"antipodes", contract.Point{Lon: 0, Lat: 0}, contract.Point{Lon: 180, Lat: 0}, math.Pi * devices.EarthRadius, 1e-9},
		{"same point", contract.Point{Lon: 113.64, Lat: 34.72}, contract.Point{Lon: 113.64, Lat: 34.72}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := devices.Distance(tc.a, tc.b)
			if math.Abs(got-tc.want) > tc.tol*tc.want+1e-6 {
				t.Errorf("Distance = %.1f m, want %.1f m ± %.1f%%", got, tc.want, tc.tol*100)
			}
			if back := devices.Distance(tc.b, tc.a); math.Abs(back-got) > 1e-6 {
				t.Errorf("not symmetric: %f and %f", got, back)
			}
		})
	}
}
