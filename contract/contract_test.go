package contract

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestTimestampMatchesRFC3339Millis(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 23, 8, 0, 0, 120e6, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("CST", 8*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 1e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1_795_000_000, 7e6),
	} {
		want := ts.UTC().Format(tsLayout)
		if got := string(appendTimestamp(nil, ts)); got != want {
			t.Errorf("appendTimestamp(%v) = %s, want %s", ts, got, want)
		}
	}
}

func TestUplinkTopics(t *testing.T) {
	good := []struct {
		topic string
		kind  Kind
		id    string
		ch    Channel
	}{
		{"fg/v1/smoke/SD-0001/event", KindSmoke, "SD-0001", ChannelEvent},
		{"fg/v1/hydrant/HY-1/telemetry", KindHydrant, "HY-1", ChannelTelemetry},
		{"fg/v1/charger/CH-001/event", KindCharger, "CH-001", ChannelEvent},
	}
	for _, g := range good {
		k, id, ch, err := ParseUplinkTopic(g.topic)
		if err != nil || k != g.kind || id != g.id || ch != g.ch {
			t.Errorf("ParseUplinkTopic(%q) = %s %s %s %v", g.topic, k, id, ch, err)
		}
		if back := UplinkTopic(k, id, ch); back != g.topic {
			t.Errorf("UplinkTopic round trip: %q, want %q", back, g.topic)
		}
		if m := (Message{Kind: k, Device: id, Channel: ch}); m.Topic() != g.topic {
			t.Errorf("Message.Topic() = %q", m.Topic())
		}
	}
	for _, bad := range []string{"", "fg/v1/smoke/SD-1", "fg/v2/smoke/SD-1/event", "fg/v1/lamp/L-1/event", "fg/v1/smoke//event",
		"fg/v1/smoke/SD-1/cmd", "fg/v1/smoke/SD-1/event/x", "fg/v1/smoke/+/event", "fg/v1/smoke/#/telemetry"} {
		if _, _, _, err := ParseUplinkTopic(bad); err == nil || !errors.Is(err, ErrTopic) {
			t.Errorf("ParseUplinkTopic(%q): %v, want an ErrTopic", bad, err)
		}
	}
	if testing.AllocsPerRun(100, func() { _, _, _, _ = ParseUplinkTopic("fg/v1/smoke/SD-0001/telemetry") }) != 0 {
		t.Error("parsing a good topic allocates")
	}
}

func TestCommandTopicAndPayload(t *testing.T) {
	c := &Command{Kind: KindCharger, Device: "CH-001", Cmd: "port_off", Port: 3, Reason: "over_temp", Incident: "INC-1", Signal: "s/\"1\""}
	if c.Topic() != "fg/v1/charger/CH-001/cmd" {
		t.Errorf("topic %q", c.Topic())
	}
	k, id, err := ParseCommandTopic(c.Topic())
	if err != nil || k != KindCharger || id != "CH-001" {
		t.Errorf("ParseCommandTopic: %s %s %v", k, id, err)
	}
	var got map[string]any
	if err := json.Unmarshal(c.Payload(), &got); err != nil {
		t.Fatalf("payload %s: %v", c.Payload(), err)
	}
	want := map[string]any{"cmd": "port_off", "port": 3.0, "reason": "over_temp", "incident": "INC-1", "signal": `s/"1"`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payload %v, want %v (no kind or device: the topic says them)", got, want)
	}
}

// TestEveryTopicHasItsType checks the records each value makes against
// what NewValue says the topic carries, so that a decoder and a producer
// cannot disagree.
func TestEveryTopicHasItsType(t *testing.T) {
	event := &Reading{Message: Message{Channel: ChannelEvent}, Site: "H-1"}
	telemetry := &Reading{Message: Message{Channel: ChannelTelemetry}, Site: "H-1"}
	recs := []Record{
		event.Record(), telemetry.Record(), (&Signal{Site: "H-1"}).Record(),
		(&IncidentChange{Incident: &Incident{ID: "INC-1"}}).Record(), (&Command{Device: "CH-1"}).Record(),
		(&DeadLetter{Reason: ReasonMalformed}).Record(), (&Control{}).Record(), (&HazardChange{Hazard: &Hazard{ID: "HZ-1"}}).Record(),
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.Topic] = true
		if reflect.TypeOf(NewValue(r.Topic)) != reflect.TypeOf(r.Value) {
			t.Errorf("%s: record holds %T, NewValue gives %T", r.Topic, r.Value, NewValue(r.Topic))
		}
		if r.Key == "" {
			t.Errorf("%s: no key", r.Topic)
		}
	}
	for _, topic := range Topics {
		if !seen[topic] {
			t.Errorf("no value makes records of %s", topic)
		}
	}
	if event.Record().Topic != TopicEvents || telemetry.Record().Topic != TopicTelemetry {
		t.Error("events and telemetry share a topic")
	}
	if NewValue("nope") != nil {
		t.Error("NewValue of an unknown topic")
	}
}

func TestDeadLetterKeepsWhatAPersonNeeds(t *testing.T) {
	d := NewDeadLetter(time.Unix(0, 0), "fg/v1/smoke/SD-1/event", []byte{0xff, 0xfe, 'x'}, ReasonMalformed, "bad")
	if d.Encoding != "base64" || d.Payload != "//54" || d.Size != 3 {
		t.Errorf("binary payload: %+v", d)
	}
	big := make([]byte, MaxDeadLetterPayload+10)
	for i := range big {
		big[i] = 'a'
	}
	d = NewDeadLetter(time.Unix(0, 0), "t", big, ReasonOversized, "big")
	if !d.Truncated || len(d.Payload) != MaxDeadLetterPayload || d.Size != len(big) {
		t.Errorf("oversized: truncated %v, kept %d, size %d", d.Truncated, len(d.Payload), d.Size)
	}
}
