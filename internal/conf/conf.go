// Package conf decodes firegrid's configuration files strictly and reports
// what is wrong with them in one form, *Error: the file, the line and
// column, the dotted path of the field, and what was expected. Every loader
// of a configuration file (firegrid.yaml, the rules, the users, scenarios,
// the registry) returns its problems as *Error values joined with
// errors.Join; Errors gets them back.
package conf

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// An Error is one problem in a configuration file. Its text reads
//
//	file:line:column: field (id "x"): message
//
// for instance
//
//	configs/firegrid.yaml:12:7: dispatch.timers.0.ack: -1s: want a positive duration or 0 for none
//	configs/demo/grid.geojson:41:9: features.4.properties.parent (id "Z-07"): community "C-9" is not defined
//	configs/demo/devices.csv:17:9: kind: unknown device kind "smok" (want smoke, hydrant or charger)
//
// The column is left out when it is unknown, the line and column when the
// line is; the field when the problem is the whole file's (a syntax error),
// the id when the field goes through no item with one. The text is always
// one line: a field holding control characters is quoted, and line breaks
// in the message are escaped.
type Error struct {
	// File is the file's name as the user knows it: the path given to the
	// loader, or a registry file's name.
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Column is 1-based and counted in characters; 0 when unknown.
	//
	// In YAML files, Line and Column are those of the key the field names,
	// or of the list item when the field ends in an index; a value of the
	// wrong type is placed at the value. In GeoJSON files they are those of
	// the member's key (or of the feature); in CSV files, of the field's
	// value on its row, or of the column's name in the header.
	Column int
	// Field is the dotted path of the field at fault from the top of the
	// file, list items by their index: "dispatch.timers.0.ack",
	// "rules.3.above", "steps.2.telemetry.ports.0.port",
	// "features.4.properties.parent". For a CSV file it is the column's
	// name ("kind"). Empty when the problem is not one field's.
	Field string
	// ID is the id of the list item Field goes through, when it has one (a
	// rule's id, a GeoJSON feature's id), so the item can be found by name
	// as well as by index. It is printed after the field: features.4.name
	// (id "Z-07").
	ID string
	// Msg says what is wrong and what was expected.
	Msg string
}

// Error formats the problem as file:line:column: field (id "x"): message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	if e.Field != "" || e.ID != "" {
		sep()
		if strings.ContainsFunc(e.Field, unicode.IsControl) {
			b.WriteString(strconv.Quote(e.Field))
		} else {
			b.WriteString(e.Field)
		}
		if e.ID != "" {
			if e.Field != "" {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "(id %q)", e.ID)
		}
	}
	sep()
	b.WriteString(lineBreaks.Replace(e.Msg))
	return b.String()
}

var lineBreaks = strings.NewReplacer("\r\n", `\r\n`, "\n", `\n`, "\r", `\r`)

// Errors returns the *Error values in err, which may be one *Error or
// several joined with errors.Join (at any depth), in order. Errors that are
// not an *Error are left out; nil gives nil.
func Errors(err error) []*Error {
	var out []*Error
	for _, e := range Unwrap(err) {
		var ce *Error
		if errors.As(e, &ce) {
			out = append(out, ce)
		}
	}
	return out
}

// Join joins errs with errors.Join; nil when there are none.
func Join(errs ...*Error) error {
	if len(errs) == 0 {
		return nil
	}
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return errors.Join(list...)
}

// Sort orders errs of one file by line, then column; problems at the same
// place keep their order. Problems without a line come first.
func Sort(errs []*Error) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// Unwrap flattens errors joined with errors.Join; nil gives nil.
func Unwrap(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Unwrap(e)...)
		}
		return out
	}
	return []error{err}
}

// Path splits a dotted field path into its elements; "" gives none.
func Path(field string) []string {
	if field == "" {
		return nil
	}
	return strings.Split(field, ".")
}

// Pos returns where a key path is in a document: the position of its last
// key, or of the list item when it ends in an index. When the path is not
// all there, the position of the deepest part that is; 0, 0 when not even
// its first key is (or path is empty).
func Pos(root *yaml.Node, path ...string) (line, col int) {
	if len(path) == 0 || root == nil {
		return 0, 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value == p {
					line, col, next = k.Line, k.Column, n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if idx, err := strconv.Atoi(p); err == nil && idx >= 0 && idx < len(n.Content) {
				next = n.Content[idx]
				line, col = next.Line, next.Column
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line, col
}

// DecodeStrict decodes b into v; an unknown key fails. It returns the
// document's node tree, so that callers can place the fields they
// validate later (see Locate), even when decoding failed, as long as b is
// YAML at all. Its errors are *Error values joined with errors.Join,
// sorted by line: YAML syntax errors (line only), and keys v has no field
// for, values of the wrong type and keys given twice, each with its field
// path, line and column.
func DecodeStrict(name string, b []byte, v any) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(name, b, nil, nil, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &root, yamlError(name, b, &root, v, err)
	}
	return &root, nil
}

// Locate turns the errors of a validation into *Error values of file name,
// placed by their field in the document root, sorted by line. An *Error
// keeps what it says (its Line, when set); any other error is read as
// "dotted.path: message".
func Locate(name string, root *yaml.Node, err error) error {
	var out []*Error
	for _, e := range Unwrap(err) {
		var c Error
		if ce := (*Error)(nil); errors.As(e, &ce) {
			c = *ce
		} else {
			c.Field, c.Msg = splitField(e.Error())
		}
		if c.File == "" {
			c.File = name
		}
		if c.Line == 0 {
			c.Line, c.Column = Pos(root, Path(c.Field)...)
		}
		out = append(out, &c)
	}
	Sort(out)
	return Join(out...)
}

var fieldPath = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// splitField splits a validation message "dotted.path: message" into the
// path and the message; a message that does not start with a path is all
// message.
func splitField(msg string) (field, rest string) {
	if f, r, ok := strings.Cut(msg, ": "); ok && fieldPath.MatchString(f) {
		return f, r
	}
	return "", msg
}
