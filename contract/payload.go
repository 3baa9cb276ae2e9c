package contract

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// tsLayout is RFC 3339 with milliseconds, the form contract v1 shows.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// Payload returns the contract-v1 JSON payload of m.
func Payload(m Message) []byte {
	return AppendPayload(make([]byte, 0, 192), m)
}

// AppendPayload appends the contract-v1 JSON payload of m to dst and
// returns the extended buffer:
//
//	{"ts":"2026-11-23T08:00:00.120Z","seq":812,"event":"alarm","values":{...}}
//
// ts is m.TS in UTC, RFC 3339 with milliseconds. event is written when
// m.Event is set. values holds m.Values with their names sorted, then, when
// m.Ports is not nil, "ports": the charger's port array, where the contract
// puts it; then "media" when m.Media is not empty. A value that is not a finite number is written as null, which a
// strict decoder rejects: the simulator never produces one itself.
func AppendPayload(dst []byte, m Message) []byte {
	dst = append(dst, `{"ts":"`...)
	dst = appendTimestamp(dst, m.TS)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, m.Seq, 10)
	if m.Event != "" {
		dst = append(dst, `,"event":`...)
		dst = appendJSONString(dst, m.Event)
	}
	if len(m.Values) > 0 || m.Ports != nil {
		dst = append(dst, `,"values":{`...)
		var buf [8]string
		names := buf[:0]
		for k := range m.Values {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendNumber(dst, m.Values[k])
		}
		if m.Ports != nil {
			if len(names) > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `"ports":[`...)
			for i, p := range m.Ports {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendPort(dst, p)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	if len(m.Media) > 0 {
		dst = append(dst, `,"media":[`...)
		for i, u := range m.Media {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, u)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendTimestamp appends t in UTC as 2006-01-02T15:04:05.000Z: what
// AppendFormat(tsLayout) gives for years 0 to 9999, at a fraction of its
// cost on the hot path.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, tsLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, ms, 3)
	return append(dst, 'Z')
}

// appendDigits appends v, 0 <= v < 10^width, zero-padded to width digits.
func appendDigits(dst []byte, v, width int) []byte {
	var b [4]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}

func appendPort(dst []byte, p Port) []byte {
	dst = append(dst, `{"port":`...)
	dst = strconv.AppendInt(dst, int64(p.Port), 10)
	dst = append(dst, `,"current_a":`...)
	dst = appendNumber(dst, p.CurrentA)
	dst = append(dst, `,"power_w":`...)
	dst = appendNumber(dst, p.PowerW)
	dst = append(dst, `,"temp_c":`...)
	dst = appendNumber(dst, p.TempC)
	if p.State != "" {
		dst = append(dst, `,"state":`...)
		dst = appendJSONString(dst, p.State)
	}
	return append(dst, '}')
}

func appendNumber(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendString appends s as a JSON string. Only the characters JSON
// requires are escaped; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// ValueNames returns the value names contract v1 defines for kind, not
// counting a charger's "ports" array.
func ValueNames(kind Kind) []string {
	switch kind {
	case KindSmoke:
		return []string{"obscuration_pct_m", "temp_c", "battery_pct", "rssi_dbm"}
	case KindHydrant:
		return []string{"pressure_mpa", "flow_lpm", "tilt_deg", "battery_pct"}
	case KindCharger:
		return []string{"voltage_v"}
	case KindElectrical:
		return []string{"residual_current_ma", "cable_temp_c", "voltage_v"}
	case KindGas:
		return []string{"lel_pct", "valve_closed"}
	case KindButton:
		return []string{"battery_pct", "rssi_dbm"}
	case KindCamera:
		return []string{"confidence_pct"}
	}
	return nil
}

// Timestamp formats t the way payloads carry it (RFC 3339, milliseconds,
// UTC).
func Timestamp(t time.Time) string { return t.UTC().Format(tsLayout) }
