package conf

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlError turns an error of yaml.v3 into *Error values of file name.
// root is the document's node tree and v what it was decoded into; both are
// nil for a syntax error, found before any decoding.
//
// yaml.v3 says where a problem is only as "line N" in its message, and
// names the Go type it could not decode into; the node tree gives the
// column and the field's path, and the Go type what the field wants.
func yamlError(name string, b []byte, root *yaml.Node, v any, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && root != nil {
		x := newYAMLIndex(root, reflect.TypeOf(v))
		out := make([]*Error, 0, len(te.Errors))
		for _, s := range te.Errors {
			out = append(out, x.typeError(name, s))
		}
		Sort(out)
		return Join(out...)
	}
	line, msg := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
	e := &Error{File: name, Line: line, Msg: msg}
	switch {
	case parserProblems[msg]:
		// yaml.v3 gives the parser's lines counted from 0, and none for
		// the first.
		e.Line++
	case line == 0:
		placeFailure(e, b, root)
	}
	return Join(e)
}

// parserProblems are the syntax errors of yaml.v3's parser (not its
// scanner): their line is counted from 0.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// placeFailure finds where a yaml.v3 error without a line is. yaml.v3
// leaves "line 1" out of its syntax errors; its other errors without a
// line name an anchor, a tag or a key that the text or the tree shows.
func placeFailure(e *Error, b []byte, root *yaml.Node) {
	text := func(needle string, after func(rest []byte) bool) {
		for off := 0; ; {
			i := bytes.Index(b[off:], []byte(needle))
			if i < 0 {
				return
			}
			off += i
			if after == nil || after(b[off+len(needle):]) {
				e.Line, e.Column = Position(b, off)
				return
			}
			off += len(needle)
		}
	}
	msg := e.Msg
	switch {
	case strings.HasPrefix(msg, "unknown anchor '"):
		a, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown anchor '"), "'")
		text("*"+a, nil)
	case strings.HasPrefix(msg, "anchor '"):
		a, _, _ := strings.Cut(strings.TrimPrefix(msg, "anchor '"), "'")
		text("&"+a, nil)
	case strings.HasPrefix(msg, "cannot decode "):
		// cannot decode !!str `abc` as a !!int: the value tagged !!int.
		rest := strings.TrimPrefix(msg, "cannot decode ")
		_, rest, _ = strings.Cut(rest, " `")
		val, tag, ok := cutLastMsg("`"+rest, "`", "` as a ")
		if ok {
			text(tag, func(after []byte) bool { return bytes.HasPrefix(bytes.TrimLeft(after, " \t"), []byte(val)) })
			if e.Line == 0 {
				text(tag, nil)
			}
		}
	case strings.HasPrefix(msg, "invalid map key"), strings.HasPrefix(msg, "map merge requires"):
		if root == nil {
			return
		}
		merge := strings.HasPrefix(msg, "map merge")
		for _, en := range newYAMLIndex(root, nil).entries {
			n := en.val
			if n.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				isMerge := k.ShortTag() == "!!merge"
				if merge && isMerge && !mergeable(v) || !merge && !isMerge && k.Kind != yaml.ScalarNode {
					e.Field = strings.Join(en.path, ".")
					e.Line, e.Column = k.Line, k.Column
					return
				}
			}
		}
	case strings.HasPrefix(msg, "document contains excessive aliasing"),
		strings.HasPrefix(msg, "attempted to go past the end of stream"),
		strings.HasPrefix(msg, "cannot decode node with unknown kind"),
		strings.HasPrefix(msg, "!!binary value"),
		strings.HasPrefix(msg, "invalid array"):
		// Nowhere in particular.
	case strings.HasPrefix(msg, "control characters are not allowed"):
		for off, r := range string(b) {
			if !yamlPrintable(r) {
				e.Line, e.Column = Position(b, off)
				return
			}
		}
	case strings.Contains(msg, "UTF-8"):
		if off := invalidUTF8(b); off >= 0 {
			e.Line, e.Column = Position(b, off)
		}
	case strings.Contains(msg, "UTF-16"), strings.Contains(msg, "surrogate"),
		strings.HasPrefix(msg, "invalid Unicode character"), strings.HasPrefix(msg, "input error"):
		// The reader's, with an offset yaml.v3 does not give.
	default:
		// A scanner error on the first line: yaml.v3 omits line 1.
		e.Line = 1
	}
}

