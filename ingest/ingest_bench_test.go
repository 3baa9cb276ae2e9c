package ingest

import (
	"context"
	"testing"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// BenchmarkHandleHeartbeat is ingest's whole per-message work for the
// commonest message: decode, check against the registry, enrich, encode and
// hand to the bus (which here has no consumer).
func BenchmarkHandleHeartbeat(b *testing.B) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		b.Fatal(err)
	}
	mb, _ := bus.NewMemory(bus.DefaultMemoryConfig(), nil)
	in, err := New(DefaultConfig(), Options{Registry: reg, Bus: mb})
	if err != nil {
		b.Fatal(err)
	}
	m := simulator.SmokeHeartbeat("SD-0001")
	topic, payload := simulator.Topic(m), simulator.Payload(m)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Handle(ctx, topic, payload); err != nil {
			b.Fatal(err)
		}
	}
}
