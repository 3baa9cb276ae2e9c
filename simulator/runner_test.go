package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// runOnFake runs r on a fake clock, advancing it by step whenever the
// runner waits, until Run returns.
func runOnFake(t *testing.T, ctx context.Context, r *Runner, fake *clock.Fake, step time.Duration) error {
	t.Helper()
	r.Clock = fake
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run still going at fake time %v", fake.Now())
		}
		if fake.Waiters() > 0 {
			fake.Advance(step)
		} else {
			runtime.Gosched()
		}
	}
}

const timelineScenario = `
name: timeline
steps:
  - at: 0s
    device: SD-0001
    event: test
  - at: 5s
    device: HY-001
    telemetry: {pressure_mpa: 0.05}
  - at: 5s
    device: SD-0001
    event: alarm
    repeat: {every: 2500ms, count: 3}
  - at: 7s
    device: SD-0002
    silence: true
  - at: 12s
    device: CH-001
    event: over_temp
    values:
      ports: [{port: 3, temp_c: 74}]
`

func TestRunnerPublishesStepsAtTheirOffsets(t *testing.T) {
	for _, tc := range []struct {
		speed float64
		step  time.Duration
	}{{1, 100 * time.Millisecond}, {10, 10 * time.Millisecond}, {0, 100 * time.Millisecond}} {
		fake := clock.NewFake(FixtureTime())
		start := fake.Now()
		rec := &Recorder{Clock: fake}
		var steps []Publication
		r := &Runner{
			Config:    Config{Speed: tc.speed, NoFleet: true},
			Scenario:  mustParse(t, timelineScenario),
			Devices:   demoDevices(),
			Publisher: rec,
			OnPublish: func(p Publication) { steps = append(steps, p) },
		}
		if err := runOnFake(t, context.Background(), r, fake, tc.step); err != nil {
			t.Fatalf("speed %v: Run: %v", tc.speed, err)
		}
		want := []struct {
			at    time.Duration
			topic string
			event string
		}{
			{0, "fg/v1/smoke/SD-0001/event", "test"},
			{5 * time.Second, "fg/v1/hydrant/HY-001/telemetry", ""},
			{5 * time.Second, "fg/v1/smoke/SD-0001/event", "alarm"},
			{7500 * time.Millisecond, "fg/v1/smoke/SD-0001/event", "alarm"},
			{10 * time.Second, "fg/v1/smoke/SD-0001/event", "alarm"},
			{12 * time.Second, "fg/v1/charger/CH-001/event", "over_temp"},
		}
		speed := tc.speed
		if speed == 0 {
			speed = 1
		}
		got := rec.Records()
		if len(got) != len(want) {
			t.Fatalf("speed %v: %d publications, want %d: %+v", tc.speed, len(got), len(want), got)
		}
		var lastSeq uint64
		for i, w := range want {
			g := got[i]
			if off := g.Time.Sub(start); off != time.Duration(float64(w.at)/speed) {
				t.Errorf("speed %v: publication %d at %v, want %v", tc.speed, i, off, time.Duration(float64(w.at)/speed))
			}
			if g.Topic != w.topic || g.QoS != 1 || g.Retained {
				t.Errorf("publication %d: %s qos %d retained %v, want %s qos 1", i, g.Topic, g.QoS, g.Retained, w.topic)
			}
			var body struct {
				TS    string `json:"ts"`
				Seq   uint64 `json:"seq"`
				Event string `json:"event"`
			}
			if err := json.Unmarshal(g.Payload, &body); err != nil {
				t.Fatal(err)
			}
			if body.Event != w.event || body.TS != contract.Timestamp(g.Time) {
				t.Errorf("publication %d: event %q ts %s, want %q stamped %s", i, body.Event, body.TS, w.event, contract.Timestamp(g.Time))
			}
			if w.topic == "fg/v1/smoke/SD-0001/event" {
				if lastSeq != 0 && body.Seq != lastSeq+1 {
					t.Errorf("SD-0001 seq %d after %d", body.Seq, lastSeq)
				}
				lastSeq = body.Seq
			}
			if steps[i].Step == nil || steps[i].At != w.at {
				t.Errorf("OnPublish %d: step %v at %v", i, steps[i].Step, steps[i].At)
			}
		}
		if lastSeq < uint64(start.UnixMilli()) {
			t.Errorf("seq %d does not start from the run's start", lastSeq)
		}
	}
}

