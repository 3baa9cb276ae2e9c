package bus_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firegrid/firegrid/bus"
	pb "github.com/firegrid/firegrid/bus/proto/firegrid/v1"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/simulator"
)

// protoCodec returns the proto codec of topic.
func protoCodec(t testing.TB, topic string) bus.Codec {
	t.Helper()
	c := bus.ProtoCodecs()[topic]
	if c == nil {
		t.Fatalf("no proto codec for topic %s", topic)
	}
	return c
}

// TestProtoRoundTrip: every topic's value comes back as it was, to the
// nanosecond, zero values and nil maps included.
func TestProtoRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range roundTripRecords() {
		seen[r.topic] = true
		t.Run(r.name, func(t *testing.T) {
			c := protoCodec(t, r.topic)
			if c.Name() != "proto/1" {
				t.Errorf("name %q, want proto/1", c.Name())
			}
			b, err := c.Append(nil, r.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r.v) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, r.v)
			}
			// Appending keeps what dst held.
			b2, err := c.Append([]byte("prefix"), r.v)
			if err != nil || string(b2[:6]) != "prefix" || len(b2) != 6+len(b) {
				t.Errorf("Append after a prefix: %q, %v", b2, err)
			}
		})
	}
	for _, topic := range contract.Topics {
		if !slices.Contains(bus.JSONTopics, topic) && !seen[topic] {
			t.Errorf("no round trip for topic %s", topic)
		}
	}
}

// TestProtoNormalises: what the codec cannot keep, it normalises as the
// JSON codec does: instants in UTC without a monotonic reading, empty
// maps and slices as nil, invalid UTF-8 as U+FFFD.
func TestProtoNormalises(t *testing.T) {
	beijing := time.FixedZone("CST", 8*3600)
	r := enrich(simulator.SmokeAlarm("SD-0001"))
	r.TS = time.Date(2026, 11, 23, 16, 0, 0, 120000001, beijing)
	r.ReceivedAt = time.Now()
	r.Values = map[string]float64{}
	r.Ports = []contract.Port{}
	r.Site = "H-\xff01"
	c := protoCodec(t, contract.TopicTelemetry)
	b, err := c.Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*contract.Reading)
	if got.TS.Location() != time.UTC || !got.TS.Equal(r.TS) || got.TS.Nanosecond() != 120000001 {
		t.Errorf("ts %v, want %v in UTC", got.TS, r.TS.UTC())
	}
	if got.ReceivedAt != r.ReceivedAt.UTC().Round(0) {
		t.Errorf("received_at %#v, want %#v (UTC, no monotonic reading)", got.ReceivedAt, r.ReceivedAt.UTC().Round(0))
	}
	if got.Values != nil || got.Ports != nil {
		t.Errorf("values %#v, ports %#v: want nil for empty", got.Values, got.Ports)
	}
	if got.Site != "H-\uFFFD01" {
		t.Errorf("site %q, want invalid UTF-8 replaced", got.Site)
	}
}

// TestProtoCodecMatchesTheGeneratedTypes: what the codec writes is what
// the schema's generated code reads, field by field by name, and the other
// way round; so any protobuf library reads firegrid's records with
// records.proto.
func TestProtoCodecMatchesTheGeneratedTypes(t *testing.T) {
	for _, r := range roundTripRecords() {
		t.Run(r.name, func(t *testing.T) {
			var want, got proto.Message
			switch v := r.v.(type) {
			case *contract.Reading:
				want, got = readingToPB(v), new(pb.Reading)
			case *contract.Signal:
				want, got = signalToPB(v), new(pb.Signal)
			case *contract.Command:
				want, got = commandToPB(v), new(pb.Command)
			case *contract.DeadLetter:
				want, got = deadLetterToPB(v), new(pb.DeadLetter)
			case *contract.Control:
				want, got = controlToPB(v), new(pb.Control)
			default:
				t.Fatalf("no generated type for %T", v)
			}
			c := protoCodec(t, r.topic)
			b, err := c.Append(nil, r.v)
			if err != nil {
				t.Fatal(err)
			}
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatalf("the generated code does not read the codec's record: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("the generated code reads\n%v\nwant\n%v", got, want)
			}
			wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			back, err := c.Decode(wire)
			if err != nil {
				t.Fatalf("the codec does not read the generated code's record: %v", err)
			}
			if !reflect.DeepEqual(back, r.v) {
				t.Errorf("from the generated code's record\n%+v\nwant\n%+v", back, r.v)
			}
		})
	}
}

