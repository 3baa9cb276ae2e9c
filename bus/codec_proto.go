package bus

//go:generate go build -o proto/bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=proto/bin/protoc-gen-go -I proto --go_out=proto --go_opt=paths=source_relative firegrid/v1/records.proto

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/firegrid/firegrid/contract"
)

// ProtoCodecName is the name, in the "fg-codec" header, of the records
// the proto codec writes.
const ProtoCodecName = "proto/1"

// protoCodec writes a topic's values as the protocol buffers of
// proto/firegrid/v1/records.proto, package firegrid.v1: any protobuf
// library reads them with that schema. The schema's generated Go types
// (package firegridv1) are what the tests check this codec against; the
// codec itself reads and writes the wire format with protowire, straight
// from and into the contract's structs, because going through the
// generated types (proto.Marshal and proto.Unmarshal, and copying between
// them and the contract) costs several times as much (README, "Kafka
// records").
//
// Strings are written as they are when they are valid UTF-8, as proto3
// wants them; invalid bytes are replaced with U+FFFD, as encoding/json does.
// A decoded value's strings share one copy of the record, so decoding a
// reading allocates the reading, that copy and its values map.
type protoCodec struct{ topic string }

func (protoCodec) Name() string { return ProtoCodecName }

func (c protoCodec) Append(dst []byte, v any) ([]byte, error) {
	ok := false
	switch c.topic {
	case contract.TopicTelemetry, contract.TopicEvents:
		var r *contract.Reading
		if r, ok = v.(*contract.Reading); ok && r != nil {
			return appendReading(dst, r), nil
		}
	case contract.TopicSignals:
		var s *contract.Signal
		if s, ok = v.(*contract.Signal); ok && s != nil {
			return appendSignal(dst, s), nil
		}
	case contract.TopicCommands:
		var cmd *contract.Command
		if cmd, ok = v.(*contract.Command); ok && cmd != nil {
			return appendCommand(dst, cmd), nil
		}
	case contract.TopicDeadLetters:
		var d *contract.DeadLetter
		if d, ok = v.(*contract.DeadLetter); ok && d != nil {
			return appendDeadLetter(dst, d), nil
		}
	case contract.TopicControl:
		var ctl *contract.Control
		if ctl, ok = v.(*contract.Control); ok && ctl != nil {
			return appendControl(dst, ctl), nil
		}
	default:
		return dst, fmt.Errorf("%s codec: no message for topic %q", ProtoCodecName, c.topic)
	}
	if ok {
		return dst, fmt.Errorf("%s codec: nil %T on topic %s", ProtoCodecName, v, c.topic)
	}
	return dst, fmt.Errorf("%s codec: %T on topic %s, want %T", ProtoCodecName, v, c.topic, contract.NewValue(c.topic))
}

func (c protoCodec) Decode(b []byte) (any, error) {
	d := newWireReader(b)
	var v any
	switch c.topic {
	case contract.TopicTelemetry, contract.TopicEvents:
		r := new(contract.Reading)
		d.reading(r)
		v = r
	case contract.TopicSignals:
		// The signal and its value in one allocation.
		sv := new(struct {
			s contract.Signal
			v float64
		})
		d.signal(&sv.s, &sv.v)
		v = &sv.s
	case contract.TopicCommands:
		cmd := new(contract.Command)
		d.command(cmd)
		v = cmd
	case contract.TopicDeadLetters:
		dl := new(contract.DeadLetter)
		d.deadLetter(dl)
		v = dl
	case contract.TopicControl:
		ctl := new(contract.Control)
		d.control(ctl)
		v = ctl
	default:
		return nil, fmt.Errorf("%s codec: no message for topic %q", ProtoCodecName, c.topic)
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s codec: %s record: %w", ProtoCodecName, c.topic, d.err)
	}
	return v, nil
}

// ProtoCodecs returns the proto codec of every pipeline topic but
// incidents, which has no message in the schema: it stays JSON, for other
// systems to read.
func ProtoCodecs() map[string]Codec {
	m := map[string]Codec{}
	for _, t := range contract.Topics {
		if !slices.Contains(JSONTopics, t) {
			m[t] = protoCodec{t}
		}
	}
	return m
}

