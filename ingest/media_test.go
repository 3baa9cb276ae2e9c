package ingest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/contract"
)

// TestJSONTakesTheNewKinds: contract-v1 JSON of the kinds added within v1
// decodes with their values, events and media, and is checked as any.
func TestJSONTakesTheNewKinds(t *testing.T) {
	m, err := JSON{}.Decode("fg/v1/camera/CAM-0001/event",
		[]byte(`{"ts":1795392000000,"seq":3,"event":"ebike_in_lift","values":{"confidence_pct":88},"media":["https://cam.example/lift/3.jpg"]}`))
	if err != nil || m.Kind != contract.KindCamera || m.Event != "ebike_in_lift" || !slices.Equal(m.Media, []string{"https://cam.example/lift/3.jpg"}) {
		t.Fatalf("%+v %v", m, err)
	}
	for _, c := range []struct{ topic, payload, want string }{
		{"fg/v1/gas/GS-1/telemetry", `{"ts":1,"seq":1,"values":{"lel_pct":140}}`, "values.lel_pct 140: want 0..100"},
		{"fg/v1/button/CB-1/event", `{"ts":1,"seq":1,"event":"alarm"}`, `event "alarm" is not a button event`},
		{"fg/v1/camera/CAM-1/event", `{"ts":1,"seq":1,"event":"fire_lane_blocked","media":["ftp://x/y.jpg"]}`, "want an http or https URL"},
		{"fg/v1/camera/CAM-1/event", `{"ts":1,"seq":1,"event":"fire_lane_blocked","media":["https://a/1","https://a/2","https://a/3","https://a/4","https://a/5"]}`, "media: 5 URLs, at most 4"},
		{"fg/v1/camera/CAM-1/event", `{"ts":1,"seq":1,"event":"fire_lane_blocked","media":["https://a/` + strings.Repeat("x", 520) + `"]}`, "at most 512"},
	} {
		_, err := JSON{}.Decode(c.topic, []byte(c.payload))
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Reason != contract.ReasonInvalidField || !strings.Contains(rej.Detail, c.want) {
			t.Errorf("%s %s: %v, want invalid_field: %s", c.topic, c.payload, err, c.want)
		}
	}
}
