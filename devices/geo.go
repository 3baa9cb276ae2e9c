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
