package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// fleet writes a territory of 10,000 devices: 9,000 smoke detectors in
// 8,000 households (1,000 with a kitchen detector too), 500 hydrants and
// 500 ten-port chargers, each in its charging shed.
func fleet(b *testing.B) *devices.Registry {
	b.Helper()
	dir := b.TempDir()
	poly := `[[[113.60, 34.70], [113.70, 34.70], [113.70, 34.76], [113.60, 34.76], [113.60, 34.70]]]`
	grid := `{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"id": "G-1", "name": "G", "level": "grid"}, "geometry": {"type": "Polygon", "coordinates": ` + poly + `}},
 {"type": "Feature", "properties": {"id": "C-1", "name": "C", "level": "community", "parent": "G-1"}, "geometry": {"type": "Polygon", "coordinates": ` + poly + `}},
 {"type": "Feature", "properties": {"id": "Z-1", "name": "Z", "level": "zone", "parent": "C-1", "station": "MFS-1"}, "geometry": {"type": "Polygon", "coordinates": ` + poly + `}}]}`
	stations := `{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"id": "MFS-1", "name": "S", "phone": "13800000000", "community": "C-1"}, "geometry": {"type": "Point", "coordinates": [113.65, 34.73]}}]}`
	var sites, devs strings.Builder
	sites.WriteString("id,type,name,address,lon,lat\n")
	devs.WriteString("id,kind,site,lon,lat,model,ports\n")
	at := func(i int) (float64, float64) { return 113.61 + float64(i%300)*0.0003, 34.71 + float64(i/300)*0.0003 }
	for i := 0; i < 8000; i++ {
		lon, lat := at(i)
		fmt.Fprintf(&sites, "H-%05d,household,h,a,%f,%f\n", i, lon, lat)
		fmt.Fprintf(&devs, "SD-%05d,smoke,H-%05d,,,m,\n", i, i)
		if i < 1000 {
			fmt.Fprintf(&devs, "SD-K%04d,smoke,H-%05d,,,m,\n", i, i)
		}
	}
	for i := 0; i < 500; i++ {
		lon, lat := at(8000 + i)
		fmt.Fprintf(&sites, "HYD-%03d,hydrant,y,a,%f,%f\n", i, lon, lat)
		fmt.Fprintf(&devs, "HY-%03d,hydrant,HYD-%03d,,,m,\n", i, i)
		lon, lat = at(8500 + i)
		fmt.Fprintf(&sites, "SHED-%03d,charging_shed,s,a,%f,%f\n", i, lon, lat)
		fmt.Fprintf(&devs, "CH-%03d,charger,SHED-%03d,,,m,10\n", i, i)
	}
	for name, body := range map[string]string{"grid.geojson": grid, "stations.geojson": stations, "sites.csv": sites.String(), "devices.csv": devs.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	reg, err := devices.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(reg.Devices("")); n != 10000 {
		b.Fatalf("%d devices", n)
	}
	return reg
}

func reading(reg *devices.Registry, m contract.Message) *contract.Reading {
	d, _ := reg.Device(m.Device)
	return &contract.Reading{ID: fmt.Sprintf("%s/%s/%d", m.Kind, m.Device, m.Seq), Message: m, Site: d.Site,
		Zone: d.Zone(), Community: d.Community(), Station: d.Station(), Location: d.Location}
}

// mix is a realistic stream: mostly heartbeats and telemetry, a few alarms
// (one message in a thousand).
func mix(reg *devices.Registry) []*contract.Reading {
	var out []*contract.Reading
	smoke := reg.Devices(contract.KindSmoke)
	hyd := reg.Devices(contract.KindHydrant)
	ch := reg.Devices(contract.KindCharger)
	ports := make([]contract.Port, 10)
	for p := range ports {
		ports[p] = simulator.ChargerPort(p+1, 2, 35)
	}
	for i := 0; i < 20000; i++ {
		var m contract.Message
		switch {
		case i%1000 == 999:
			m = simulator.SmokeAlarm(smoke[i%len(smoke)].ID)
		case i%20 == 0:
			m = simulator.HydrantTelemetry(hyd[i%len(hyd)].ID, 0.30)
		case i%25 == 1:
			m = simulator.ChargerTelemetry(ch[i%len(ch)].ID, ports...)
		default:
			m = simulator.SmokeHeartbeat(smoke[i%len(smoke)].ID)
		}
		out = append(out, reading(reg, m))
	}
	return out
}

// BenchmarkEvaluate runs the engine with the shipped rules over 10,000
// devices. Each reading is re-stamped newer on every pass, as a live
// stream would be: a single device reports every 30 s; the mix is the
// fleet's rate (10,000 devices beating once a minute: one message every
// 6 ms).
func BenchmarkEvaluate(b *testing.B) {
	reg := fleet(b)
	cfg, err := Parse("rules.yaml", shippedRules(b))
	if err != nil {
		b.Fatal(err)
	}
	ports := make([]contract.Port, 10)
	for p := range ports {
		ports[p] = simulator.ChargerPort(p+1, 2, 35)
	}
	sets := []struct {
		name  string
		rs    []*contract.Reading
		every time.Duration
	}{
		{"heartbeat", []*contract.Reading{reading(reg, simulator.SmokeHeartbeat("SD-00042"))}, 30 * time.Second},
		{"hydrant-telemetry", []*contract.Reading{reading(reg, simulator.HydrantTelemetry("HY-042", 0.30))}, 30 * time.Second},
		{"charger-telemetry-10-ports", []*contract.Reading{reading(reg, simulator.ChargerTelemetry("CH-042", ports...))}, 30 * time.Second},
		{"mix", mix(reg), 6 * time.Millisecond},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			e := NewEngine(cfg, reg, t0)
			out := make([]contract.Signal, 0, 16)
			i := 0
			step := func() {
				r := set.rs[i%len(set.rs)]
				at := t0.Add(time.Duration(i) * set.every)
				r.TS, r.ReceivedAt, r.Seq = at, at, uint64(i+1)
				out = e.Evaluate(r, out[:0])
				i++
			}
			for range len(set.rs) { // warm: every device's state exists
				step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				step()
			}
		})
	}
}

// BenchmarkTick is the 200 ms tick over 10,000 watched devices when
// nothing is due: it must not scan the fleet.
func BenchmarkTick(b *testing.B) {
	reg := fleet(b)
	cfg, _ := Parse("rules.yaml", shippedRules(b))
	e := NewEngine(cfg, reg, t0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		e.Tick(t0.Add(time.Duration(i)*time.Microsecond), nil)
		i++
	}
}
