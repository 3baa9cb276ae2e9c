// Package conf decodes firegrid's YAML files strictly and makes their errors
// say where: the file, the line and the key.
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

var lineErr = regexp.MustCompile(`^\s*line (\d+): (.*)$`)

// DecodeStrict decodes b into v; an unknown key fails. Errors read
// "name:LINE: message", one per line. It returns the document's node tree
// so callers can find the line of a key they validate later.
func DecodeStrict(name string, b []byte, v any) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return nil, Wrap(name, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	return &root, nil
}

// Wrap rewrites a yaml.v3 error as "name:LINE: message" lines.
func Wrap(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		if m := lineErr.FindStringSubmatch(l); m != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", name, m[1], m[2]))
		} else if strings.TrimSpace(l) != "" {
			out = append(out, fmt.Sprintf("%s: %s", name, strings.TrimSpace(l)))
		}
	}
	return errors.New(strings.Join(out, "\n"))
}

// LineOf finds the line of a key path ("ingest", "workers") in a document;
// 0 when absent. A numeric path element indexes a sequence.
func LineOf(n *yaml.Node, path ...string) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			var idx int
			if _, err := fmt.Sscanf(p, "%d", &idx); err != nil || idx < 0 || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// Locate rewrites validation errors whose messages start with a dotted key
// path ("users.2.role: ...") as "name:LINE: message" lines, the line being
// the key's in the document root.
func Locate(name string, root *yaml.Node, err error) error {
	var lines []string
	for _, e := range Unwrap(err) {
		msg := e.Error()
		key := strings.SplitN(msg, ":", 2)[0]
		if l := LineOf(root, strings.Split(key, ".")...); l > 0 {
			lines = append(lines, fmt.Sprintf("%s:%d: %s", name, l, msg))
		} else {
			lines = append(lines, fmt.Sprintf("%s: %s", name, msg))
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// Unwrap flattens errors joined with errors.Join.
func Unwrap(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Unwrap(e)...)
		}
		return out
	}
	return []error{err}
}