// The field numbers of records.proto.
const (
	readingID, readingKind, readingDevice, readingChannel, readingTS, readingSeq, readingEvent,
	readingValues, readingPorts, readingReceivedAt, readingSite, readingZone, readingCommunity,
	readingStation, readingLocation, readingClockSkewed, readingDeviceTS, readingMedia protowire.Number = 1, 2, 3, 4, 5, 6, 7,
		8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18

	portPort, portCurrentA, portPowerW, portTempC, portState protowire.Number = 1, 2, 3, 4, 5
	pointLon, pointLat                                       protowire.Number = 1, 2
	mapKey, mapValue                                         protowire.Number = 1, 2
	timestampSeconds, timestampNanos                         protowire.Number = 1, 2

	signalID, signalRule, signalAction, signalType, signalSeverity, signalDispatchable, signalKind,
	signalDevice, signalSite, signalPort, signalMessage, signalEvent, signalValue, signalAt,
	signalReceivedAt, signalCommand, signalDetail, signalPeriod, signalConfirmed, signalNotify119,
	signalFlapping, signalSuppressed, signalRelated, signalClockSkewed protowire.Number = 1, 2, 3, 4, 5, 6, 7,
		8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24

	commandKind, commandDevice, commandCmd, commandPort, commandReason, commandIncident,
	commandSignal protowire.Number = 1, 2, 3, 4, 5, 6, 7

	deadLetterAt, deadLetterReason, deadLetterDetail, deadLetterTopic, deadLetterSize,
	deadLetterPayload, deadLetterEncoding, deadLetterTruncated protowire.Number = 1, 2, 3, 4, 5, 6, 7, 8

	controlID, controlAt, controlWhat, controlRulesVersion, controlBy protowire.Number = 1, 2, 3, 4, 5
)

// Writing. Every field is written only when it is not its zero value, as
// proto3 does; a time is a google.protobuf.Timestamp, absent when zero.

// grow makes room for n more bytes at once, instead of the doublings
// from 8 bytes that appending to a nil buffer would take.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = append(make([]byte, 0, len(b)+n), b...)
	}
	return b
}