// yamlPrintable reports whether YAML allows r in a stream.
func yamlPrintable(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
		r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff
}

// invalidUTF8 is the offset of the first byte of b that is not UTF-8; -1
// when there is none.
func invalidUTF8(b []byte) int {
	for off := 0; off < len(b); {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n == 1 {
			return off
		}
		off += n
	}
	return -1
}

// splitLine splits yaml.v3's "line 12: problem" into 12 and "problem".
func splitLine(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ": ")
	line, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return line, text
}

// yamlEntry is one node of a document with its path: a mapping value with
// its key, a list item, or the top (no key).
type yamlEntry struct {
	path     []string
	key, val *yaml.Node
}

// yamlIndex lists the nodes of a document in order, to find the one a
// yaml.v3 message is about.
type yamlIndex struct {
	t       reflect.Type
	entries []yamlEntry
}

// maxYAMLEntries bounds the index of a document whose merge keys repeat
// aliased mappings.
const maxYAMLEntries = 1 << 20

func newYAMLIndex(root *yaml.Node, t reflect.Type) *yamlIndex {
	x := &yamlIndex{t: t}
	var walk func(n *yaml.Node, path []string, key *yaml.Node)
	walk = func(n *yaml.Node, path []string, key *yaml.Node) {
		if len(x.entries) >= maxYAMLEntries {
			return
		}
		x.entries = append(x.entries, yamlEntry{path: path, key: key, val: n})
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, nil)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.ShortTag() == "!!merge" {
					// The keys of a merged mapping are the parent's.
					for _, m := range merged(v) {
						walk(m, path, nil)
					}
					continue
				}
				walk(v, append(path[:len(path):len(path)], k.Value), k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, append(path[:len(path):len(path)], strconv.Itoa(i)), nil)
			}
		}
	}
	walk(root, nil, nil)
	return x
}

// merged lists the mappings a merge key's value brings in: one mapping, or
// a list of them, each possibly an alias.
func merged(v *yaml.Node) []*yaml.Node {
	one := func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		return n
	}
	if m := one(v); m != nil {
		return []*yaml.Node{m}
	}
	var out []*yaml.Node
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			if m := one(c); m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// mergeable reports whether a merge key's value is what yaml.v3 merges: a
// mapping or a list of mappings, each possibly an alias.
func mergeable(v *yaml.Node) bool {
	mapping := func(n *yaml.Node) bool {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		return n.Kind == yaml.MappingNode
	}
	if mapping(v) {
		return true
	}
	if v.Kind != yaml.SequenceNode {
		return false
	}
	for _, c := range v.Content {
		if !mapping(c) {
			return false
		}
	}
	return true
}

// typeNamed finds, among the types reachable from the decoding target, the
// one yaml.v3 calls name; nil when there is none.
func (x *yamlIndex) typeNamed(name string) reflect.Type {
	name = strings.TrimLeft(name, "*")
	seen := map[reflect.Type]bool{}
	var find func(t reflect.Type) reflect.Type
	find = func(t reflect.Type) reflect.Type {
		if t = deref(t); t == nil || seen[t] {
			return nil
		}
		seen[t] = true
		if t.String() == name {
			return t
		}
		switch t.Kind() {
		case reflect.Struct:
			if t == nodeType {
				return nil
			}
			var found reflect.Type
			eachField(t, func(_ string, ft reflect.Type) bool {
				found = find(ft)
				return found == nil
			})
			return found
		case reflect.Map:
			if k := find(t.Key()); k != nil {
				return k
			}
			return find(t.Elem())
		case reflect.Slice, reflect.Array:
			return find(t.Elem())
		}
		return nil
	}
	return find(x.t)
}