// TestProtoCodecReadsEveryField: every field of every message in the
// schema, set by reflection to a value of its own, comes back from the
// codec (decoded, then encoded again) as the generated code wrote it; a
// field added to records.proto and not to the codec fails here.
func TestProtoCodecReadsEveryField(t *testing.T) {
	messages := map[string]proto.Message{
		contract.TopicTelemetry:   new(pb.Reading),
		contract.TopicSignals:     new(pb.Signal),
		contract.TopicCommands:    new(pb.Command),
		contract.TopicDeadLetters: new(pb.DeadLetter),
		contract.TopicControl:     new(pb.Control),
	}
	covered := map[protoreflect.FullName]bool{}
	for topic, m := range messages {
		covered[m.ProtoReflect().Descriptor().FullName()] = true
		t.Run(topic, func(t *testing.T) {
			fill(m.ProtoReflect(), 1)
			wire, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			c := protoCodec(t, topic)
			v, err := c.Decode(wire)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			got := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, m) {
				t.Errorf("through the codec\n%v\nwant\n%v", got, m)
			}
		})
	}
	// Every top-level message of the schema is a topic's.
	msgs := pb.File_firegrid_v1_records_proto.Messages()
	for i := range msgs.Len() {
		d := msgs.Get(i)
		if !covered[d.FullName()] && d.FullName() != "firegrid.v1.Port" && d.FullName() != "firegrid.v1.Point" {
			t.Errorf("message %s is no topic's", d.FullName())
		}
	}
}

// fill sets every field of m to a value derived from its number and seed,
// none of them a zero value.
func fill(m protoreflect.Message, seed int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		n := int(fd.Number())*10 + seed
		scalar := func(fd protoreflect.FieldDescriptor, n int) protoreflect.Value {
			switch fd.Kind() {
			case protoreflect.StringKind:
				return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-é", fd.Name(), n))
			case protoreflect.BoolKind:
				return protoreflect.ValueOfBool(true)
			case protoreflect.Int64Kind:
				return protoreflect.ValueOfInt64(-int64(n) * 1e12)
			case protoreflect.Uint64Kind:
				return protoreflect.ValueOfUint64(uint64(n) << 40)
			case protoreflect.DoubleKind:
				return protoreflect.ValueOfFloat64(float64(n) + 0.25)
			}
			panic(fmt.Sprintf("fill: %s: no value for kind %s", fd.FullName(), fd.Kind()))
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for j := range 3 {
				mp.Set(scalar(fd.MapKey(), n+j).MapKey(), scalar(fd.MapValue(), n+j))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for j := range 3 {
				if fd.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), n+j)
					l.Append(e)
				} else {
					l.Append(scalar(fd, n+j))
				}
			}
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp":
			ts := timestamppb.New(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 1000003 * time.Microsecond))
			m.Set(fd, protoreflect.ValueOfMessage(ts.ProtoReflect()))
		case fd.Message() != nil:
			fill(m.Mutable(fd).Message(), n)
		default:
			m.Set(fd, scalar(fd, n))
		}
	}
}

