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

	"github.com/firegrid/firegrid/internal/conf"
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
	p.read(file, data)
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
		p.member(file, "type", "got %s, want \"FeatureCollection\"", got)
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
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			want := map[string]string{"": "a Feature object", "type": `"Feature"`, "properties": "an object of string properties"}[te.Field]
			p.feature(file, i, "", te.Field, "got a JSON %s, want %s", te.Value, want)
		} else {
			p.feature(file, i, "", "", "not a GeoJSON feature: %v", err)
		}
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
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return bad("got a JSON %s, want a geometry object", te.Value)
		}
		if errors.As(err, &te) && te.Field == "type" {
			return bad("type: got a JSON %s, want %s", te.Value, want)
		}
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

// addJSONError records an error of decoding a GeoJSON file's top level,
// placed at its offset.
func addJSONError(p *problems, file string, data []byte, err error) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included.
		line, col := conf.Position(data, int(se.Offset)-1)
		p.add(&conf.Error{File: file, Line: line, Column: col, Msg: "not valid GeoJSON: " + err.Error()})
	case errors.As(err, &te):
		want := map[string]string{"": "a FeatureCollection object", "type": `"FeatureCollection"`, "features": "an array of features"}[te.Field]
		if want == "" {
			want = "something else"
		}
		p.member(file, te.Field, "got a JSON %s, want %s", te.Value, want)
	default:
		p.file(file, "not valid GeoJSON: %v", err)
	}
}

// featureOffsets returns the offset of each element of the features array
// of a GeoJSON object, as json.Unmarshal would take it (the last member
// whose name matches, in any case); nil when there is none.
func featureOffsets(data []byte) []int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var offs []int
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return offs
		}
		key, _ := k.(string)
		start := tokenStart(data, dec.InputOffset())
		if !strings.EqualFold(key, "features") || start >= len(data) || data[start] != '[' {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return offs
			}
			continue
		}
		if _, err := dec.Token(); err != nil {
			return offs
		}
		offs = offs[:0]
		for dec.More() {
			offs = append(offs, tokenStart(data, dec.InputOffset()))
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return offs
			}
		}
		if _, err := dec.Token(); err != nil {
			return offs
		}
	}
	return offs
}

// memberOffset returns the offset, in data (a JSON value), of the key of
// the member that path names, object in object. When the path is not all
// there, it is the offset of the deepest key that is; with none, of the
// value itself.
func memberOffset(data []byte, path []string) int {
	val := tokenStart(data, 0)
	at := val
	for _, name := range path {
		if val >= len(data) || data[val] != '{' {
			return at
		}
		key, next, ok := findMember(data, val, name)
		if !ok {
			return at
		}
		at, val = key, next
	}
	return at
}

// findMember finds member name of the object at data[obj:], matching as
// json.Unmarshal does (exactly, else in any case; the last of several),
// and returns the offsets of its key and value.
func findMember(data []byte, obj int, name string) (key, val int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data[obj:]))
	if _, err := dec.Token(); err != nil {
		return 0, 0, false
	}
	exact, folded := [2]int{-1, -1}, [2]int{-1, -1}
	for dec.More() {
		k := obj + tokenStart(data[obj:], dec.InputOffset())
		t, err := dec.Token()
		if err != nil {
			break
		}
		v := obj + tokenStart(data[obj:], dec.InputOffset())
		switch s, _ := t.(string); {
		case s == name:
			exact = [2]int{k, v}
		case strings.EqualFold(s, name):
			folded = [2]int{k, v}
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			break
		}
	}
	switch {
	case exact[0] >= 0:
		return exact[0], exact[1], true
	case folded[0] >= 0:
		return folded[0], folded[1], true
	}
	return 0, 0, false
}

// tokenStart skips the white space and separators from off to the next
// JSON token.
func tokenStart(data []byte, off int64) int {
	i := int(off)
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
		default:
			return i
		}
	}
	return i
}
