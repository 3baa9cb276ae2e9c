package simulator

import (
	"bytes"
	"context"
	"github.com/firegrid/firegrid/contract"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
)

func TestCaptureRoundTrip(t *testing.T) {
	t0 := FixtureTime()
	recs := []Record{
		{Time: t0, Topic: "fg/v1/smoke/SD-0001/event", QoS: 1, Payload: []byte(`{"ts":"2026-11-23T08:00:00.120Z","seq":1,"event":"alarm"}`)},
		{Time: t0.Add(1500 * time.Millisecond), Topic: "fg/v1/hydrant/HY-001/telemetry", QoS: 0, Retained: true, Payload: []byte("<&> \u00e9")},
		{Time: t0.Add(4 * time.Second), Topic: "fg/v1/charger/CH-001/event", QoS: 1, Payload: []byte{0xff, 0x00, 0x7b}},
	}
	var buf bytes.Buffer
	w := NewCaptureWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(buf.String(), "\n", 2)[0]
	if want := `{"time":"2026-11-23T08:00:00.12Z","topic":"fg/v1/smoke/SD-0001/event","qos":1,"payload":"{\"ts\":\"2026-11-23T08:00:00.120Z\",\"seq\":1,\"event\":\"alarm\"}"}`; first != want {
		t.Errorf("first line\n%s\nwant\n%s", first, want)
	}
	if !strings.Contains(buf.String(), `"payload_base64":"/wB7"`) {
		t.Errorf("a payload that is not UTF-8 is not kept in base64:\n%s", buf.String())
	}
	got, err := ReadCapture("c.jsonl", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records back, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !got[i].Time.Equal(recs[i].Time) || got[i].Topic != recs[i].Topic || got[i].QoS != recs[i].QoS ||
			got[i].Retained != recs[i].Retained || !bytes.Equal(got[i].Payload, recs[i].Payload) {
			t.Errorf("record %d: %+v, want %+v", i, got[i], recs[i])
		}
	}
	// Replay keeps the spacing, and the payload bytes.
	rp := NewReplay(got)
	var ats []time.Duration
	for p, ok := rp.Next(); ok; p, ok = rp.Next() {
		ats = append(ats, p.At)
		if p.Payload == nil {
			t.Error("a replayed publication has no payload of its own")
		}
	}
	if want := []time.Duration{0, 1500 * time.Millisecond, 4 * time.Second}; !equalDurations(ats, want) {
		t.Errorf("replay offsets %v, want %v", ats, want)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadCaptureErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"not json", "{\"time\":\"2026-11-23T08:00:00Z\",\"topic\":\"a\",\"qos\":1,\"payload\":\"x\"}\nnope\n", "c.jsonl:2: invalid character"},
		{"unknown field", `{"time":"2026-11-23T08:00:00Z","topic":"a","qos":1,"payload":"x","extra":1}`, `c.jsonl:1: json: unknown field "extra"`},
		{"no topic", `{"time":"2026-11-23T08:00:00Z","qos":1,"payload":"x"}`, "c.jsonl:1: topic: missing"},
		{"bad qos", `{"time":"2026-11-23T08:00:00Z","topic":"a","qos":3,"payload":"x"}`, "c.jsonl:1: qos: want 0, 1 or 2, got 3"},
		{"out of order", "{\"time\":\"2026-11-23T08:00:01Z\",\"topic\":\"a\",\"qos\":1,\"payload\":\"x\"}\n{\"time\":\"2026-11-23T08:00:00Z\",\"topic\":\"a\",\"qos\":1,\"payload\":\"x\"}\n", "c.jsonl:2: time: 2026-11-23T08:00:00Z is before the previous line's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCapture("c.jsonl", strings.NewReader(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCaptureOfARunIsIdentical: two runs of one scenario with one seed on a
// fake clock write byte-identical captures; another seed does not.
func TestCaptureOfARunIsIdentical(t *testing.T) {
	capture := func(seed uint64) []byte {
		var buf bytes.Buffer
		w := NewCaptureWriter(&buf)
		r := &Runner{Config: Config{Seed: seed, Duration: 3 * time.Minute}, Scenario: mustParse(t, timelineScenario),
			Devices: demoDevices(), Publisher: &Recorder{}, OnPublish: func(p Publication) { _ = w.Publication(p) }}
		if err := runOnFake(t, context.Background(), r, clock.NewFake(FixtureTime()), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := capture(5), capture(5), capture(6)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two runs with seed 5 wrote different captures (%d and %d bytes)", len(a), len(b))
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 5 and 6 wrote the same capture")
	}
}

// TestRecordAndReplayThroughMosquitto: what RecordBroker captures from a
// real broker while a capture is replayed is that capture again: the same
// topics and payload bytes in the same order, with the spacing scaled by
// the replay's speed.
func TestRecordAndReplayThroughMosquitto(t *testing.T) {
	url := testenv.Mosquitto(t)
	t0 := FixtureTime()
	var src []Record
	for i := range 6 {
		m := SmokeAlarm("SD-0001")
		m.Seq = uint64(i + 1)
		src = append(src, Record{Time: t0.Add(time.Duration(i) * 400 * time.Millisecond), Topic: m.Topic(), QoS: 1, Payload: contract.Payload(m)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf bytes.Buffer
	w := NewCaptureWriter(&buf)
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		_, err := recordBroker(ctx, url, "fg/v1/#", w, clock.Real{}, ready)
		done <- err
	}()
	<-ready
	pub, err := NewMQTTPublisher(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	start := time.Now()
	r := &Runner{Config: Config{Speed: 4}, Source: NewReplay(src), Publisher: pub}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("2 s of capture at speed 4 took %v, want about 500ms", el)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return w.Len() == len(src) }, "recorded %d of %d messages", w.Len(), len(src))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := ReadCapture("recorded", &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if got[i].Topic != src[i].Topic || !bytes.Equal(got[i].Payload, src[i].Payload) || got[i].QoS != 1 {
			t.Errorf("recorded %d: %s %q, want %s %q", i, got[i].Topic, got[i].Payload, src[i].Topic, src[i].Payload)
		}
	}
	if span := got[len(got)-1].Time.Sub(got[0].Time); span < 400*time.Millisecond {
		t.Errorf("recorded span %v, want about 500ms (2 s at speed 4)", span)
	}
}
