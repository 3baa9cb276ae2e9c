package ingest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// BenchmarkSourceDecoders measures each field source's decoder on a
// golden uplink, and the whole Accept of a GB/T 26875.3 frame (decode,
// check, enrich, publish to a discarding pipeline).
func BenchmarkSourceDecoders(b *testing.B) {
	cs, _ := os.ReadFile("testdata/chirpstack/up-alarm/input.json")
	ctw, _ := os.ReadFile("testdata/ctwing/event-report-alarm/input.json")
	one, _ := os.ReadFile("testdata/onenet/data-points/input.json")
	for _, c := range []struct {
		name, source, topic string
		payload             []byte
	}{
		{"gb26875-component-fire", contract.SourceGB26875, "gb26875/0000A0010001", goldenFrame(b, "component-fire")},
		{"gb26875-heartbeat", contract.SourceGB26875, "gb26875/0000A0010001", goldenFrame(b, "unit-heartbeat")},
		{"chirpstack-up", contract.SourceChirpStack, "application/a/device/70b3d57ed0001001/event/up", cs},
		{"ctwing-event", contract.SourceCTWing, "/push/ctwing", ctw},
		{"onenet-points", contract.SourceOneNET, "/push/onenet", one},
	} {
		dec := testDecoder(b, c.source)
		u := &contract.Uplink{Source: c.source, Topic: c.topic, Payload: c.payload, ReceivedAt: time.Now()}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.DecodeUplink(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	in, err := New(DefaultConfig(), Options{Registry: fieldRegistry(b), Publisher: contract.PublisherFunc(func(context.Context, ...contract.Record) error { return nil }),
		Sources: map[string]SourceDecoder{contract.SourceGB26875: testDecoder(b, contract.SourceGB26875)}})
	if err != nil {
		b.Fatal(err)
	}
	frame := goldenFrame(b, "component-fire")
	b.Run("accept-gb26875-frame", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			if err := in.Accept(ctx, &contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/0000A0010001", Payload: frame}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
