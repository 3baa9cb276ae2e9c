package assembly

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// stallTelemetry adds a consumer of serve's telemetry that takes nothing
// until the returned function is called (as a sink stuck on a slow
// database would): once its queue is full, the telemetry lane of the
// pipeline is full, and every telemetry message behind it waits.
func stallTelemetry(t *testing.T, s *Process) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	ctx, cancel := context.WithCancel(context.Background())
	g := bus.Group{Name: "test-stalled-telemetry", Topics: []string{contract.TopicTelemetry}}
	if err := s.Memory.Declare(g); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Memory.Consume(ctx, g, func(ctx context.Context, _ contract.Record) error {
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() { release(); cancel(); <-done })
	return release
}

// smokeDevices returns n smoke detectors of s's registry that speak MQTT
// themselves.
func smokeDevices(t *testing.T, s *Process, n int) []*devices.Device {
	t.Helper()
	var out []*devices.Device
	for _, d := range s.Registry.Devices(contract.KindSmoke) {
		if d.Addresses() == (devices.Addresses{}) && len(out) < n {
			out = append(out, d)
		}
	}
	if len(out) < n {
		t.Fatalf("%d smoke detectors that speak MQTT, want %d", len(out), n)
	}
	return out
}

// burst publishes per heartbeats from each device at once (QoS 1, not
// waiting for acknowledgements) and returns the count of those
// acknowledged so far, and a wait for the rest.
func burst(t *testing.T, d *device, devs []*devices.Device, per int) (acked *atomic.Int64, wait func(time.Duration) error) {
	t.Helper()
	acked = new(atomic.Int64)
	var toks []mqtt.Token
	now := time.Now().UTC()
	for i := range per {
		for _, dev := range devs {
			topic := contract.UplinkTopic(contract.KindSmoke, dev.ID, contract.ChannelTelemetry)
			payload := fmt.Sprintf(`{"ts":%q,"seq":%d,"values":{"battery_pct":90,"temp_c":22.5}}`,
				now.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i+1)
			toks = append(toks, d.conn(topic).Publish(topic, 1, false, []byte(payload)))
		}
	}
	errs := make(chan error, len(toks))
	for _, tok := range toks {
		go func() {
			tok.Wait()
			if err := tok.Error(); err != nil {
				errs <- err
				return
			}
			acked.Add(1)
			errs <- nil
		}()
	}
	wait = func(timeout time.Duration) error {
		deadline := time.After(timeout)
		for range toks {
			select {
			case err := <-errs:
				if err != nil {
					return err
				}
			case <-deadline:
				return fmt.Errorf("%d of %d acknowledged within %v", acked.Load(), len(toks), timeout)
			}
		}
		return nil
	}
	return acked, wait
}

// settle waits until f's value has not changed for a while, and returns it.
func settle(f func() uint64) uint64 {
	last := f()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		v := f()
		if v == last {
			return v
		}
		last = v
	}
	return last
}

// TestOverloadSlowsPublishersNotDrops: when the pipeline cannot take
// more, the embedded broker holds the devices' acknowledgements back (they
// wait, as flow control) instead of acknowledging and dropping: at every
// moment what the devices were told was taken is no more than what ingest
// has handed on, and once the pipeline moves again every message is
// acknowledged and accepted, none refused or shed.
func TestOverloadSlowsPublishersNotDrops(t *testing.T) {
	s := startServe(t, "", "", func(c *Config) {
		c.Bus.Partitions, c.Bus.Capacity = 1, 8
		c.MQTT.Flood.Rate = 0 // each device far above a detector's rate
	})
	release := stallTelemetry(t, s)
	devs := smokeDevices(t, s, 4)
	d := connectDevices(t, s)
	for _, dev := range devs {
		d.conn(contract.UplinkTopic(contract.KindSmoke, dev.ID, contract.ChannelTelemetry))
	}
	const per = 50
	total := int64(per * len(devs))
	before := s.Ingester.Taken()
	acked, wait := burst(t, d, devs, per)

	// Stalled: ingest takes what the lane holds, then nothing.
	taken := settle(func() uint64 { return s.Ingester.Taken() - before })
	if a := acked.Load(); a > int64(taken) {
		t.Errorf("stalled: the devices were told %d messages were taken; ingest had handed on %d", a, taken)
	}
	if int64(taken) >= total {
		t.Fatalf("stalled: ingest took all %d messages; the lane did not fill (the test proves nothing)", total)
	}
	t.Logf("stalled: %d of %d acknowledged, %d handed on by ingest", acked.Load(), total, taken)

	release()
	if err := wait(20 * time.Second); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	if got := int64(s.Ingester.Taken() - before); got != total {
		t.Errorf("ingest took %d, want %d", got, total)
	}
	if got := metric(t, s.HTTPAddr, `firegrid_ingest_messages_accepted_total{kind="smoke"}`); int64(got) != total {
		t.Errorf("accepted %v, want %d (every acknowledged message accepted)", got, total)
	}
	for _, series := range []string{`firegrid_broker_refused_total{reason="not_kept"}`, "firegrid_broker_messages_dropped_total"} {
		if v := metric(t, s.HTTPAddr, series); v != 0 {
			t.Errorf("%s = %v, want 0", series, v)
		}
	}
	if err := syncPipeline(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := metric(t, s.HTTPAddr, "firegrid_rules_readings_evaluated_total"); int64(got) < total {
		t.Errorf("the rules evaluated %v readings, want at least %d", got, total)
	}
}

// TestAlarmOvertakesTelemetryBacklog: a smoke alarm published while a
// backlog of telemetry waits in the pipeline reaches the console before
// the backlog has been taken.
func TestAlarmOvertakesTelemetryBacklog(t *testing.T) {
	s := startServe(t, "", "", func(c *Config) {
		c.Bus.Partitions, c.Bus.Capacity = 1, 8
		c.MQTT.Flood.Rate = 0
	})
	st := openStream(t, s.HTTPAddr)
	release := stallTelemetry(t, s)
	devs := smokeDevices(t, s, 5)
	busy, alarmed := devs[:4], devs[4]
	d := connectDevices(t, s)
	for _, dev := range devs {
		d.conn(contract.UplinkTopic(contract.KindSmoke, dev.ID, contract.ChannelTelemetry))
	}
	const per = 50
	total := uint64(per * len(busy))
	before := s.Ingester.Taken()
	_, wait := burst(t, d, busy, per)
	backlog := settle(func() uint64 { return s.Ingester.Taken() - before })
	if backlog >= total {
		t.Fatalf("ingest took all %d messages; no backlog (the test proves nothing)", total)
	}

	topic := contract.UplinkTopic(contract.KindSmoke, alarmed.ID, contract.ChannelEvent)
	start := time.Now()
	d.publish(topic, alarmPayload(1, start))
	c := st.next(t, 10*time.Second, func(c contract.IncidentChange) bool {
		for _, dev := range c.Incident.Devices {
			if dev == alarmed.ID {
				return true
			}
		}
		return false
	})
	if c.Incident.Type != "fire" {
		t.Errorf("incident type %q, want fire", c.Incident.Type)
	}
	left := total - (s.Ingester.Taken() - before - 1) // the alarm was taken too
	t.Logf("alarm on the console after %v with %d of %d telemetry messages still waiting", time.Since(start).Round(time.Millisecond), left, total)
	if left == 0 {
		t.Error("the telemetry backlog was drained before the alarm reached the console")
	}
	release()
	if err := wait(20 * time.Second); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
}
