package devices

import (
	"github.com/firegrid/firegrid/contract"
	"math"

	geom "github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/xy"
	"github.com/twpayne/go-geom/xy/location"
)

// EarthRadius is the mean Earth radius in metres (IUGG R1) that Distance uses.
const EarthRadius = 6371008.8

// Distance returns the great-circle distance in metres between a and b, by
// the haversine formula on a sphere of radius EarthRadius.
func Distance(a, b contract.Point) float64 {
	const rad = math.Pi / 180
	lat1, lat2 := a.Lat*rad, b.Lat*rad
	dLat := lat2 - lat1
	dLon := (b.Lon - a.Lon) * rad
	s1 := math.Sin(dLat / 2)
	s2 := math.Sin(dLon / 2)
	h := s1*s1 + math.Cos(lat1)*math.Cos(lat2)*s2*s2
	if h > 1 {
		h = 1
	}
	return 2 * EarthRadius * math.Asin(math.Sqrt(h))
}

// validPoint reports whether p is a WGS 84 position.
func validPoint(p contract.Point) bool {
	return p.Lon >= -180 && p.Lon <= 180 && p.Lat >= -90 && p.Lat <= 90 &&
		!math.IsNaN(p.Lon) && !math.IsNaN(p.Lat)
}

// locate says where p lies relative to mp: in the interior, on the boundary
// or outside. A point on the boundary of a hole is on the boundary.
func locate(mp *geom.MultiPolygon, p contract.Point) location.Type {
	return locateCoord(mp, geom.Coord{p.Lon, p.Lat})
}

// locateCoord is locate for a point already made a geom.Coord, so that a
// caller testing several polygons allocates it once.
func locateCoord(mp *geom.MultiPolygon, c geom.Coord) location.Type {
	// Work on the flat coordinates: mp.Polygon(i) would allocate.
	layout, flat := mp.Layout(), mp.FlatCoords()
	best := location.Exterior
	offset := 0
	for _, ends := range mp.Endss() {
		loc := location.Exterior
		for j, end := range ends {
			ring := flat[offset:end]
			offset = end
			if j == 0 {
				loc = xy.LocatePointInRing(layout, c, ring)
				continue
			}
			if loc == location.Exterior {
				continue // outside the shell: holes do not matter
			}
			switch xy.LocatePointInRing(layout, c, ring) {
			case location.Interior:
				loc = location.Exterior // in a hole
			case location.Boundary:
				loc = location.Boundary
			}
		}
		if loc == location.Interior {
			return location.Interior
		}
		if loc == location.Boundary {
			best = location.Boundary
		}
	}
	return best
}

// bbox is a longitude/latitude bounding box used to skip polygons quickly.
type bbox struct{ minLon, minLat, maxLon, maxLat float64 }

func boundsOf(mp *geom.MultiPolygon) bbox {
	b := mp.Bounds()
	return bbox{b.Min(0), b.Min(1), b.Max(0), b.Max(1)}
}

func (b bbox) contains(p contract.Point) bool {
	return p.Lon >= b.minLon && p.Lon <= b.maxLon && p.Lat >= b.minLat && p.Lat <= b.maxLat
}

// centroid returns the area's centroid (planar, in degrees).
func centroid(a *Area) contract.Point {
	c := xy.MultiPolygonCentroid(a.Polygon)
	return contract.Point{Lon: c.X(), Lat: c.Y()}
}

func (b bbox) overlaps(o bbox) bool {
	return b.minLon < o.maxLon && o.minLon < b.maxLon && b.minLat < o.maxLat && o.minLat < b.maxLat
}

// zoneGrid finds the zones whose bounding box holds a point without
// looking at every zone: a uniform grid over the zones' extent, each cell
// listing the zones (by index, in id order) whose box meets it. A city of
// thousands of zones places each of hundreds of thousands of sites in a
// handful of polygon tests.
type zoneGrid struct {
	zones            []zoneIndex // sorted by zone id
	minLon, minLat   float64
	cellLon, cellLat float64
	nx, ny           int
	cells            [][]int32
}

func newZoneGrid(zones []zoneIndex) *zoneGrid {
	g := &zoneGrid{zones: zones}
	if len(zones) == 0 {
		return g
	}
	ext := zones[0].box
	for _, z := range zones[1:] {
		ext.minLon, ext.minLat = min(ext.minLon, z.box.minLon), min(ext.minLat, z.box.minLat)
		ext.maxLon, ext.maxLat = max(ext.maxLon, z.box.maxLon), max(ext.maxLat, z.box.maxLat)
	}
	// About one zone a cell.
	side := int(math.Ceil(math.Sqrt(float64(len(zones)))))
	g.nx, g.ny = side, side
	g.minLon, g.minLat = ext.minLon, ext.minLat
	g.cellLon = max((ext.maxLon-ext.minLon)/float64(g.nx), 1e-9)
	g.cellLat = max((ext.maxLat-ext.minLat)/float64(g.ny), 1e-9)
	g.cells = make([][]int32, g.nx*g.ny)
	for i, z := range zones {
		x0, y0 := g.cell(z.box.minLon, z.box.minLat)
		x1, y1 := g.cell(z.box.maxLon, z.box.maxLat)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				g.cells[y*g.nx+x] = append(g.cells[y*g.nx+x], int32(i))
			}
		}
	}
	return g
}

// cell returns the cell holding a point, clamped to the grid.
func (g *zoneGrid) cell(lon, lat float64) (int, int) {
	x := int((lon - g.minLon) / g.cellLon)
	y := int((lat - g.minLat) / g.cellLat)
	return min(max(x, 0), g.nx-1), min(max(y, 0), g.ny-1)
}

// candidates calls f, in zone id order, with each zone whose box holds p,
// until f returns false.
func (g *zoneGrid) candidates(p contract.Point, f func(z *zoneIndex) bool) {
	if len(g.cells) == 0 {
		return
	}
	x, y := g.cell(p.Lon, p.Lat)
	for _, i := range g.cells[y*g.nx+x] {
		if z := &g.zones[i]; z.box.contains(p) && !f(z) {
			return
		}
	}
}
