package simulator

import (
	"bytes"
	"context"
	"github.com/firegrid/firegrid/contract"
	"testing"
	"time"
)

// entry is what determinism is about: when, where and what.
type entry struct {
	at      time.Duration
	topic   string
	payload []byte
}

func takeTimeline(t *testing.T, sc *Scenario, seed uint64, n int) []entry {
	t.Helper()
	f, err := NewFleet(demoDevices(), sc.Fleet, seed)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := NewTimeline(f, sc)
	if err != nil {
		t.Fatal(err)
	}
	start := FixtureTime()
	out := make([]entry, 0, n)
	for len(out) < n {
		p, ok := tl.Next()
		if !ok {
			break
		}
		p.Stamp(start.Add(p.At))
		out = append(out, entry{p.At, p.Topic, p.Payload})
	}
	return out
}

func TestSameSeedSameSequence(t *testing.T) {
	sc := mustParse(t, scenarioAllActions)
	a := takeTimeline(t, sc, 7, 5000)
	b := takeTimeline(t, sc, 7, 5000)
	if len(a) != 5000 || len(b) != 5000 {
		t.Fatalf("got %d and %d publications, want 5000", len(a), len(b))
	}
	for i := range a {
		if a[i].at != b[i].at || a[i].topic != b[i].topic || !bytes.Equal(a[i].payload, b[i].payload) {
			t.Fatalf("publication %d differs:\n%v %s %s\n%v %s %s", i, a[i].at, a[i].topic, a[i].payload, b[i].at, b[i].topic, b[i].payload)
		}
	}
	c := takeTimeline(t, sc, 8, 5000)
	same := 0
	for i := range a {
		if bytes.Equal(a[i].payload, c[i].payload) {
			same++
		}
	}
	if same > len(a)/10 {
		t.Errorf("seeds 7 and 8 share %d of %d payloads; the seed does not reach the fleet", same, len(a))
	}
}

func TestAddingADeviceKeepsOthersSequences(t *testing.T) {
	devs := demoDevices()
	one, _ := NewFleet(devs[:1], FleetConfig{}, 1)
	all, _ := NewFleet(devs, FleetConfig{}, 1)
	var fromOne, fromAll [][]byte
	for len(fromOne) < 20 {
		p, _ := one.Next()
		p.Stamp(FixtureTime())
		fromOne = append(fromOne, p.Payload)
	}
	for len(fromAll) < 20 {
		p, _ := all.Next()
		if p.Message.Device == devs[0].ID {
			p.Stamp(FixtureTime())
			fromAll = append(fromAll, p.Payload)
		}
	}
	for i := range fromOne {
		if !bytes.Equal(fromOne[i], fromAll[i]) {
			t.Fatalf("heartbeat %d of %s depends on the rest of the fleet:\n%s\n%s", i, devs[0].ID, fromOne[i], fromAll[i])
		}
	}
}