func TestRunnerFleetWithSilenceAndOverrides(t *testing.T) {
	sc := mustParse(t, `
duration: 5m
steps:
  - at: 0s
    device: SD-0001
    silence: true
  - at: 0s
    device: HY-001
    telemetry: {pressure_mpa: 0.05}
  - at: 2m
    device: HY-001
    resume: true
`)
	fake := clock.NewFake(FixtureTime())
	rec := &Recorder{Clock: fake}
	var pubs []Publication
	r := &Runner{Scenario: sc, Devices: demoDevices(), Publisher: rec, OnPublish: func(p Publication) { pubs = append(pubs, p) }}
	if err := runOnFake(t, context.Background(), r, fake, time.Second); err != nil {
		t.Fatal(err)
	}
	counts := make(map[contract.Kind]int)
	low, normal := 0, 0
	for _, p := range pubs {
		if p.At > 5*time.Minute {
			t.Errorf("%s at %v, after the duration", p.Topic, p.At)
		}
		if p.Message.Device == "SD-0001" {
			t.Errorf("silenced SD-0001 published %s at %v", p.Topic, p.At)
		}
		if p.Message.Device == "HY-001" && p.Step == nil {
			switch v := p.Message.Values["pressure_mpa"]; {
			case p.At < 2*time.Minute && v == 0.05:
				low++
			case p.At >= 2*time.Minute && v > 0.15:
				normal++
			default:
				t.Errorf("HY-001 heartbeat at %v: pressure %v", p.At, v)
			}
		}
		counts[p.Message.Kind]++
	}
	if low < 3 || normal < 5 {
		t.Errorf("HY-001 heartbeats: %d low before the resume, %d normal after, want 3+ and 5+", low, normal)
	}
	// About 5 heartbeats per detector and 10 per hydrant and charger.
	if n := counts[contract.KindSmoke]; n < 226*4 || n > 226*6 {
		t.Errorf("%d smoke publications in 5 minutes", n)
	}
	if n := counts[contract.KindCharger]; n < 5*9 || n > 5*11 {
		t.Errorf("%d charger publications in 5 minutes", n)
	}
	if rec.Len() != len(pubs) {
		t.Errorf("recorder has %d, OnPublish saw %d", rec.Len(), len(pubs))
	}
}

func TestRunnerStopsOnCancelWithoutGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	rec := &Recorder{}
	r := &Runner{Devices: demoDevices(), Publisher: rec, Config: Config{Speed: 100}}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for rec.Len() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop within 2s of cancel")
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Run, %d before", n, before)
	}
}

func TestRunnerReportsFailedPublications(t *testing.T) {
	boom := errors.New("broker says no")
	n := 0
	pub := PublisherFunc(func(_ context.Context, topic string, _ byte, _ bool, _ []byte) error {
		n++
		if strings.HasPrefix(topic, "fg/v1/hydrant/") {
			return boom
		}
		return nil
	})
	r := &Runner{Config: Config{NoFleet: true, Speed: 1000}, Scenario: mustParse(t, timelineScenario), Devices: demoDevices(), Publisher: pub}
	err := r.Run(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "1 of 6 publications failed") {
		t.Errorf("Run: %v", err)
	}
	if n != 6 {
		t.Errorf("%d publications attempted, want 6: a failure must not stop the run", n)
	}
}

func TestRunnerRefusesBadSetup(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		r    *Runner
		want string
	}{
		{"no publisher", &Runner{}, "no Publisher"},
		{"negative speed", &Runner{Publisher: &Recorder{}, Config: Config{Speed: -1}}, "speed: -1 is out of range"},
		{"unknown fleet device", &Runner{Publisher: &Recorder{}, Devices: demoDevices(), Scenario: mustParse(t, "fleet:\n  devices: [SD-0001, SD-9999]\n")}, "test.yaml:2:22: fleet.devices.1: SD-9999 is not in the registry"},
		{"unknown device", &Runner{Publisher: &Recorder{}, Scenario: mustParse(t, "steps:\n  - {at: 1s, device: SD-0001, event: test}\n")}, "test.yaml:2:14: steps.0.device: SD-0001 is not in the registry"},
	} {
		if err := tc.r.Run(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// sliceSource replays fixed publications.
type sliceSource []Publication

func (s *sliceSource) Next() (Publication, bool) {
	if len(*s) == 0 {
		return Publication{}, false
	}
	p := (*s)[0]
	*s = (*s)[1:]
	return p, true
}

func TestRunnerPlaysASource(t *testing.T) {
	bad := BadUplinks()[0]
	src := &sliceSource{
		{At: 0, Topic: bad.Topic, QoS: 1, Payload: bad.Payload},
		{At: time.Second, Topic: SmokeAlarm("SD-0001").Topic(), QoS: 1, Message: SmokeAlarm("SD-0001")},
	}
	fake := clock.NewFake(FixtureTime().Add(time.Hour))
	rec := &Recorder{Clock: fake}
	if err := runOnFake(t, context.Background(), &Runner{Source: src, Publisher: rec}, fake, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := rec.Records()
	if len(got) != 2 || string(got[0].Payload) != string(bad.Payload) {
		t.Fatalf("records %+v", got)
	}
	if want := `"ts":"` + contract.Timestamp(FixtureTime().Add(time.Hour+time.Second)) + `"`; !strings.Contains(string(got[1].Payload), want) {
		t.Errorf("second payload %s, want it stamped %s", got[1].Payload, want)
	}
}

func TestConfigFromYAML(t *testing.T) {
	src := "mqtt_url: tcp://localhost:1883\nscenario: configs/scenarios/drill.yaml\nregistry: configs/demo\nspeed: 10\nseed: 4\nduration: 2m\nno_fleet: true\nfleet:\n  smoke_interval: 20s\n  kinds: [smoke]\n"
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{MQTTURL: "tcp://localhost:1883", Scenario: "configs/scenarios/drill.yaml", Registry: "configs/demo", Speed: 10, Seed: 4,
		Duration: 2 * time.Minute, NoFleet: true, Fleet: FleetConfig{SmokeInterval: 20 * time.Second, Kinds: []contract.Kind{contract.KindSmoke}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{MQTTURL: "tcp://localhost:1883", Speed: 10}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err := Config{MQTTURL: "http://x", Speed: -2, Duration: -time.Second, Fleet: FleetConfig{Jitter: 2}}.Validate()
	for _, want := range []string{"mqtt_url:", "speed:", "duration:", "fleet: jitter:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to name %s", err, want)
		}
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "mqtt_url: missing") {
		t.Errorf("Validate of the zero Config: %v", err)
	}
}
