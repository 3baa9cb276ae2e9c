package simulator

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// nopAsync takes every message at once.
type nopAsync struct{ n *atomic.Int64 }

func (p nopAsync) PublishAsync(_ string, _ byte, payload []byte, done func(error)) {
	if len(payload) > 0 {
		p.n.Add(1)
	}
	done(nil)
}
func (nopAsync) Close() error { return nil }

// TestLoadPacesAndCounts: a load run publishes at its rate over its
// connections, mixes in alarms at their share, and reports what it did.
func TestLoadPacesAndCounts(t *testing.T) {
	var n atomic.Int64
	var progress strings.Builder
	res, err := Load(context.Background(), LoadConfig{Devices: 100, Rate: 2000, Duration: time.Second, Connections: 3, QoS: 1,
		AlarmShare: 0.05, Progress: &progress, Publishers: func(int) (AsyncPublisher, error) { return nopAsync{&n}, nil }}, demoDevices(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 1500 || res.Sent > 2100 || res.Acked != res.Sent || n.Load() != res.Sent {
		t.Errorf("sent %d, acked %d, published %d; want about 2000 each", res.Sent, res.Acked, n.Load())
	}
	if share := float64(res.Alarms) / float64(res.Sent); share < 0.04 || share > 0.06 {
		t.Errorf("alarms %d of %d, want a share of 0.05", res.Alarms, res.Sent)
	}
	if res.Config.Connections != 3 || len(res.Series) == 0 || !strings.Contains(progress.String(), "msg/s") {
		t.Errorf("connections %d, %d samples, progress %q", res.Config.Connections, len(res.Series), progress.String())
	}
}

func TestPercentiles(t *testing.T) {
	var ms []float64
	for i := 100; i >= 1; i-- {
		ms = append(ms, float64(i))
	}
	if got := percentiles(ms); got != (Percentiles{P50: 50, P90: 90, P99: 99, Max: 100}) {
		t.Errorf("percentiles = %+v", got)
	}
	if got := percentiles(nil); got != (Percentiles{}) {
		t.Errorf("percentiles(nil) = %+v", got)
	}
}

// BenchmarkPublishRate is the simulator's own publishing rate, so that it
// is never what limits a load test: a load generator's message (a
// heartbeat from the device models, or an alarm, stamped and encoded)
// handed to a publisher that takes it at once; and a scenario timeline's
// publication (fleet and steps merged, stamped, encoded).
func BenchmarkPublishRate(b *testing.B) {
	b.Run("load", func(b *testing.B) {
		g, err := newLoadGen(demoDevices(), 1, 0.01, 1)
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		pub := nopAsync{&n}
		now := FixtureTime()
		done := func(error) {}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			topic, payload, _ := g.next(now)
			pub.PublishAsync(topic, 1, payload, done)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})
	b.Run("timeline", func(b *testing.B) {
		f, err := NewFleet(demoDevices(), FleetConfig{}, 1)
		if err != nil {
			b.Fatal(err)
		}
		tl, err := NewTimeline(f, nil)
		if err != nil {
			b.Fatal(err)
		}
		rec := PublisherFunc(func(context.Context, string, byte, bool, []byte) error { return nil })
		ctx := context.Background()
		t0 := FixtureTime()
		var buf []byte
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p, _ := tl.Next()
			p.Payload = buf[:0]
			p.Stamp(t0.Add(p.At))
			buf = p.Payload
			_ = rec.Publish(ctx, p.Topic, p.QoS, p.Retained, p.Payload)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})
}

// TestLoadDevicesPutsSmokeDetectorsFirst: a small load publishes from
// smoke detectors first, so its alarms have detectors to come from.
func TestLoadDevicesPutsSmokeDetectorsFirst(t *testing.T) {
	devs := append(fieldDevices(), demoDevices()...)
	got := loadDevices(devs, 10)
	for _, d := range got {
		if d.Kind != contract.KindSmoke {
			t.Fatalf("%s (%s) among the first 10", d.ID, d.Kind)
		}
	}
	if all := loadDevices(devs, len(devs)); len(all) != len(devs) || all[len(all)-1].Kind == contract.KindSmoke {
		t.Errorf("all: %d devices, last %s", len(all), all[len(all)-1].Kind)
	}
}