func appendReading(b []byte, r *contract.Reading) []byte {
	b = grow(b, 96+len(r.ID)+len(r.Device)+len(r.Site)+len(r.Zone)+len(r.Community)+len(r.Station)+
		32*len(r.Values)+48*len(r.Ports))
	b = appendString(b, readingID, r.ID)
	b = appendString(b, readingKind, string(r.Kind))
	b = appendString(b, readingDevice, r.Device)
	b = appendString(b, readingChannel, string(r.Channel))
	b = appendTime(b, readingTS, r.TS)
	b = appendVarint(b, readingSeq, r.Seq)
	b = appendString(b, readingEvent, r.Event)
	for k, v := range r.Values {
		if !utf8.ValidString(k) {
			k = strings.ToValidUTF8(k, "\uFFFD")
		}
		// A map entry writes its key and value even when empty, as the
		// protobuf runtimes do.
		b = appendTag(b, readingValues, protowire.BytesType)
		b = appendUvarint(b, uint64(1+protowire.SizeBytes(len(k))+1+8))
		b = appendTag(b, mapKey, protowire.BytesType)
		b = append(appendUvarint(b, uint64(len(k))), k...)
		b = appendTag(b, mapValue, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	}
	var at int
	for i := range r.Ports {
		b, at = beginMessage(b, readingPorts)
		b = appendPort(b, &r.Ports[i])
		b = endMessage(b, at)
	}
	b = appendTime(b, readingReceivedAt, r.ReceivedAt)
	b = appendString(b, readingSite, r.Site)
	b = appendString(b, readingZone, r.Zone)
	b = appendString(b, readingCommunity, r.Community)
	b = appendString(b, readingStation, r.Station)
	if r.Location != (contract.Point{}) {
		b, at = beginMessage(b, readingLocation)
		b = appendDouble(b, pointLon, r.Location.Lon)
		b = appendDouble(b, pointLat, r.Location.Lat)
		b = endMessage(b, at)
	}
	b = appendBool(b, readingClockSkewed, r.ClockSkewed)
	b = appendTime(b, readingDeviceTS, r.DeviceTS)
	for _, m := range r.Media {
		// Every item of a repeated field is written, even an empty one.
		if !utf8.ValidString(m) {
			m = strings.ToValidUTF8(m, "\uFFFD")
		}
		b = appendTag(b, readingMedia, protowire.BytesType)
		b = append(appendUvarint(b, uint64(len(m))), m...)
	}
	return b
}

func appendPort(b []byte, p *contract.Port) []byte {
	b = appendInt(b, portPort, int64(p.Port))
	b = appendDouble(b, portCurrentA, p.CurrentA)
	b = appendDouble(b, portPowerW, p.PowerW)
	b = appendDouble(b, portTempC, p.TempC)
	return appendString(b, portState, p.State)
}

func appendSignal(b []byte, s *contract.Signal) []byte {
	b = grow(b, 128+len(s.ID)+len(s.Message)+len(s.Detail)+24*len(s.Related))
	b = appendString(b, signalID, s.ID)
	b = appendString(b, signalRule, s.Rule)
	b = appendString(b, signalAction, string(s.Action))
	b = appendString(b, signalType, s.Type)
	b = appendString(b, signalSeverity, string(s.Severity))
	b = appendBool(b, signalDispatchable, s.Dispatchable)
	b = appendString(b, signalKind, string(s.Kind))
	b = appendString(b, signalDevice, s.Device)
	b = appendString(b, signalSite, s.Site)
	b = appendInt(b, signalPort, int64(s.Port))
	b = appendString(b, signalMessage, s.Message)
	b = appendString(b, signalEvent, s.Event)
	if s.Value != nil {
		// optional: written when set, zero included.
		b = appendTag(b, signalValue, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(*s.Value))
	}
	b = appendTime(b, signalAt, s.At)
	b = appendTime(b, signalReceivedAt, s.ReceivedAt)
	b = appendString(b, signalCommand, s.Command)
	b = appendString(b, signalDetail, s.Detail)
	b = appendString(b, signalPeriod, string(s.Period))
	b = appendBool(b, signalConfirmed, s.Confirmed)
	b = appendBool(b, signalNotify119, s.Notify119)
	b = appendBool(b, signalFlapping, s.Flapping)
	b = appendString(b, signalSuppressed, s.Suppressed)
	for _, r := range s.Related {
		// A repeated element is written even when empty.
		b = appendTag(b, signalRelated, protowire.BytesType)
		b = protowire.AppendString(b, validUTF8(r))
	}
	return appendBool(b, signalClockSkewed, s.ClockSkewed)
}

func appendCommand(b []byte, c *contract.Command) []byte {
	b = grow(b, 64+len(c.Device)+len(c.Incident)+len(c.Signal))
	b = appendString(b, commandKind, string(c.Kind))
	b = appendString(b, commandDevice, c.Device)
	b = appendString(b, commandCmd, c.Cmd)
	b = appendInt(b, commandPort, int64(c.Port))
	b = appendString(b, commandReason, c.Reason)
	b = appendString(b, commandIncident, c.Incident)
	return appendString(b, commandSignal, c.Signal)
}

func appendDeadLetter(b []byte, d *contract.DeadLetter) []byte {
	b = grow(b, 64+len(d.Detail)+len(d.Topic)+len(d.Payload))
	b = appendTime(b, deadLetterAt, d.At)
	b = appendString(b, deadLetterReason, string(d.Reason))
	b = appendString(b, deadLetterDetail, d.Detail)
	b = appendString(b, deadLetterTopic, d.Topic)
	b = appendInt(b, deadLetterSize, int64(d.Size))
	b = appendString(b, deadLetterPayload, d.Payload)
	b = appendString(b, deadLetterEncoding, d.Encoding)
	return appendBool(b, deadLetterTruncated, d.Truncated)
}

func appendControl(b []byte, c *contract.Control) []byte {
	b = grow(b, 64+len(c.ID)+len(c.By))
	b = appendString(b, controlID, c.ID)
	b = appendTime(b, controlAt, c.At)
	b = appendString(b, controlWhat, c.What)
	b = appendInt(b, controlRulesVersion, int64(c.RulesVersion))
	return appendString(b, controlBy, c.By)
}

// appendTag and appendUvarint are protowire's AppendTag and AppendVarint
// with the one-byte case inlined: every tag of the schema and most
// lengths and numbers take one byte.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return appendUvarint(b, uint64(num)<<3|uint64(typ))
}

func appendUvarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	s = validUTF8(s)
	b = appendTag(b, num, protowire.BytesType)
	return append(appendUvarint(b, uint64(len(s))), s...)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, protowire.VarintType)
	return appendUvarint(b, v)
}

// appendInt writes an int64 field: a negative value takes ten bytes, as
// protobuf's int64 does.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	return appendVarint(b, num, uint64(v))
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return append(appendTag(b, num, protowire.VarintType), 1)
}

// appendDouble writes a double field unless it is +0 (-0 is written, as
// the protobuf runtimes do).
func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 {
		return b
	}
	b = appendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, bits)
}

