package conf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.yaml", Line: 12, Column: 5, Field: "dispatch.timers.0.ack", Msg: "want a positive duration"}, "f.yaml:12:5: dispatch.timers.0.ack: want a positive duration"},
		{Error{File: "f.yaml", Line: 12, Field: "a.b", Msg: "m"}, "f.yaml:12: a.b: m"},
		{Error{File: "f.yaml", Column: 5, Field: "a", Msg: "m"}, "f.yaml: a: m"},
		{Error{File: "f.yaml", Line: 3, Msg: "syntax"}, "f.yaml:3: syntax"},
		{Error{File: "g.geojson", Line: 4, Column: 9, Field: "features.4.properties.parent", ID: "Z-07", Msg: "m"}, `g.geojson:4:9: features.4.properties.parent (id "Z-07"): m`},
		{Error{File: "g.geojson", ID: "Z-07", Msg: "m"}, `g.geojson: (id "Z-07"): m`},
		{Error{Field: "users.0.role", Msg: "m"}, "users.0.role: m"},
		{Error{File: "d.csv", Line: 1, Column: 1, Field: "a\nb", Msg: "one\ntwo\r\n"}, `d.csv:1:1: "a\nb": one\ntwo\r\n`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	a, b, c := &Error{File: "a", Msg: "1"}, &Error{File: "b", Msg: "2"}, &Error{File: "c", Msg: "3"}
	err := errors.Join(a, errors.Join(b, errors.New("plain")), fmt.Errorf("wrapped: %w", c))
	got := Errors(err)
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Errorf("Errors = %v", got)
	}
	if Errors(nil) != nil || Join() != nil {
		t.Error("nil in, not nil out")
	}
}

type inner struct {
	Name  string        `yaml:"name"`
	Ack   time.Duration `yaml:"ack"`
	Above *float64      `yaml:"above"`
	Tags  []string      `yaml:"tags"`
}

type base struct {
	Timers []inner `yaml:"timers"`
}

type doc struct {
	HTTP  string           `yaml:"http"`
	N     int              `yaml:"n"`
	U     uint64           `yaml:"u"`
	Inner inner            `yaml:"inner"`
	M     map[string]inner `yaml:"m"`
	base  `yaml:",inline"`
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"htp: x\nn: abc\ninner: {name: a, ack: soon, above: high, colour: red}\ntimers:\n  - name: a\n    ack: 5\n    tags: x\n  - [1]\nm:\n  a: {name: [1]}\nu: -1\n", `f.yaml:1:1: htp: unknown field (want one of http, n, u, inner, m, timers)
f.yaml:2:4: n: want a whole number, got "abc"
f.yaml:3:23: inner.ack: want a duration like 90s or 5m, got "soon"
f.yaml:3:36: inner.above: want a number, got "high"
f.yaml:3:42: inner.colour: unknown field (want one of name, ack, above, tags)
f.yaml:6:10: timers.0.ack: want a duration like 90s or 5m, got "5"
f.yaml:7:11: timers.0.tags: want a list, got "x"
f.yaml:8:5: timers.1: want a mapping, got a list
f.yaml:10:13: m.a.name: want a string, got a list
f.yaml:11:4: u: want a whole number of at least 0, got "-1"`},
		{"n: 1\ninner: {name: a, name: b}\n", `f.yaml:2:18: inner.name: given twice (first on line 2)`},
		{"n: 1\nn: 2\n", `f.yaml:2:1: n: given twice (first on line 1)`},
		{"a: b: c\n", `f.yaml:1: mapping values are not allowed in this context`},
		{"n: 1\ninner:\n  name: [a\n", `f.yaml:3: did not find expected ',' or ']'`},
		{"n: !!int abc\n", "f.yaml:1:4: cannot decode !!str `abc` as a !!int"},
		{"- 1\n", `f.yaml:1:1: want a mapping, got a list`},
		{"inner: &a {name: x}\nm: *b\n", `f.yaml:2:4: unknown anchor 'b' referenced`},
		{"base: &b {name: a, colour: red}\ninner:\n  <<: *b\n  ack: 1s\n", `f.yaml:1:1: base: unknown field (want one of http, n, u, inner, m, timers)
f.yaml:1:20: inner.colour: unknown field (want one of name, ack, above, tags)`},
		{"<<: 5\n", `f.yaml:1:1: map merge requires map or sequence of maps as the value`},
		{"? [a]\n: 1\n", `f.yaml:1:3: want a string as a key, got a list`},
		{"m: {[a]: {name: x}}\n", `f.yaml:1:5: m: want a string as a key, got a list`},
		{"n: 1\nhttp: \x01\n", `f.yaml:2:7: control characters are not allowed`},
		{"n: 1\nhttp: \xff\n", `f.yaml:2:7: invalid leading UTF-8 octet`},
		{"n: 1\n http: 2\n", `f.yaml:2: mapping values are not allowed in this context`},
	} {
		var d doc
		_, err := DecodeStrict("f.yaml", []byte(tc.in), &d)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot\n%v\nwant\n%s", tc.in, err, tc.want)
		}
		if len(Errors(err)) != len(strings.Split(tc.want, "\n")) {
			t.Errorf("%q: %d *Error in %v", tc.in, len(Errors(err)), err)
		}
	}
	var d doc
	if root, err := DecodeStrict("f.yaml", nil, &d); err != nil || root == nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestLocate(t *testing.T) {
	var d doc
	b := []byte("http: x\ntimers:\n  - name: a\n    ack: 1s\n  - name: b\n")
	root, err := DecodeStrict("f.yaml", b, &d)
	if err != nil {
		t.Fatal(err)
	}
	err = Locate("f.yaml", root, errors.Join(
		errors.New("timers.1.ack: required"),
		&Error{Field: "timers.0.name", ID: "a", Msg: "bad name"},
		errors.New("http: want host:port"),
		errors.New("data: want a directory"),
		errors.New("not a field path: message"),
	))
	want := `f.yaml: data: want a directory
f.yaml: not a field path: message
f.yaml:1:1: http: want host:port
f.yaml:3:5: timers.0.name (id "a"): bad name
f.yaml:5:5: timers.1.ack: required`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLineIndex(t *testing.T) {
	data := []byte("ab\nçé,x\n\nz")
	x := NewLineIndex(data)
	for _, tc := range []struct{ off, line, col int }{{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {7, 2, 3}, {8, 2, 4}, {9, 2, 5}, {10, 3, 1}, {11, 4, 1}, {99, 4, 2}} {
		if l, c := x.Pos(tc.off); l != tc.line || c != tc.col {
			t.Errorf("Pos(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
		if l, c := Position(data, tc.off); l != tc.line || c != tc.col {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
	}
	if c := x.LinePos(2, 6); c != 4 {
		t.Errorf("LinePos(2, 6) = %d, want 4", c)
	}
}
