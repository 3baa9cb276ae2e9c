package devices

import (
	"cmp"
	"github.com/firegrid/firegrid/contract"
	"slices"

	geom "github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/xy/location"
)

// Registry is a loaded territory: areas, stations, sites with their
// residents, and devices, indexed for the look-ups the pipeline makes on
// every message. It is immutable after Load and safe for concurrent reads.
// The pointers it hands out point into the registry: callers must treat
// them as read-only. The slices it returns are fresh copies.
type Registry struct {
	devices  map[string]*Device
	sites    map[string]*Site
	stations map[string]*Station
	areas    map[string]*Area

	allDevices  []*Device // sorted by id
	byKind      map[contract.Kind][]*Device
	siteList    []*Site
	stationList []*Station
	byLevel     map[Level][]*Area
	siteDevices map[string][]*Device
	// byAddress finds a device by a field network's address (addresses.go);
	// units lists the devices behind each GB/T 26875.3 transmission unit.
	byAddress map[string]*Device
	units     map[string][]*Device

	zones *zoneGrid
	gaps  []Gap
}

// zoneIndex is a zone with its bounding box, for point-in-polygon.
type zoneIndex struct {
	area *Area
	box  bbox
}

// Device returns the device with the given id.
func (r *Registry) Device(id string) (*Device, bool) {
	d, ok := r.devices[id]
	return d, ok
}

// Site returns the site with the given id.
func (r *Registry) Site(id string) (*Site, bool) {
	s, ok := r.sites[id]
	return s, ok
}

// Station returns the micro fire station with the given id.
func (r *Registry) Station(id string) (*Station, bool) {
	s, ok := r.stations[id]
	return s, ok
}

// Area returns the area (grid, community or zone) with the given id.
func (r *Registry) Area(id string) (*Area, bool) {
	a, ok := r.areas[id]
	return a, ok
}

// NextUp returns the nearest area above the given one (a zone's community,
// then the sub-district above it) that is not among skip: who supervises
// next when a deadline up the grid is missed. Nil when none is left.
func (r *Registry) NextUp(area string, skip []string) *Area {
	a, ok := r.Area(area)
	for n := 0; ok && a.Parent != "" && n < 4; n++ {
		if a, ok = r.Area(a.Parent); ok && !slices.Contains(skip, a.ID) {
			return a
		}
	}
	return nil
}

// Devices returns the devices of the given kind, or all devices when kind
// is empty, sorted by id.
func (r *Registry) Devices(kind contract.Kind) []*Device {
	if kind == "" {
		return slices.Clone(r.allDevices)
	}
	return slices.Clone(r.byKind[kind])
}

// Sites returns every site sorted by id.
func (r *Registry) Sites() []*Site { return slices.Clone(r.siteList) }

// Stations returns every micro fire station sorted by id.
func (r *Registry) Stations() []*Station { return slices.Clone(r.stationList) }

// Areas returns the areas of the given level, or all areas when level is
// empty, sorted by id.
func (r *Registry) Areas(level Level) []*Area {
	if level == "" {
		all := make([]*Area, 0, len(r.areas))
		for _, l := range []Level{LevelGrid, LevelCommunity, LevelZone} {
			all = append(all, r.byLevel[l]...)
		}
		slices.SortFunc(all, func(a, b *Area) int { return cmp.Compare(a.ID, b.ID) })
		return all
	}
	return slices.Clone(r.byLevel[level])
}

// SiteDevices returns the devices installed at the site, sorted by id.
func (r *Registry) SiteDevices(site string) []*Device {
	return slices.Clone(r.siteDevices[site])
}

// Locate returns the responsibility zone containing p. A point on a zone's
// boundary is in the zone; where zones touch, the zone with the smallest id
// wins.
func (r *Registry) Locate(p contract.Point) (zone *Area, ok bool) {
	var edge, in *Area
	xy := [2]float64{p.Lon, p.Lat}
	c := geom.Coord(xy[:])
	r.zones.candidates(p, func(z *zoneIndex) bool {
		switch locateCoord(z.area.Polygon, c) {
		case location.Interior:
			in = z.area
			return false
		case location.Boundary:
			if edge == nil {
				edge = z.area
			}
		}
		return true
	})
	if in != nil {
		return in, true
	}
	return edge, edge != nil
}

// Route returns the zone containing p and the micro fire station that
// answers there: the zone's own station, or, when the zone has none or no
// zone contains p, the station nearest to p by great-circle distance. zone
// is nil outside every zone; station is nil only when the registry has no
// station at all.
func (r *Registry) Route(p contract.Point) (zone *Area, station *Station) {
	zone, _ = r.Locate(p)
	if zone != nil && zone.Station != "" {
		if s, ok := r.stations[zone.Station]; ok {
			return zone, s
		}
	}
	best := -1.0
	for _, s := range r.stationList {
		if d := Distance(p, s.Location); best < 0 || d < best {
			best, station = d, s
		}
	}
	return zone, station
}

// NearestStations returns every station ordered by distance from p,
// nearest first (ties by id): the escalation order when a station does
// not acknowledge.
func (r *Registry) NearestStations(p contract.Point) []*Station {
	return byDistance(r.stationList, p, len(r.stationList), func(s *Station) contract.Point { return s.Location })
}

// Nearby returns the n devices of the given kind nearest to p (all kinds
// when kind is empty), nearest first, ties by id; for example the hydrants
// near a fire. It returns fewer when the registry has fewer.
func (r *Registry) Nearby(p contract.Point, kind contract.Kind, n int) []*Device {
	list := r.allDevices
	if kind != "" {
		list = r.byKind[kind]
	}
	return byDistance(list, p, n, func(d *Device) contract.Point { return d.Location })
}

// byDistance returns the n items of list nearest to p. list is sorted by
// id, and the sort is stable, so ties keep id order.
func byDistance[T any](list []T, p contract.Point, n int, at func(T) contract.Point) []T {
	if n <= 0 || len(list) == 0 {
		return nil
	}
	type ranked struct {
		item T
		d    float64
	}
	rs := make([]ranked, len(list))
	for i, it := range list {
		rs[i] = ranked{it, Distance(p, at(it))}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(a.d, b.d) })
	n = min(n, len(rs))
	out := make([]T, n)
	for i := range out {
		out[i] = rs[i].item
	}
	return out
}
