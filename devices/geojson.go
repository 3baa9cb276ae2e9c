package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"math"
	"slices"
	"strings"

	geom "github.com/twpayne/go-geom"
)

// rawFeature is one GeoJSON feature before its properties are checked.
type rawFeature struct {
	index int
	id    string
	props map[string]string
	// geometry, decoded: a multipolygon for areas, a point for stations.
	poly  *geom.MultiPolygon
	point contract.Point
}

// readFeatures parses a FeatureCollection. Properties must be strings (or
// null), and only the names in allowed may appear. geomTypes lists the
// accepted geometry types. Features with an error are returned in bad
// (only their index and id are meaningful) after the error is recorded.
func readFeatures(p *problems, file string, data []byte, allowed []string, geomTypes ...string) (good, bad []rawFeature, ok bool) {
	var fc struct {
		Type     *string           `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		addJSONError(p, file, data, err)
		return nil, nil, false
	}
	if fc.Type == nil || *fc.Type != "FeatureCollection" {
		got := "nothing"
		if fc.Type != nil {
			got = fmt.Sprintf("%q", *fc.Type)
		}
		p.add(&FieldError{File: file, Feature: -1, Field: "type", Msg: fmt.Sprintf("got %s, want \"FeatureCollection\"", got)})
		return nil, nil, false
	}
	for i, raw := range fc.Features {
		if f, fine := readFeature(p, file, i, raw, allowed, geomTypes); fine {
			good = append(good, f)
		} else {
			bad = append(bad, f)
		}
	}
	return good, bad, true
}

func readFeature(p *problems, file string, i int, raw json.RawMessage, allowed, geomTypes []string) (rawFeature, bool) {
	f := rawFeature{index: i, props: map[string]string{}}
	var rf struct {
		Type       string                     `json:"type"`
		Geometry   json.RawMessage            `json:"geometry"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		p.feature(file, i, "", "", "not a GeoJSON feature: %v", err)
		return f, false
	}
	// The id first, so every later message can name it.
	if v, ok := rf.Properties["id"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			f.id = strings.TrimSpace(s)
		}
	}
	ok := true
	if rf.Type != "Feature" {
		p.feature(file, i, f.id, "type", "got %q, want \"Feature\"", rf.Type)
		ok = false
	}
	keys := make([]string, 0, len(rf.Properties))
	for k := range rf.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			p.feature(file, i, f.id, "properties."+k, "unknown property (want %s)", strings.Join(allowed, ", "))
			continue
		}
		v := rf.Properties[k]
		if string(bytes.TrimSpace(v)) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			p.feature(file, i, f.id, "properties."+k, "got %s, want a string", v)
			ok = false
			continue
		}
		f.props[k] = strings.TrimSpace(s)
	}
	if !readGeometry(p, file, &f, rf.Geometry, geomTypes) {
		ok = false
	}
	return f, ok
}

// readGeometry decodes and checks a feature's geometry into f.
func readGeometry(p *problems, file string, f *rawFeature, raw json.RawMessage, types []string) bool {
	want := strings.Join(types, " or ")
	bad := func(format string, args ...any) bool {
		p.feature(file, f.index, f.id, "geometry", format, args...)
		return false
	}
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return bad("missing (want a %s)", want)
	}
	var g struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return bad("not a GeoJSON geometry: %v", err)
	}
	if !slices.Contains(types, g.Type) {
		return bad("type %q not accepted here (want %s)", g.Type, want)
	}
	switch g.Type {
	case "Point":
		var c []float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return bad("coordinates: want [lon, lat]: %v", err)
		}
		pt, msg := position(c)
		if msg != "" {
			return bad("coordinates: %s", msg)
		}
		f.point = pt
		return true
	case "Polygon":
		var c [][][]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return bad("coordinates: want an array of rings of [lon, lat] positions: %v", err)
		}
		return buildMultiPolygon(f, [][][][]float64{c}, bad)
	case "MultiPolygon":
		var c [][][][]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return bad("coordinates: want an array of polygons: %v", err)
		}
		return buildMultiPolygon(f, c, bad)
	}
	return bad("type %q not accepted here (want %s)", g.Type, want)
}

// position checks one GeoJSON position (altitude, if any, is dropped).
func position(c []float64) (contract.Point, string) {
	if len(c) < 2 || len(c) > 3 {
		return contract.Point{}, fmt.Sprintf("position %v: want [lon, lat]", c)
	}
	pt := contract.Point{Lon: c[0], Lat: c[1]}
	if !validPoint(pt) {
		return pt, fmt.Sprintf("position [%v, %v] out of range (want lon -180..180, lat -90..90)", c[0], c[1])
	}
	return pt, ""
}

func buildMultiPolygon(f *rawFeature, polys [][][][]float64, bad func(string, ...any) bool) bool {
	if len(polys) == 0 {
		return bad("no polygon")
	}
	var ends [][]int
	var flat []float64
	for pi, rings := range polys {
		if len(rings) == 0 {
			return bad("polygon %d has no ring", pi)
		}
		var pe []int
		for ri, ring := range rings {
			if len(ring) < 4 {
				return bad("polygon %d ring %d has %d positions (want at least 4, the last equal to the first)", pi, ri, len(ring))
			}
			for _, c := range ring {
				pt, msg := position(c)
				if msg != "" {
					return bad("polygon %d ring %d: %s", pi, ri, msg)
				}
				flat = append(flat, pt.Lon, pt.Lat)
			}
			first, last := ring[0], ring[len(ring)-1]
			if first[0] != last[0] || first[1] != last[1] {
				return bad("polygon %d ring %d is not closed (the last position must equal the first)", pi, ri)
			}
			if ringArea(flat[len(flat)-2*len(ring):]) == 0 {
				return bad("polygon %d ring %d has no area", pi, ri)
			}
			pe = append(pe, len(flat))
		}
		ends = append(ends, pe)
	}
	f.poly = geom.NewMultiPolygonFlat(geom.XY, flat, ends)
	return true
}

// ringArea is the absolute planar area of a closed flat XY ring, in square
// degrees; only its being zero matters.
func ringArea(flat []float64) float64 {
	var s float64
	for i := 0; i+3 < len(flat); i += 2 {
		s += flat[i]*flat[i+3] - flat[i+2]*flat[i+1]
	}
	return math.Abs(s) / 2
}

// addJSONError records a JSON decoding error with its line and column.
func addJSONError(p *problems, file string, data []byte, err error) {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		p.file(file, "not valid GeoJSON: %v", err)
		return
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	p.add(&FieldError{File: file, Line: line, Column: col, Feature: -1, Msg: "not valid GeoJSON: " + err.Error()})
}
