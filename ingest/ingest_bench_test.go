package ingest

import (
	"context"
	"testing"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// BenchmarkAcceptHeartbeat is ingest's whole per-message work for the
// commonest message: decode, check against the registry, enrich and hand
// to the pipeline (here a publisher that keeps nothing).
func BenchmarkAcceptHeartbeat(b *testing.B) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		b.Fatal(err)
	}
	discard := contract.PublisherFunc(func(context.Context, ...contract.Record) error { return nil })
	in, err := New(DefaultConfig(), Options{Registry: reg, Publisher: discard})
	if err != nil {
		b.Fatal(err)
	}
	m := simulator.SmokeHeartbeat("SD-0001")
	u := &contract.Uplink{Topic: m.Topic(), Payload: contract.Payload(m)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Accept(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
}
