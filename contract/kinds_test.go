package contract

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestNewKindsAreAdditive: the kinds added within v1 parse, have topics,
// events and values, and leave the first three where they were.
func TestNewKindsAreAdditive(t *testing.T) {
	if !slices.Equal(Kinds[:3], []Kind{KindSmoke, KindHydrant, KindCharger}) {
		t.Fatalf("the first three kinds moved: %v", Kinds)
	}
	for _, k := range []Kind{KindElectrical, KindGas, KindButton, KindCamera} {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %s, %v", k, got, err)
		}
		topic := UplinkTopic(k, "X-1", ChannelEvent)
		if gk, id, ch, err := ParseUplinkTopic(topic); err != nil || gk != k || id != "X-1" || ch != ChannelEvent {
			t.Errorf("ParseUplinkTopic(%s) = %s %s %s %v", topic, gk, id, ch, err)
		}
		if len(Events[k]) == 0 || len(ValueNames(k)) == 0 {
			t.Errorf("%s: events %v, values %v", k, Events[k], ValueNames(k))
		}
	}
	if _, err := ParseKind("lamp"); err == nil || err.Error() != `unknown device kind "lamp" (want smoke, hydrant, charger, electrical, gas, button or camera)` {
		t.Errorf("ParseKind(lamp): %v", err)
	}
	for k, cmds := range Commands {
		if !slices.Contains(Kinds, k) || len(cmds) == 0 {
			t.Errorf("commands of %q: %v", k, cmds)
		}
	}
	if !KnownEvent(KindCamera, "fire_lane_blocked") || !KnownEvent(KindButton, "press") || KnownEvent(KindButton, "alarm") {
		t.Error("events of the new kinds")
	}
}

func TestPayloadCarriesMedia(t *testing.T) {
	m := Message{Kind: KindCamera, Device: "CAM-1", Channel: ChannelEvent, TS: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), Seq: 7,
		Event: "fire_lane_blocked", Values: map[string]float64{"confidence_pct": 93},
		Media: []string{"https://cam.example/s/1.jpg", `https://cam.example/s/"2".jpg`}}
	got := string(Payload(m))
	want := `{"ts":"2026-11-23T08:00:00.000Z","seq":7,"event":"fire_lane_blocked","values":{"confidence_pct":93},"media":["https://cam.example/s/1.jpg","https://cam.example/s/\"2\".jpg"]}`
	if got != want {
		t.Fatalf("payload\n%s\nwant\n%s", got, want)
	}
	var back struct{ Media []string }
	if err := json.Unmarshal([]byte(got), &back); err != nil || !slices.Equal(back.Media, m.Media) {
		t.Errorf("media back: %v %v", back.Media, err)
	}
	m.Media = nil
	if s := string(Payload(m)); s != `{"ts":"2026-11-23T08:00:00.000Z","seq":7,"event":"fire_lane_blocked","values":{"confidence_pct":93}}` {
		t.Errorf("no media: %s", s)
	}
}

func TestReasonsAreDistinct(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		if seen[r] {
			t.Errorf("reason %s twice", r)
		}
		seen[r] = true
	}
	for _, r := range []Reason{ReasonBadFrame, ReasonBadChecksum, ReasonUnknownSource} {
		if !seen[r] {
			t.Errorf("%s is not in Reasons: its counter would not start at zero", r)
		}
	}
}