// typeAt is the Go type the value at path decodes into; nil when unknown.
func (x *yamlIndex) typeAt(path []string) reflect.Type {
	t := x.t
	for _, p := range path {
		if t = deref(t); t == nil || t == nodeType {
			return nil
		}
		switch t.Kind() {
		case reflect.Struct:
			t = fieldType(t, p)
		case reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	return deref(t)
}

// is reports whether the value at path decodes into the type yaml.v3
// calls name.
func (x *yamlIndex) is(path []string, name string) bool {
	t := x.typeAt(path)
	return t != nil && t.String() == strings.TrimLeft(name, "*")
}

// typeError turns one line of a yaml.TypeError into an *Error.
func (x *yamlIndex) typeError(name, s string) *Error {
	line, msg := splitLine(s)
	e := &Error{File: name, Line: line, Msg: msg}
	at := func(en yamlEntry, n *yaml.Node) {
		e.Field = strings.Join(en.path, ".")
		e.Line, e.Column = n.Line, n.Column
	}
	if field, typ, ok := cutMsg(msg, "field ", " not found in type "); ok {
		e.Field, e.Msg = field, "unknown field"
		if want := fieldNames(x.typeNamed(typ)); want != "" {
			e.Msg += " (want one of " + want + ")"
		}
		if en, ok := x.find(func(en yamlEntry) bool {
			return en.key != nil && en.key.Line == line && en.key.Value == field
		}, func(en yamlEntry) bool { return x.is(en.path[:len(en.path)-1], typ) }); ok {
			at(en, en.key)
		}
		return e
	}
	if field, _, ok := cutMsg(msg, "field ", " already set in type "); ok {
		e.Field, e.Msg = field, "set twice (once through a merge key)"
		if en, ok := x.find(func(en yamlEntry) bool {
			return en.key != nil && en.key.Line == line && en.key.Value == field
		}, nil); ok {
			at(en, en.key)
		}
		return e
	}
	if q, first, ok := cutMsg(msg, "mapping key ", " already defined at line "); ok {
		key, err := strconv.Unquote(q)
		if err != nil {
			key = q
		}
		e.Field, e.Msg = key, fmt.Sprintf("given twice (first on line %s)", first)
		seen := 0
		if en, ok := x.find(func(en yamlEntry) bool {
			if en.key == nil || en.key.Line != line || en.key.Value != key {
				return false
			}
			// On one line ({a: 1, a: 2}) the second is the one at fault.
			seen++
			return strconv.Itoa(line) != first || seen > 1
		}, nil); ok {
			at(en, en.key)
		}
		return e
	}
	if rest, typ, ok := cutLastMsg(msg, "cannot unmarshal ", " into "); ok {
		tag, val, _ := strings.Cut(rest, " ")
		val = strings.TrimSuffix(strings.TrimPrefix(val, "`"), "`")
		want := describeName(typ)
		if t := x.typeNamed(typ); t != nil {
			want = describe(t)
		}
		e.Msg = "want " + want
		is := func(n *yaml.Node) bool {
			return n != nil && n.Line == line && n.ShortTag() == tag && (n.Kind != yaml.ScalarNode || shortValue(n.Value) == val)
		}
		if en, ok := x.find(func(en yamlEntry) bool { return is(en.val) },
			func(en yamlEntry) bool { return x.is(en.path, typ) }); ok {
			at(en, en.val)
			if t := x.typeAt(en.path); t != nil {
				want = describe(t)
			}
			e.Msg = "want " + want + ", got " + show(en.val)
		} else if en, ok := x.find(func(en yamlEntry) bool { return is(en.key) }, nil); ok {
			// A key that is not a plain value ({[a]: 1}).
			at(en, en.key)
			e.Field = strings.Join(en.path[:len(en.path)-1], ".")
			e.Msg = "want " + want + " as a key, got " + show(en.key)
		}
		return e
	}
	return e
}

// find returns the first entry that matches and is preferred, or failing
// that the first that matches.
func (x *yamlIndex) find(match, prefer func(yamlEntry) bool) (yamlEntry, bool) {
	var first *yamlEntry
	for i := range x.entries {
		en := x.entries[i]
		if !match(en) {
			continue
		}
		if prefer == nil || prefer(en) {
			return en, true
		}
		if first == nil {
			first = &x.entries[i]
		}
	}
	if first != nil {
		return *first, true
	}
	return yamlEntry{}, false
}

// cutMsg reads "<prefix>A<sep>B".
func cutMsg(msg, prefix, sep string) (a, b string, ok bool) {
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, sep)
}

// cutLastMsg reads "<prefix>A<sep>B", B holding no sep.
func cutLastMsg(msg, prefix, sep string) (a, b string, ok bool) {
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, sep)
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len(sep):], true
}

