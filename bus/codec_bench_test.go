package bus_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/firegrid/firegrid/bus"
	pb "github.com/firegrid/firegrid/bus/proto/firegrid/v1"
	"github.com/firegrid/firegrid/contract"
)

// BenchmarkCodec encodes and decodes one record, as Kafka's Publish and a
// consumer do (Append to a nil buffer, then Decode), with:
//
//   - proto: the proto/1 codec the Kafka bus writes by default;
//   - json: encoding/json, the reference (json/1, what the bus wrote
//     before, and still writes for incidents);
//   - generated: the same protobuf records through the schema's generated
//     types (a copy from the contract, proto.Marshal, proto.Unmarshal and a
//     copy back), the alternative proto/1 was measured against.
//
// Besides ns/op, each reports cpu-ns/op, the process's CPU time (user and
// system, garbage collection included) per record: on a machine whose
// cores are shared, ns/op counts the time spent waiting for a core too.
// Compare within one run: on a shared machine only the ratios hold
// (README, "Kafka records").
func BenchmarkCodec(b *testing.B) {
	recs := benchRecords()
	codecs := []struct {
		name string
		of   func(topic string) bus.Codec
	}{
		{"proto", func(topic string) bus.Codec { return bus.ProtoCodecs()[topic] }},
		{"json", func(topic string) bus.Codec { return bus.JSONCodecs()[topic] }},
		{"generated", func(topic string) bus.Codec { return generatedCodec{topic} }},
	}
	for _, c := range codecs {
		b.Run(c.name, func(b *testing.B) {
			for _, r := range recs {
				codec := c.of(r.topic)
				b.Run(r.name, func(b *testing.B) {
					size := 0
					b.ReportAllocs()
					cpu0, cpuOK := cpuTime()
					for b.Loop() {
						buf, err := codec.Append(nil, r.v)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := codec.Decode(buf); err != nil {
							b.Fatal(err)
						}
						size = len(buf)
					}
					if cpu1, ok := cpuTime(); ok && cpuOK {
						b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
					}
					b.ReportMetric(float64(size), "bytes/record")
				})
			}
		})
	}
}

// generatedCodec is proto/1 through the generated types.
type generatedCodec struct{ topic string }

func (generatedCodec) Name() string { return "proto/1" }

func (c generatedCodec) Append(dst []byte, v any) ([]byte, error) {
	var m proto.Message
	switch v := v.(type) {
	case *contract.Reading:
		m = readingToPB(v)
	case *contract.Signal:
		m = signalToPB(v)
	case *contract.Command:
		m = commandToPB(v)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, m)
}

func (c generatedCodec) Decode(b []byte) (any, error) {
	switch c.topic {
	case contract.TopicSignals:
		var m pb.Signal
		if err := proto.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		return signalFromPB(&m), nil
	case contract.TopicCommands:
		var m pb.Command
		if err := proto.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		return commandFromPB(&m), nil
	}
	var m pb.Reading
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return readingFromPB(&m), nil
}