// TestProtoDecodeRejects: bytes that are not a record of the schema are an
// error, never a half-read value; unknown fields, as a newer writer adds,
// are skipped.
func TestProtoDecodeRejects(t *testing.T) {
	c := protoCodec(t, contract.TopicTelemetry)
	good, err := c.Append(nil, enrich(simulator.SmokeAlarm("SD-0001")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", good[:len(good)-3], "unexpected EOF"},
		{"string as varint", []byte{0x08, 1}, "wrong wire type"}, // field 1 (id) as a varint
		{"invalid UTF-8", []byte{0x0a, 2, 0xff, 0xfe}, "not valid UTF-8"},
		{"field 0", []byte{0x00, 1}, "invalid field number"},
		{"bad varint", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "overflow"},
		{"bad timestamp", []byte{0x2a, 3, 0x08, 0xff, 0xff}, "unexpected EOF"},
		{"end group", []byte{0x0c}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Decode(tc.b)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", v)
			}
			if v != nil {
				t.Errorf("a value with the error: %+v", v)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "proto/1 codec: telemetry record: ") {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
	newer := append(append([]byte(nil), good...), 0xa2, 0x06, 3, 'n', 'e', 'w') // field 100, a string
	newer = append(newer, 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8)                   // field 101, fixed64
	v, err := c.Decode(newer)
	if err != nil {
		t.Fatalf("a record with fields of a newer writer: %v", err)
	}
	if want := enrich(simulator.SmokeAlarm("SD-0001")); !reflect.DeepEqual(v, want) {
		t.Errorf("with fields of a newer writer: %+v, want %+v", v, want)
	}
}

// TestProtoAppendRejects: a value of another topic's type is an error.
func TestProtoAppendRejects(t *testing.T) {
	for _, tc := range []struct {
		topic string
		v     any
	}{
		{contract.TopicTelemetry, &contract.Signal{}},
		{contract.TopicSignals, contract.Signal{}},
		{contract.TopicCommands, (*contract.Command)(nil)},
		{contract.TopicControl, nil},
	} {
		if b, err := protoCodec(t, tc.topic).Append(nil, tc.v); err == nil {
			t.Errorf("%s: %T encoded as %x, want an error", tc.topic, tc.v, b)
		}
	}
	for _, topic := range bus.JSONTopics {
		if _, ok := bus.ProtoCodecs()[topic]; ok {
			t.Errorf("a proto codec for %s: the topic stays JSON", topic)
		}
		if got := bus.DefaultCodecs()[topic].Name(); got != "json/1" {
			t.Errorf("%s written with %s by default, want json/1", topic, got)
		}
	}
	for _, topic := range contract.Topics {
		if c := bus.DefaultCodecs()[topic]; c == nil {
			t.Errorf("no default codec for %s", topic)
		}
	}
}

// FuzzProtoDecode: Decode never panics on any bytes, and returns either an
// error or a value that encodes and decodes again.
func FuzzProtoDecode(f *testing.F) {
	topics := []string{contract.TopicTelemetry, contract.TopicSignals, contract.TopicCommands, contract.TopicDeadLetters, contract.TopicControl}
	index := map[string]byte{}
	for i, t := range topics {
		index[t] = byte(i)
	}
	for _, r := range roundTripRecords() {
		b, err := protoCodec(f, r.topic).Append(nil, r.v)
		if err != nil {
			f.Fatal(err)
		}
		topic := r.topic
		if topic == contract.TopicEvents {
			topic = contract.TopicTelemetry
		}
		f.Add(index[topic], b)
	}
	f.Add(byte(0), []byte{})
	f.Add(byte(0), []byte{0x42, 0x80})
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		c := protoCodec(t, topics[int(which)%len(topics)])
		v, err := c.Decode(b)
		if err != nil {
			if v != nil {
				t.Fatalf("a value with the error %v", err)
			}
			return
		}
		again, err := c.Append(nil, v)
		if err != nil {
			t.Fatalf("decoded %+v, which does not encode: %v", v, err)
		}
		if _, err := c.Decode(again); err != nil {
			t.Fatalf("decoded %+v, encoded again as %x, which does not decode: %v", v, again, err)
		}
	})
}

// TestProtoGeneratedCodeIsCurrent: records.pb.go is what protoc and the
// go.mod's protoc-gen-go make of records.proto (the line naming protoc's
// own version aside).
func TestProtoGeneratedCodeIsCurrent(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc is not on PATH (apt-get install protobuf-compiler): records.pb.go not checked against records.proto")
	}
	if testing.Short() {
		t.Skip("-short: records.pb.go not regenerated")
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "protoc-gen-go")
	if out, err := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go").CombinedOutput(); err != nil {
		t.Fatalf("go build protoc-gen-go: %v\n%s", err, out)
	}
	// The //go:generate line of codec_proto.go, into dir.
	cmd := exec.Command(protoc, "--plugin=protoc-gen-go="+plugin, "-I", "proto", "--go_out="+dir,
		"--go_opt=paths=source_relative", "firegrid/v1/records.proto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	const file = "firegrid/v1/records.pb.go"
	fresh, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("proto", file))
	if err != nil {
		t.Fatal(err)
	}
	protocVersion := regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)
	if !bytes.Equal(protocVersion.ReplaceAll(fresh, nil), protocVersion.ReplaceAll(committed, nil)) {
		t.Errorf("proto/%s is not what records.proto generates: run go generate ./bus", file)
	}
}

