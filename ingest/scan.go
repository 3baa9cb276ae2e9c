package ingest

import (
	"bytes"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/firegrid/firegrid/contract"
)

// The fast path of the contract-v1 decoder: a scanner over the payload
// that takes a well-formed message without allocating per field. Known
// value names, events and port states are the contract's own strings, not
// copies; numbers and timestamps are parsed in place. It takes only what it
// is sure of: anything unusual (an escaped string, a bad value, a missing
// field, trailing data) makes it give up, and the full decoder decides,
// with the error a person reads. A fuzz test holds the two to the same
// result for every input the fast path takes.

// valueInfo is what the fast path knows of a value name: the contract's
// own string for it, and its range when it has one.
type valueInfo struct {
	name   string
	r      valueRange
	ranged bool
}

// knownValues are the value names payloads carry, found with one look-up.
var knownValues = func() map[string]valueInfo {
	m := map[string]valueInfo{}
	for k, r := range valueRanges {
		m[k] = valueInfo{k, r, true}
	}
	for _, k := range contract.Kinds {
		for _, n := range contract.ValueNames(k) {
			if _, ok := m[n]; !ok {
				m[n] = valueInfo{name: n}
			}
		}
	}
	return m
}()

// knownNames are the value names and port states payloads carry, so that a
// decoded message shares these strings instead of copying them.
var knownNames = func() map[string]string {
	m := map[string]string{"ports": "ports", "charging": "charging", "idle": "idle", "full": "full", "fault": "fault", "off": "off"}
	for k := range valueRanges {
		m[k] = k
	}
	for _, k := range contract.Kinds {
		for _, n := range contract.ValueNames(k) {
			m[n] = n
		}
		for _, e := range contract.Events[k] {
			m[e] = e
		}
	}
	return m
}()

// intern returns the known string equal to b, or a copy of b.
func intern(b []byte) string {
	if s, ok := knownNames[string(b)]; ok { // the conversion does not allocate
		return s
	}
	return string(b)
}

// view is b as a string without copying, for parsers that do not keep it.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// str scans a string of printable ASCII without escapes and returns its
// bytes (encoding/json would replace invalid UTF-8: such strings are the
// full decoder's).
func (s *scanner) str() ([]byte, bool) {
	if !s.expect('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// number scans a JSON number and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i-digits > 1) {
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		frac := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == frac {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		exp := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == exp {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) float() (float64, bool) {
	n, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(view(n), 64)
	return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// skip scans any JSON value without keeping it.
func (s *scanner) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		s.i++
		if s.expect(close) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := s.str(); !ok || !s.expect(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.expect(close) {
				return true
			}
			if !s.expect(',') {
				return false
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
				s.i += len(lit)
				return true
			}
		}
		return false
	default:
		_, ok := s.number()
		return ok
	}
}

// object scans an object, calling field for each key with the scanner at
// its value; field scans the value and reports whether it took it.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.expect('{') {
		return false
	}
	if s.expect('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.expect(':') || !field(key) {
			return false
		}
		if s.expect('}') {
			return true
		}
		if !s.expect(',') {
			return false
		}
	}
}

// ignorable reports whether a key the fast path does not know may be
// skipped: encoding/json matches field names without regard to case (and
// folds some non-ASCII letters), so a key that might be one of fields in
// disguise is left to the full decoder.
func ignorable(key []byte, fields ...string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return false
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return false
		}
	}
	return true
}