// appendTime writes t as a google.protobuf.Timestamp, or nothing when t is
// the zero time.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	sec, nsec := uint64(t.Unix()), uint64(t.Nanosecond())
	n := 0
	if sec != 0 {
		n += 1 + protowire.SizeVarint(sec)
	}
	if nsec != 0 {
		n += 1 + protowire.SizeVarint(nsec)
	}
	b = appendTag(b, num, protowire.BytesType)
	b = append(b, byte(n)) // at most 1+10+1+5 bytes: one byte of length
	b = appendVarint(b, timestampSeconds, sec)
	return appendVarint(b, timestampNanos, nsec)
}

// beginMessage starts an embedded message: its tag and one byte of length
// that endMessage fills in, moving the body when it takes more.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = appendTag(b, num, protowire.BytesType)
	at := len(b)
	return append(b, 0), at
}

func endMessage(b []byte, at int) []byte {
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size-1)...)
	copy(b[at+size:], b[at+1:at+1+n])
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

// Reading. A field of a number the schema does not have is skipped, as
// protobuf readers do, so that a newer writer may add fields; a known field
// of another wire type, bytes cut short and strings that are not UTF-8 are
// errors.

// wireReader reads one record. Its strings are cut from s, one copy of the
// whole record, so that a record's strings cost one allocation together.
// The first error stops it; every method then returns zero values.
type wireReader struct {
	b   []byte
	s   string
	pos int // next byte to read
	end int // end of the message being read
	err error
}

func newWireReader(b []byte) wireReader {
	return wireReader{b: b, s: string(b), end: len(b)}
}

// errWireType is wrapped by the error of a known field with another wire
// type than the schema's.
var errWireType = errors.New("wrong wire type")

// next returns the next field's number and wire type, or false at the
// end of the message or after an error. Here and below, the one-byte case
// of a tag, a varint or a length is read inline, and protowire reads the
// rest.
func (r *wireReader) next() (protowire.Number, protowire.Type, bool) {
	if r.err != nil || r.pos >= r.end {
		return 0, 0, false
	}
	if c := r.b[r.pos]; c < 0x80 && c>>3 != 0 {
		r.pos++
		return protowire.Number(c >> 3), protowire.Type(c & 7), true
	}
	num, typ, n := protowire.ConsumeTag(r.b[r.pos:r.end])
	if n < 0 {
		r.err = fmt.Errorf("at byte %d: %w", r.pos, protowire.ParseError(n))
		return 0, 0, false
	}
	r.pos += n
	return num, typ, true
}

// skip passes over a field this version does not know.
func (r *wireReader) skip(num protowire.Number, typ protowire.Type) {
	n := protowire.ConsumeFieldValue(num, typ, r.b[r.pos:r.end])
	if n < 0 {
		r.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		return
	}
	r.pos += n
}

func (r *wireReader) want(num protowire.Number, typ, want protowire.Type) bool {
	if typ != want {
		if r.err == nil {
			r.err = fmt.Errorf("field %d: %w %d, want %d", num, errWireType, typ, want)
		}
		return false
	}
	return true
}

func (r *wireReader) varint(num protowire.Number, typ protowire.Type) uint64 {
	if !r.want(num, typ, protowire.VarintType) {
		return 0
	}
	if r.pos < r.end && r.b[r.pos] < 0x80 {
		r.pos++
		return uint64(r.b[r.pos-1])
	}
	v, n := protowire.ConsumeVarint(r.b[r.pos:r.end])
	if n < 0 {
		r.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		return 0
	}
	r.pos += n
	return v
}

func (r *wireReader) int(num protowire.Number, typ protowire.Type) int {
	return int(r.varint(num, typ))
}

func (r *wireReader) bool(num protowire.Number, typ protowire.Type) bool {
	return r.varint(num, typ) != 0
}

func (r *wireReader) double(num protowire.Number, typ protowire.Type) float64 {
	if !r.want(num, typ, protowire.Fixed64Type) {
		return 0
	}
	v, n := protowire.ConsumeFixed64(r.b[r.pos:r.end])
	if n < 0 {
		r.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		return 0
	}
	r.pos += n
	return math.Float64frombits(v)
}