// TestProtoIsSmallerThanJSON: what the codec is for, besides speed.
func TestProtoIsSmallerThanJSON(t *testing.T) {
	for _, r := range benchRecords() {
		p, err := protoCodec(t, r.topic).Append(nil, r.v)
		if err != nil {
			t.Fatal(err)
		}
		j, err := bus.JSONCodecs()[r.topic].Append(nil, r.v)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-9s proto/1 %4d bytes, json/1 %4d bytes (%.0f %%)", r.name, len(p), len(j), 100*float64(len(p))/float64(len(j)))
		if len(p) >= len(j) {
			t.Errorf("%s: proto/1 takes %d bytes, json/1 %d", r.name, len(p), len(j))
		}
	}
}

// TestProtoDecodeStopsAtTheEnd: a field cut at the end of an embedded
// message is an error, even when the record's bytes go on after it.
func TestProtoDecodeStopsAtTheEnd(t *testing.T) {
	c := protoCodec(t, contract.TopicTelemetry)
	for _, b := range [][]byte{
		{0x2a, 1, 0x08, 0x01},                   // ts: {seconds: <cut>}, then 0x01 outside it
		{0x7a, 1, 0x09, 0, 0, 0, 0, 0, 0, 0, 0}, // location: {lon: <cut>}
		{0x4a, 1, 0x2a, 0x01, 'x'},              // ports: [{state: <cut>}]
		{0x42, 1, 0x0a, 0x01, 'x'},              // values: {<key cut>}
		{0x30},                                  // seq: <cut>
		{0x0a},                                  // id: <cut>
	} {
		if v, err := c.Decode(b); err == nil {
			t.Errorf("% x decoded as %+v, want an error", b, v)
		}
	}
}

// TestProtoCarriesEveryContractField: every exported field of each
// topic's contract type, set by reflection to a value that is not zero,
// comes back through the codec: a field added to the contract and not to
// the schema fails here.
func TestProtoCarriesEveryContractField(t *testing.T) {
	for _, topic := range contract.Topics {
		if slices.Contains(bus.JSONTopics, topic) {
			continue // JSON
		}
		t.Run(topic, func(t *testing.T) {
			v := contract.NewValue(topic)
			setEvery(t, reflect.ValueOf(v).Elem(), "")
			c := protoCodec(t, topic)
			b, err := c.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, v)
			}
		})
	}
}

// setEvery sets every exported field of v (a struct), recursively, to a
// value that is not zero.
func setEvery(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		name := path + sf.Name
		switch {
		case sf.Type == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(time.Date(2026, 12, 1, 8, 0, i, 123456789, time.UTC)))
		case f.Kind() == reflect.Struct:
			setEvery(t, f, name+".")
		case f.Kind() == reflect.String:
			f.SetString(strings.ToLower(sf.Name) + "-x")
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanInt():
			f.SetInt(int64(i + 2))
		case f.CanUint():
			f.SetUint(uint64(i + 2))
		case f.CanFloat():
			f.SetFloat(float64(i) + 0.5)
		case f.Kind() == reflect.Map && f.Type().Key().Kind() == reflect.String && f.Type().Elem().Kind() == reflect.Float64:
			f.Set(reflect.ValueOf(map[string]float64{"temp_c": 21.5}))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"https://cam.example/1.jpg", "b"}).Convert(f.Type()))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Uint8:
			f.SetBytes([]byte("payload"))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			s := reflect.MakeSlice(f.Type(), 1, 1)
			setEvery(t, s.Index(0), name+".0.")
			f.Set(s)
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Float64:
			x := 7.25
			f.Set(reflect.ValueOf(&x))
		default:
			t.Fatalf("%s: a %s field this test cannot set; teach it", name, f.Type())
		}
	}
}