// fastDecode takes a well-formed contract-v1 payload of a topic already
// parsed; ok is false when the full decoder must decide.
func fastDecode(kind contract.Kind, id string, ch contract.Channel, payload []byte) (m contract.Message, ok bool) {
	s := scanner{b: payload}
	m = contract.Message{Kind: kind, Device: id, Channel: ch}
	var haveTS, haveSeq bool
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "ts":
			switch s.peek() {
			case '"':
				b, ok := s.str()
				if !ok {
					return false
				}
				t, err := time.Parse(time.RFC3339Nano, view(b))
				if err != nil {
					return false
				}
				m.TS, haveTS = t.UTC(), true
			default:
				n, ok := s.number()
				if !ok {
					return false
				}
				ms, err := strconv.ParseInt(view(n), 10, 64)
				if err != nil || ms <= 0 {
					return false
				}
				m.TS, haveTS = time.UnixMilli(ms).UTC(), true
			}
		case "seq":
			n, ok := s.number()
			if !ok {
				return false
			}
			v, err := strconv.ParseUint(view(n), 10, 64)
			if err != nil {
				return false
			}
			m.Seq, haveSeq = v, true
		case "event":
			if s.peek() == 'n' {
				if !s.skip(0) { // null: no event
					return false
				}
				m.Event = ""
				return true
			}
			b, ok := s.str()
			if !ok {
				return false
			}
			ev := string(b)
			if ev == "" {
				m.Event = ""
				return true
			}
			for _, known := range contract.Events[kind] {
				if known == ev { // no allocation: the conversion is compared, not kept
					m.Event = known
					return true
				}
			}
			return false
		case "values":
			return s.values(&m)
		default:
			return ignorable(key, "ts", "seq", "event", "values", "media") && s.skip(0) // media: the full decoder checks it
		}
		return true
	})
	if !ok || s.peek() != 0 || !haveTS || !haveSeq {
		return contract.Message{}, false
	}
	if ch == contract.ChannelEvent && m.Event == "" {
		return contract.Message{}, false
	}
	return m, true
}

// values scans the values object into m.
func (s *scanner) values(m *contract.Message) bool {
	if s.peek() == 'n' {
		m.Values, m.Ports = nil, nil
		return s.skip(0)
	}
	m.Values, m.Ports = nil, nil
	return s.object(func(key []byte) bool {
		if string(key) == "ports" {
			if m.Kind != contract.KindCharger {
				return false
			}
			return s.ports(m)
		}
		v, ok := s.float()
		if !ok {
			return false
		}
		info, known := knownValues[string(key)]
		if !known {
			info.name = string(key)
		}
		if info.ranged && (v < info.r.min || v > info.r.max) {
			return false
		}
		name := info.name
		if m.Values == nil {
			m.Values = make(map[string]float64, 8)
		}
		m.Values[name] = v
		return true
	})
}

// ports scans a charger's ports array.
func (s *scanner) ports(m *contract.Message) bool {
	if s.peek() == 'n' {
		m.Ports = nil
		return s.skip(0)
	}
	if !s.expect('[') {
		return false
	}
	ports := make([]contract.Port, 0, 16)
	if !s.expect(']') {
		for {
			var p contract.Port
			ok := s.object(func(key []byte) bool {
				var f *float64
				switch string(key) {
				case "port":
					n, ok := s.number()
					if !ok {
						return false
					}
					v, err := strconv.Atoi(view(n))
					if err != nil {
						return false
					}
					p.Port = v
					return true
				case "current_a":
					f = &p.CurrentA
				case "power_w":
					f = &p.PowerW
				case "temp_c":
					f = &p.TempC
				case "state":
					b, ok := s.str()
					if !ok {
						return false
					}
					p.State = intern(b)
					return true
				default:
					return ignorable(key, "port", "current_a", "power_w", "temp_c", "state") && s.skip(0)
				}
				v, ok := s.float()
				*f = v
				return ok
			})
			if !ok || p.Port < 1 || p.Port > 64 || p.TempC < -60 || p.TempC > 400 || p.CurrentA < 0 || p.CurrentA > 1000 || p.PowerW < 0 || p.PowerW > 100000 {
				return false
			}
			ports = append(ports, p)
			if s.expect(']') {
				break
			}
			if !s.expect(',') {
				return false
			}
		}
	}
	m.Ports = ports
	return true
}

func unixMilliUTC(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func parseRFC3339(b []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, view(b))
	return t.UTC(), err
}