// bytes returns where a length-delimited field's content starts and ends.
func (r *wireReader) bytes(num protowire.Number, typ protowire.Type) (int, int, bool) {
	if !r.want(num, typ, protowire.BytesType) {
		return 0, 0, false
	}
	if r.pos < r.end && r.b[r.pos] < 0x80 && r.pos+1+int(r.b[r.pos]) <= r.end {
		l := int(r.b[r.pos])
		r.pos += 1 + l
		return r.pos - l, r.pos, true
	}
	v, n := protowire.ConsumeBytes(r.b[r.pos:r.end])
	if n < 0 {
		r.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		return 0, 0, false
	}
	r.pos += n
	return r.pos - len(v), r.pos, true
}

func (r *wireReader) string(num protowire.Number, typ protowire.Type) string {
	from, to, ok := r.bytes(num, typ)
	if !ok {
		return ""
	}
	s := r.s[from:to]
	if !utf8.ValidString(s) {
		r.err = fmt.Errorf("field %d: string is not valid UTF-8", num)
		return ""
	}
	return s
}

// message returns a reader of an embedded message and goes on after it;
// join takes back the embedded reader's error.
func (r *wireReader) message(num protowire.Number, typ protowire.Type) wireReader {
	from, to, ok := r.bytes(num, typ)
	if !ok {
		return wireReader{}
	}
	return wireReader{b: r.b, s: r.s, pos: from, end: to}
}

func (r *wireReader) join(m *wireReader) {
	if r.err == nil {
		r.err = m.err
	}
}

// time reads a google.protobuf.Timestamp; present, it is never the zero
// time unless it says 0001-01-01T00:00:00Z.
func (r *wireReader) time(num protowire.Number, typ protowire.Type) time.Time {
	var sec, nsec int64
	m := r.message(num, typ)
	for n, t, ok := m.next(); ok; n, t, ok = m.next() {
		switch n {
		case timestampSeconds:
			sec = int64(m.varint(n, t))
		case timestampNanos:
			nsec = int64(int32(m.varint(n, t)))
		default:
			m.skip(n, t)
		}
	}
	r.join(&m)
	return time.Unix(sec, nsec).UTC()
}

// count returns how many fields num the rest of the message holds, to
// size a slice once; it is called after the first one was read.
func (r *wireReader) count(num protowire.Number) int {
	c := 0
	for b := r.b[r.pos:r.end]; len(b) > 0; {
		n, t, m := protowire.ConsumeTag(b)
		if m < 0 {
			break
		}
		if n == num {
			c++
		}
		if k := protowire.ConsumeFieldValue(n, t, b[m:]); k >= 0 {
			b = b[m+k:]
		} else {
			break
		}
	}
	return c
}

func (r *wireReader) reading(v *contract.Reading) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case readingID:
			v.ID = r.string(num, typ)
		case readingKind:
			v.Kind = contract.Kind(r.string(num, typ))
		case readingDevice:
			v.Device = r.string(num, typ)
		case readingChannel:
			v.Channel = contract.Channel(r.string(num, typ))
		case readingTS:
			v.TS = r.time(num, typ)
		case readingSeq:
			v.Seq = r.varint(num, typ)
		case readingEvent:
			v.Event = r.string(num, typ)
		case readingValues:
			if v.Values == nil {
				v.Values = make(map[string]float64)
			}
			var k string
			var x float64
			m := r.message(num, typ)
			for n, t, ok := m.next(); ok; n, t, ok = m.next() {
				switch n {
				case mapKey:
					k = m.string(n, t)
				case mapValue:
					x = m.double(n, t)
				default:
					m.skip(n, t)
				}
			}
			r.join(&m)
			v.Values[k] = x
		case readingPorts:
			var p contract.Port
			m := r.message(num, typ)
			m.port(&p)
			r.join(&m)
			if v.Ports == nil {
				v.Ports = make([]contract.Port, 0, 1+r.count(readingPorts))
			}
			v.Ports = append(v.Ports, p)
		case readingReceivedAt:
			v.ReceivedAt = r.time(num, typ)
		case readingSite:
			v.Site = r.string(num, typ)
		case readingZone:
			v.Zone = r.string(num, typ)
		case readingCommunity:
			v.Community = r.string(num, typ)
		case readingStation:
			v.Station = r.string(num, typ)
		case readingLocation:
			m := r.message(num, typ)
			for n, t, ok := m.next(); ok; n, t, ok = m.next() {
				switch n {
				case pointLon:
					v.Location.Lon = m.double(n, t)
				case pointLat:
					v.Location.Lat = m.double(n, t)
				default:
					m.skip(n, t)
				}
			}
			r.join(&m)
		case readingClockSkewed:
			v.ClockSkewed = r.bool(num, typ)
		case readingDeviceTS:
			v.DeviceTS = r.time(num, typ)
		case readingMedia:
			v.Media = append(v.Media, r.string(num, typ))
		default:
			r.skip(num, typ)
		}
	}
}

