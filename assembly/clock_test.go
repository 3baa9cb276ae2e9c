package assembly

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// homes returns n smoke detectors that speak for themselves, each of a
// different home.
func homes(t *testing.T, reg *devices.Registry, n int) []*devices.Device {
	t.Helper()
	seen := map[string]bool{}
	var out []*devices.Device
	for _, d := range reg.Devices(contract.KindSmoke) {
		if site, ok := reg.Site(d.Site); !ok || site.Type != "household" || seen[d.Site] || d.Addresses() != (devices.Addresses{}) {
			continue
		}
		seen[d.Site] = true
		out = append(out, d)
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("fewer than %d homes with a smoke detector", n)
	return nil
}

// TestClockStepsMoveNoDeadline: the system clock steps an hour forward
// with three fires waiting for their crews. No deadline falls due and no
// device looks silent because of it; /healthz says the clock stepped; the
// ack deadlines still fall due once a minute has passed. Stepped back two
// hours, a new fire's deadline falls due a minute later, not three hours.
func TestClockStepsMoveNoDeadline(t *testing.T) {
	ctx := context.Background()
	v, err := StartVirtual(ctx, testConfig(t), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Armed(); err != nil {
		t.Fatal(err)
	}
	s := v.Processes[0]
	fire := func(devs ...*devices.Device) {
		t.Helper()
		for i, d := range devs {
			if err := v.Publish(ctx, contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent), 1, false, []byte(alarmPayload(i+1, v.Clock.Now()))); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// count counts the changes of an event (of the homes' sites when any
	// is given) since the last count, and the devices taken for silent.
	count := func(event string, of ...*devices.Device) (n int, offline int) {
		changes, _ := v.Observe()
		for _, c := range changes {
			mine := len(of) == 0
			for _, d := range of {
				mine = mine || c.Incident.Site == d.Site
			}
			if c.Event == event && mine {
				n++
			}
			if c.Event == contract.EventOpened && c.Incident.Type == "offline" {
				offline++
			}
		}
		return n, offline
	}
	step := func(d time.Duration) {
		t.Helper()
		v.Clock.Advance(d)
		if err := v.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hs := homes(t, s.Registry, 4)
	fire(hs[:3]...)
	if opened, _ := count(contract.EventOpened); opened != 3 {
		t.Fatalf("%d fires opened, want 3", opened)
	}

	v.Clock.Jump(time.Hour)
	for range 10 {
		step(time.Second)
	}
	if esc, offline := count(contract.EventEscalated); esc != 0 || offline != 0 {
		t.Fatalf("an hour's step forward escalated %d fires and took %d devices for silent; want none", esc, offline)
	}
	if code, problems := health(t, s.HTTPAddr); code != http.StatusServiceUnavailable || len(problems) != 1 || problems[0].Check != "clock" {
		t.Errorf("/healthz %d %+v after the step; want 503 naming the clock", code, problems)
	}
	if off := metric(t, s.HTTPAddr, "firegrid_clock_offset_seconds"); off != 3600 {
		t.Errorf("firegrid_clock_offset_seconds %v, want 3600", off)
	}
	step(50 * time.Second) // a minute since the fires
	if esc, _ := count(contract.EventEscalated); esc != 3 {
		t.Errorf("%d fires escalated a minute after they opened, want 3", esc)
	}

	v.Clock.Jump(-2 * time.Hour)
	fire(hs[3])
	count(contract.EventEscalated)
	step(30 * time.Second)
	if esc, _ := count(contract.EventEscalated, hs[3]); esc != 0 {
		t.Fatalf("the new fire escalated after 30s")
	}
	step(31 * time.Second)
	if esc, _ := count(contract.EventEscalated, hs[3]); esc != 1 {
		t.Errorf("%d escalations a minute after the new fire (the clock stepped back two hours), want 1", esc)
	}
}