// shortValue is how yaml.v3 quotes a value in a message.
func shortValue(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// show says what a node holds, for a message.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		v := n.Value
		if utf8.RuneCountInString(v) > 40 {
			v = string([]rune(v)[:40]) + "…"
		}
		return strconv.Quote(v)
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
)

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// describe says what a value of type t is written as.
func describe(t reflect.Type) string {
	if t == durationType {
		return "a duration like 90s or 5m"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number of at least 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a " + t.String()
}

// describeName is describe for a type yaml.v3 names but the path does not
// lead to.
func describeName(name string) string {
	name = strings.TrimLeft(name, "*")
	switch {
	case name == "time.Duration":
		return describe(durationType)
	case strings.HasPrefix(name, "yaml.Node"):
		return "a value"
	case strings.HasPrefix(name, "[]"), strings.HasPrefix(name, "["):
		return "a list"
	case strings.HasPrefix(name, "map["):
		return "a mapping"
	case name == "string":
		return "a string"
	case name == "bool":
		return "true or false"
	case strings.HasPrefix(name, "int"):
		return "a whole number"
	case strings.HasPrefix(name, "uint"):
		return "a whole number of at least 0"
	case strings.HasPrefix(name, "float"):
		return "a number"
	}
	return "a " + name
}

// yamlKey is the key yaml.v3 decodes into struct field f, and whether f
// is inlined; "" for a field it skips.
func yamlKey(f reflect.StructField) (key string, inline bool) {
	if f.PkgPath != "" && !f.Anonymous {
		return "", false
	}
	tag := f.Tag.Get("yaml")
	if tag == "" && !strings.Contains(string(f.Tag), ":") {
		tag = string(f.Tag)
	}
	if tag == "-" {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	for _, o := range strings.Split(opts, ",") {
		if o == "inline" {
			return "", true
		}
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

// fieldType is the type of the field of struct t decoded from key; nil
// when there is none.
func fieldType(t reflect.Type, key string) reflect.Type {
	var found reflect.Type
	eachField(t, func(k string, ft reflect.Type) bool {
		if k == key {
			found = ft
			return false
		}
		return true
	})
	return found
}

// fieldNames lists the keys struct t takes, in order; "" when t is not a
// struct.
func fieldNames(t reflect.Type) string {
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	var names []string
	eachField(t, func(k string, _ reflect.Type) bool {
		names = append(names, k)
		return true
	})
	return strings.Join(names, ", ")
}

// eachField calls f with each key struct t takes and the field's type,
// inlined structs included, until f returns false.
func eachField(t reflect.Type, f func(key string, ft reflect.Type) bool) bool {
	for i := range t.NumField() {
		sf := t.Field(i)
		key, inline := yamlKey(sf)
		if inline {
			if it := deref(sf.Type); it.Kind() == reflect.Struct && !eachField(it, f) {
				return false
			}
			continue
		}
		if key != "" && !f(key, sf.Type) {
			return false
		}
	}
	return true
}