func (r *wireReader) port(p *contract.Port) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case portPort:
			p.Port = r.int(num, typ)
		case portCurrentA:
			p.CurrentA = r.double(num, typ)
		case portPowerW:
			p.PowerW = r.double(num, typ)
		case portTempC:
			p.TempC = r.double(num, typ)
		case portState:
			p.State = r.string(num, typ)
		default:
			r.skip(num, typ)
		}
	}
}

// signal reads a signal; its value, if any, goes to *value.
func (r *wireReader) signal(s *contract.Signal, value *float64) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case signalID:
			s.ID = r.string(num, typ)
		case signalRule:
			s.Rule = r.string(num, typ)
		case signalAction:
			s.Action = contract.Action(r.string(num, typ))
		case signalType:
			s.Type = r.string(num, typ)
		case signalSeverity:
			s.Severity = contract.Severity(r.string(num, typ))
		case signalDispatchable:
			s.Dispatchable = r.bool(num, typ)
		case signalKind:
			s.Kind = contract.Kind(r.string(num, typ))
		case signalDevice:
			s.Device = r.string(num, typ)
		case signalSite:
			s.Site = r.string(num, typ)
		case signalPort:
			s.Port = r.int(num, typ)
		case signalMessage:
			s.Message = r.string(num, typ)
		case signalEvent:
			s.Event = r.string(num, typ)
		case signalValue:
			*value = r.double(num, typ)
			s.Value = value
		case signalAt:
			s.At = r.time(num, typ)
		case signalReceivedAt:
			s.ReceivedAt = r.time(num, typ)
		case signalCommand:
			s.Command = r.string(num, typ)
		case signalDetail:
			s.Detail = r.string(num, typ)
		case signalPeriod:
			s.Period = contract.Period(r.string(num, typ))
		case signalConfirmed:
			s.Confirmed = r.bool(num, typ)
		case signalNotify119:
			s.Notify119 = r.bool(num, typ)
		case signalFlapping:
			s.Flapping = r.bool(num, typ)
		case signalSuppressed:
			s.Suppressed = r.string(num, typ)
		case signalRelated:
			x := r.string(num, typ)
			if s.Related == nil {
				s.Related = make([]string, 0, 1+r.count(signalRelated))
			}
			s.Related = append(s.Related, x)
		case signalClockSkewed:
			s.ClockSkewed = r.bool(num, typ)
		default:
			r.skip(num, typ)
		}
	}
}

func (r *wireReader) command(c *contract.Command) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case commandKind:
			c.Kind = contract.Kind(r.string(num, typ))
		case commandDevice:
			c.Device = r.string(num, typ)
		case commandCmd:
			c.Cmd = r.string(num, typ)
		case commandPort:
			c.Port = r.int(num, typ)
		case commandReason:
			c.Reason = r.string(num, typ)
		case commandIncident:
			c.Incident = r.string(num, typ)
		case commandSignal:
			c.Signal = r.string(num, typ)
		default:
			r.skip(num, typ)
		}
	}
}

func (r *wireReader) deadLetter(d *contract.DeadLetter) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case deadLetterAt:
			d.At = r.time(num, typ)
		case deadLetterReason:
			d.Reason = contract.Reason(r.string(num, typ))
		case deadLetterDetail:
			d.Detail = r.string(num, typ)
		case deadLetterTopic:
			d.Topic = r.string(num, typ)
		case deadLetterSize:
			d.Size = r.int(num, typ)
		case deadLetterPayload:
			d.Payload = r.string(num, typ)
		case deadLetterEncoding:
			d.Encoding = r.string(num, typ)
		case deadLetterTruncated:
			d.Truncated = r.bool(num, typ)
		default:
			r.skip(num, typ)
		}
	}
}

func (r *wireReader) control(c *contract.Control) {
	for num, typ, ok := r.next(); ok; num, typ, ok = r.next() {
		switch num {
		case controlID:
			c.ID = r.string(num, typ)
		case controlAt:
			c.At = r.time(num, typ)
		case controlWhat:
			c.What = r.string(num, typ)
		case controlRulesVersion:
			c.RulesVersion = r.int(num, typ)
		case controlBy:
			c.By = r.string(num, typ)
		default:
			r.skip(num, typ)
		}
	}
}
