package devices

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/firegrid/firegrid/internal/conf"
)

// problems collects the errors of one load, each a *conf.Error naming the
// file and the place in it:
//
//   - in a CSV file, the line and column of the field's value (the header
//     being line 1), Field being the CSV column's name:
//     configs/demo/devices.csv:17:9: kind: unknown device kind "smok" (want smoke, hydrant, charger, electrical, gas, button or camera)
//   - in a GeoJSON file, the line and column of the member's key, Field
//     its path from the top of the file and ID the feature's id:
//     configs/demo/grid.geojson:41:9: features.4.properties.parent (id "Z-07"): community "C-9" is not defined
type problems struct {
	list []*conf.Error
	// src holds each file's content, read or parsed, so that a problem
	// can be placed in it.
	src map[string]*source
}

// source is a file the problems are placed in.
type source struct {
	data  []byte
	lines *conf.LineIndex // made when first needed
	// csv is the table of a CSV file, once read: its rows know where
	// they start.
	csv *csvTable
	// features are the offsets of a GeoJSON file's features, found when
	// first needed.
	features    []int
	featuresSet bool
}

func (s *source) index() *conf.LineIndex {
	if s.lines == nil {
		s.lines = conf.NewLineIndex(s.data)
	}
	return s.lines
}

// read records the content of file, for placing its problems.
func (p *problems) read(file string, data []byte) *source {
	if p.src == nil {
		p.src = map[string]*source{}
	}
	s := &source{data: data}
	p.src[file] = s
	return s
}

func (p *problems) add(e *conf.Error) { p.list = append(p.list, e) }

// err returns the problems joined, or nil.
func (p *problems) err() error { return conf.Join(p.list...) }

// line records an error about field (a column's name; "" for the whole
// row) on a CSV line, placed at the field's value when the row has it.
func (p *problems) line(file string, line int, field, format string, args ...any) {
	e := &conf.Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	if s := p.src[file]; s != nil && s.csv != nil && field != "" {
		col, _, _ := strings.Cut(field, ",") // lon,lat is placed at lon
		if l, c := s.csv.pos(s, line, col); l > 0 {
			e.Line, e.Column = l, c
		}
	}
	p.add(e)
}

// at records an error at a known place: line and byte column (1-based)
// of a CSV file.
func (p *problems) at(file string, line, byteCol int, field, format string, args ...any) {
	e := &conf.Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	if s := p.src[file]; s != nil && line > 0 && byteCol > 0 {
		e.Column = s.index().LinePos(line, byteCol)
	}
	p.add(e)
}

// feature records an error about a GeoJSON feature (features[index]);
// field is the member ("geometry", "type") or property
// ("properties.parent") at fault, "" for the whole feature.
func (p *problems) feature(file string, index int, id, field, format string, args ...any) {
	path := "features." + strconv.Itoa(index)
	if field != "" {
		path += "." + field
	}
	e := &conf.Error{File: file, Field: path, ID: id, Msg: fmt.Sprintf(format, args...)}
	if s := p.src[file]; s != nil {
		if off, ok := s.featureOffset(index); ok {
			off += memberOffset(s.data[off:], conf.Path(field))
			e.Line, e.Column = s.index().Pos(off)
		}
	}
	p.add(e)
}

// member records an error about a member of a GeoJSON file's top object
// ("type"; "" for the whole file).
func (p *problems) member(file, field, format string, args ...any) {
	e := &conf.Error{File: file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if s := p.src[file]; s != nil && len(bytes.TrimSpace(s.data)) > 0 {
		e.Line, e.Column = s.index().Pos(memberOffset(s.data, conf.Path(field)))
	}
	p.add(e)
}

// file records an error about a whole file.
func (p *problems) file(file, format string, args ...any) {
	p.add(&conf.Error{File: file, Msg: fmt.Sprintf(format, args...)})
}

// featureOffset is the offset of features[index] in a GeoJSON file.
func (s *source) featureOffset(index int) (int, bool) {
	if !s.featuresSet {
		s.features, s.featuresSet = featureOffsets(s.data), true
	}
	if index < 0 || index >= len(s.features) {
		return 0, false
	}
	return s.features[index], true
}

// pos returns the line and column of column col's value on the row
// starting on line; 0, 0 when there is no such row or column.
func (t *csvTable) pos(s *source, line int, col string) (int, int) {
	i, ok := t.cols[col]
	if !ok {
		return 0, 0
	}
	k := sort.Search(len(t.rows), func(k int) bool { return t.rows[k].line >= line })
	if k == len(t.rows) || t.rows[k].line != line {
		return 0, 0
	}
	// Read the row again to learn where its fields are: csv.Reader
	// tells only for the record just read.
	off := t.rows[k].off
	r := csv.NewReader(bytes.NewReader(s.data[off:]))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil || i >= len(rec) {
		return 0, 0
	}
	l, c := r.FieldPos(i)
	base, _ := s.index().Pos(int(off))
	return base + l - 1, s.index().LinePos(base+l-1, c)
}