func TestFleetSchedule(t *testing.T) {
	f, err := NewFleet(demoDevices(), FleetConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	const horizon = 10 * time.Minute
	last := make(map[string]time.Duration)
	seq := make(map[string]uint64)
	perSecond := make(map[time.Duration]int)
	var prev time.Duration
	for {
		p, ok := f.Next()
		if !ok {
			t.Fatal("fleet ran dry")
		}
		if p.At > horizon {
			break
		}
		if p.At < prev {
			t.Fatalf("%s at %v after %v: out of order", p.Topic, p.At, prev)
		}
		prev = p.At
		id := p.Message.Device
		if s, ok := seq[id]; ok && p.Message.Seq != s+1 {
			t.Errorf("%s: seq %d after %d", id, p.Message.Seq, s)
		}
		seq[id] = p.Message.Seq
		if p.Message.Channel != contract.ChannelTelemetry {
			continue
		}
		interval := FleetConfig{}.Interval(p.Message.Kind)
		if l, ok := last[id]; ok {
			gap := p.At - l
			if gap < interval*9/10 || gap > interval*11/10 {
				t.Errorf("%s: gap %v, want %v ±10%%", id, gap, interval)
			}
		} else {
			if p.At >= interval {
				t.Errorf("%s: first heartbeat at %v, want within the first %v", id, p.At, interval)
			}
			perSecond[p.At.Truncate(time.Second)]++
		}
		last[id] = p.At
	}
	if len(last) != 252 {
		t.Errorf("%d devices beat, want 252", len(last))
	}
	for sec, n := range perSecond {
		if n > 15 {
			t.Errorf("%d devices start in the second at %v: the start is not staggered", n, sec)
		}
	}
}

func TestFleetConfigSelectsDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  FleetConfig
		want map[contract.Kind]bool
	}{
		{"kinds", FleetConfig{Kinds: []contract.Kind{contract.KindHydrant}}, map[contract.Kind]bool{contract.KindHydrant: true}},
		{"devices", FleetConfig{Devices: []string{"CH-002"}}, map[contract.Kind]bool{contract.KindCharger: true}},
		{"intervals", FleetConfig{ChargerInterval: time.Second, Jitter: -1}, map[contract.Kind]bool{contract.KindCharger: true, contract.KindHydrant: true, contract.KindSmoke: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFleet(demoDevices(), tc.cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			seen := make(map[contract.Kind]bool)
			for range 500 {
				p, ok := f.Next()
				if !ok {
					break
				}
				seen[p.Message.Kind] = true
				if tc.cfg.Devices != nil && p.Message.Device != "CH-002" {
					t.Fatalf("%s beats, want only CH-002", p.Message.Device)
				}
			}
			for _, k := range contract.Kinds {
				if seen[k] != tc.want[k] {
					t.Errorf("%s beats: %v, want %v", k, seen[k], tc.want[k])
				}
			}
		})
	}
	if _, err := NewFleet(demoDevices(), FleetConfig{Devices: []string{"SD-9999"}}, 1); err == nil {
		t.Error("NewFleet accepts an unknown device in FleetConfig.Devices")
	}
	if _, err := NewFleet(demoDevices(), FleetConfig{SmokeInterval: time.Microsecond}, 1); err == nil {
		t.Error("NewFleet accepts a 1µs interval")
	}
}

func TestSomeBatteriesDrainToLowBattery(t *testing.T) {
	f, _ := NewFleet(demoDevices(), FleetConfig{}, 1)
	low := make(map[string]int)
	for {
		p, _ := f.Next()
		if p.At > 24*time.Hour {
			break
		}
		if p.Message.Event == "low_battery" {
			low[p.Message.Device]++
			if b := p.Message.Values["battery_pct"]; b >= smokeLowBatteryPct {
				t.Errorf("%s: low_battery at %v %%", p.Message.Device, b)
			}
		}
	}
	if len(low) == 0 || len(low) > 30 {
		t.Errorf("%d of 227 detectors reported low_battery in a day, want a few", len(low))
	}
	for id, n := range low {
		if n > 1 {
			t.Errorf("%s reported low_battery %d times", id, n)
		}
	}
}

func TestChargerSessions(t *testing.T) {
	f, _ := NewFleet(demoDevices(), FleetConfig{Kinds: []contract.Kind{contract.KindCharger}}, 1)
	started, ended := 0, 0
	state := make(map[[2]int]string)
	for {
		p, _ := f.Next()
		if p.At > 6*time.Hour {
			break
		}
		ch := int(p.Message.Device[len(p.Message.Device)-1] - '0')
		for _, port := range p.Message.Ports {
			k := [2]int{ch, port.Port}
			if prev, ok := state[k]; ok && prev != port.State {
				if port.State == "charging" {
					started++
				} else {
					ended++
				}
			}
			state[k] = port.State
		}
	}
	if started == 0 || ended == 0 {
		t.Errorf("in 6 h, %d sessions started and %d ended on 50 ports, want some of each", started, ended)
	}
}

// BenchmarkFleetPublish measures the simulator's own cost per publication
// on the demo-sized fleet: schedule, values, payload encoding and a
// Publisher call that does nothing.
func BenchmarkFleetPublish(b *testing.B) {
	f, err := NewFleet(demoDevices(), FleetConfig{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	tl, _ := NewTimeline(f, nil)
	pub := PublisherFunc(func(context.Context, string, byte, bool, []byte) error { return nil })
	ctx := context.Background()
	start := FixtureTime()
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		p, _ := tl.Next()
		p.Stamp(start.Add(p.At))
		bytes += int64(len(p.Payload))
		if err := pub.Publish(ctx, p.Topic, p.QoS, p.Retained, p.Payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "payload-B/op")
}
