package devices

import (
	"fmt"
	"strings"
)

// A FieldError is one problem found while loading a registry. It names the
// file, the place in it (a CSV line or a GeoJSON feature) and the field, and
// says what was expected. Load and LoadFS return every FieldError they find,
// joined with errors.Join; use errors.As to reach them.
type FieldError struct {
	// File is the file's name as the user knows it: for Load,
	// filepath.Join(dir, file); for LoadFS, the path inside the fs.FS.
	File string
	// Line is the CSV line, 1-based, the header being line 1; 0 when the
	// problem is not on a CSV row.
	Line int
	// Column is the 1-based column of a JSON syntax error; 0 otherwise.
	Column int
	// Feature is the 0-based index of a GeoJSON feature (features[i]);
	// -1 when the problem is not in a feature.
	Feature int
	// ID is the id of the feature, when it has one.
	ID string
	// Field is the CSV column, or the GeoJSON member ("geometry", "type")
	// or property ("properties.parent"); empty for a whole-row or
	// whole-file problem.
	Field string
	// Msg says what is wrong and what was expected.
	Msg string
}

// Error formats the problem as
//
//	configs/demo/devices.csv:17: field "kind": unknown device kind "smok" (want smoke, hydrant, charger, electrical, gas, button or camera)
//	configs/demo/grid.geojson: feature 4 (id "Z-07"): property "parent": community "C-9" is not defined
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Feature >= 0 {
		fmt.Fprintf(&b, "feature %d", e.Feature)
		if e.ID != "" {
			fmt.Fprintf(&b, " (id %q)", e.ID)
		}
		b.WriteString(": ")
	}
	switch {
	case e.Field == "":
	case strings.HasPrefix(e.Field, "properties."):
		fmt.Fprintf(&b, "property %q: ", strings.TrimPrefix(e.Field, "properties."))
	case strings.HasSuffix(e.File, ".geojson"):
		fmt.Fprintf(&b, "%s: ", e.Field)
	default:
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects FieldErrors while a registry loads.
type problems struct {
	list []error
}

func (p *problems) add(e *FieldError) { p.list = append(p.list, e) }

// at starts an error on a CSV line.
func (p *problems) line(file string, line int, field, format string, args ...any) {
	p.add(&FieldError{File: file, Line: line, Feature: -1, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// feature records an error on a GeoJSON feature.
func (p *problems) feature(file string, index int, id, field, format string, args ...any) {
	p.add(&FieldError{File: file, Feature: index, ID: id, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// file records an error about a whole file.
func (p *problems) file(file, format string, args ...any) {
	p.add(&FieldError{File: file, Feature: -1, Msg: fmt.Sprintf(format, args...)})
}
