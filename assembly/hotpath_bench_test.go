package assembly

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/simulator"
)

// hotPathSenders is how many goroutines hand uplinks to serve at once in
// the hot-path benchmark, as that many device connections would.
const hotPathSenders = 8

// uplinks are pre-made device messages for the hot-path benchmark: each
// sender's own devices' telemetry, stamped now, in order.
type uplinks [hotPathSenders][]contract.Uplink

// makeUplinks makes n telemetry uplinks of the fleet's devices (smoke
// heartbeats, hydrant pressure, charger ports, as the fleet mixes them),
// dealt to the senders by device so that each device's messages stay in
// order. The fleet goes on where the last call stopped, so that every
// message is new to ingest and the rules (a higher seq, a later ts).
func makeUplinks(f *simulator.Fleet, n int) *uplinks {
	var u uplinks
	now := time.Now()
	for i := range n {
		p, ok := f.Next()
		if !ok {
			panic("fleet ran dry")
		}
		p.Stamp(now.Add(time.Duration(i) * time.Microsecond))
		s := senderOf(p.Device())
		u[s] = append(u[s], contract.Uplink{Topic: p.Topic, Payload: p.Payload})
	}
	return &u
}

// senderOf deals a device to a sender (FNV-1a of its id).
func senderOf(device string) int {
	h := uint32(2166136261)
	for i := 0; i < len(device); i++ {
		h ^= uint32(device[i])
		h *= 16777619
	}
	return int(h % hotPathSenders)
}

// send hands every uplink to accept from hotPathSenders goroutines and
// returns once all are accepted.
func (u *uplinks) send(b *testing.B, accept func(context.Context, *contract.Uplink) error) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for s := range u {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range u[s] {
				if err := accept(ctx, &u[s][i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// cpuTime is the process's CPU time so far, user and system, every
// goroutine's (the bus's consumers, the journal, the collector).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Skipf("no getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHotPath is the whole in-process path of one telemetry message
// in serve: from the seam the embedded broker's hook calls (the journal,
// then ingest: decode, check, enrich, publish on the in-process bus) until
// the rules have evaluated it (and the console's recent values have it).
// cpu-µs/msg is the CPU the process spent, every goroutine together,
// divided by the messages: the figure the goal of 10 µs is about; ns/op is
// wall time with the work spread over the cores. Beside it, in the same
// run: the path without the journal, the journal's write alone, and the
// reference, encoding/json decoding the same bytes into the contract's
// message.
func BenchmarkHotPath(b *testing.B) {
	cfg := DefaultConfig()
	cfg.HTTP, cfg.MQTT.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", "127.0.0.1:0", b.TempDir(), "error"
	ctx := context.Background()
	p, err := Start(ctx, Serve, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// Serve's journal in front of ingest, built as serve builds it, in a
	// directory of its own.
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	jcfg := cfg
	jcfg.Data = b.TempDir()
	e := &env{ctx: ctx, cfg: jcfg, log: slog.New(slog.DiscardHandler), clock: clock.Real{}, metrics: prometheus.NewRegistry(), closers: &closers}
	if _, err := buildJournal(e); err != nil {
		b.Fatal(err)
	}
	k := e.keeper
	k.next = p.Ingester.Accept
	fleet, err := simulator.NewFleet(p.Registry.Devices(""), simulator.FleetConfig{Jitter: -1}, 1)
	if err != nil {
		b.Fatal(err)
	}
	// Every device's state exists in the rules before measuring.
	makeUplinks(fleet, 4*fleet.Len()).send(b, k.accept)
	if err := syncPipeline(ctx, p); err != nil {
		b.Fatal(err)
	}

	path := func(accept func(context.Context, *contract.Uplink) error) func(b *testing.B) {
		return func(b *testing.B) {
			u := makeUplinks(fleet, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime(b)
			u.send(b, accept)
			if err := syncPipeline(ctx, p); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/1000/float64(b.N), "cpu-µs/msg")
		}
	}
	b.Run("accept-to-rules", path(k.accept))
	b.Run("accept-to-rules-without-journal", path(p.Ingester.Accept))
	b.Run("journal", func(b *testing.B) {
		u := makeUplinks(fleet, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime(b)
		u.send(b, func(ctx context.Context, u *contract.Uplink) error {
			u.ReceivedAt = time.Now()
			seq, err := k.j.Append(u, false)
			k.j.Done(seq)
			return err
		})
		b.StopTimer()
		b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/1000/float64(b.N), "cpu-µs/msg")
	})
	b.Run("encoding-json", func(b *testing.B) {
		u := makeUplinks(fleet, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := cpuTime(b)
		u.send(b, func(_ context.Context, u *contract.Uplink) error {
			var m struct {
				TS     string         `json:"ts"`
				Seq    uint64         `json:"seq"`
				Event  string         `json:"event"`
				Values map[string]any `json:"values"`
				Media  []string       `json:"media"`
			}
			return json.Unmarshal(u.Payload, &m)
		})
		b.StopTimer()
		b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/1000/float64(b.N), "cpu-µs/msg")
	})
}

// syncPipeline returns once everything handed to serve's bus so far has
// been handled, and what that caused too.
func syncPipeline(ctx context.Context, p *Process) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for range 2 {
		if err := p.Memory.Sync(ctx); err != nil {
			return err
		}
	}
	return nil
}
