package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// kept is a pipeline that keeps what ingest hands it.
type kept struct {
	mu   sync.Mutex
	recs []contract.Record
}

func (k *kept) Publish(_ context.Context, recs ...contract.Record) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.recs = append(k.recs, recs...)
	return nil
}

func newIngester(t *testing.T, now time.Time) (*Ingester, *kept) {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	k := &kept{}
	in, err := New(DefaultConfig(), Options{Registry: reg, Publisher: k, Clock: clock.NewFake(now)})
	if err != nil {
		t.Fatal(err)
	}
	return in, k
}

// TestAlarmWithAWrongClockReachesThePipeline: an alarm whose ts is far
// ahead or far behind is taken at its receive time and flagged, never
// dead-lettered; telemetry from the future still is.
func TestAlarmWithAWrongClockReachesThePipeline(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	in, k := newIngester(t, now)
	for _, ts := range []time.Time{now.Add(48 * time.Hour), now.Add(-30 * 24 * time.Hour)} {
		payload := fmt.Sprintf(`{"ts":%d,"seq":7,"event":"alarm"}`, ts.UnixMilli())
		if err := in.Accept(context.Background(), &contract.Uplink{Topic: "fg/v1/smoke/SD-0001/event", Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	future := fmt.Sprintf(`{"ts":%d,"seq":8,"values":{"temp_c":21}}`, now.Add(48*time.Hour).UnixMilli())
	if err := in.Accept(context.Background(), &contract.Uplink{Topic: "fg/v1/smoke/SD-0001/telemetry", Payload: []byte(future)}); err != nil {
		t.Fatal(err)
	}
	if len(k.recs) != 3 {
		t.Fatalf("%d records, want 3", len(k.recs))
	}
	for i, r := range k.recs[:2] {
		rd, ok := r.Value.(*contract.Reading)
		if !ok || r.Topic != contract.TopicEvents {
			t.Fatalf("alarm %d: %s %T, want a reading on the events topic", i, r.Topic, r.Value)
		}
		if !rd.ClockSkewed || !rd.TS.Equal(now) || rd.DeviceTS.IsZero() || rd.Event != "alarm" {
			t.Errorf("alarm %d: skewed %v ts %v device ts %v", i, rd.ClockSkewed, rd.TS, rd.DeviceTS)
		}
		if rd.ID != contract.ReadingID(rd.Kind, rd.Device, rd.Seq, rd.DeviceTS) || rd.ID == contract.ReadingID(rd.Kind, rd.Device, rd.Seq, rd.TS) {
			t.Errorf("alarm %d: id %s is not derived from the device's own ts", i, rd.ID)
		}
	}
	d, ok := k.recs[2].Value.(*contract.DeadLetter)
	if !ok || d.Reason != contract.ReasonFutureTimestamp {
		t.Errorf("future telemetry: %T %+v, want a future_timestamp dead letter", k.recs[2].Value, k.recs[2].Value)
	}
}

// TestReadingsAreEnrichedAndRouted: a reading carries the registry's site,
// zone, community, station and location, and goes to its channel's topic
// keyed by site.
func TestReadingsAreEnrichedAndRouted(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	in, k := newIngester(t, now)
	dev, _ := in.reg.Device("SD-0001")
	for _, ch := range []string{"telemetry", "event"} {
		body := `{"ts":"2026-11-23T08:00:00Z","seq":1,"values":{"temp_c":21}}`
		if ch == "event" {
			body = `{"ts":"2026-11-23T08:00:00Z","seq":2,"event":"fault"}`
		}
		if err := in.Accept(context.Background(), &contract.Uplink{Topic: "fg/v1/smoke/SD-0001/" + ch, Payload: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []string{contract.TopicTelemetry, contract.TopicEvents} {
		r := k.recs[i]
		rd := r.Value.(*contract.Reading)
		if r.Topic != want || r.Key != dev.Site || rd.Site != dev.Site || rd.Zone != dev.Zone() || rd.Community != dev.Community() ||
			rd.Station != dev.Station() || rd.Location != dev.Location || !rd.ReceivedAt.Equal(now) {
			t.Errorf("record %d: %s key %s %+v", i, r.Topic, r.Key, rd)
		}
	}
}
