package ingest

import (
	"math"
	"net/url"
	"strings"

	"github.com/firegrid/firegrid/contract"
)

// checkMessage checks a message a source decoder made against contract v1
// as the JSON decoder checks what it reads: a known kind and channel, an
// event of the kind (required on the event channel), finite values within
// their ranges, charger ports, media URLs.
func checkMessage(m *contract.Message) *RejectError {
	if _, err := contract.ParseKind(string(m.Kind)); err != nil {
		return reject(contract.ReasonKindMismatch, "%v", err)
	}
	if m.Device == "" {
		return reject(contract.ReasonMissingField, "no device")
	}
	if m.Channel != contract.ChannelEvent && m.Channel != contract.ChannelTelemetry {
		return reject(contract.ReasonInvalidField, "channel %q: want event or telemetry", m.Channel)
	}
	if m.TS.IsZero() {
		return reject(contract.ReasonMissingField, "no time")
	}
	if m.Channel == contract.ChannelEvent && m.Event == "" {
		return reject(contract.ReasonMissingField, "event is required on the event channel")
	}
	if m.Event != "" && !contract.KnownEvent(m.Kind, m.Event) {
		return reject(contract.ReasonInvalidField, "event %q is not a %s event (want one of %s)", m.Event, m.Kind, strings.Join(contract.Events[m.Kind], ", "))
	}
	for k, v := range m.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return reject(contract.ReasonInvalidField, "values.%s: not a number", k)
		}
		if r, ok := valueRanges[k]; ok && (v < r.min || v > r.max) {
			return reject(contract.ReasonInvalidField, "values.%s %g: want %g..%g", k, v, r.min, r.max)
		}
	}
	if len(m.Ports) > 0 && m.Kind != contract.KindCharger {
		return reject(contract.ReasonInvalidField, "values.ports: only chargers have ports")
	}
	for i, p := range m.Ports {
		if p.Port < 1 || p.Port > 64 {
			return reject(contract.ReasonInvalidField, "values.ports[%d].port %d: want 1..64", i, p.Port)
		}
		if p.TempC < -60 || p.TempC > 400 || p.CurrentA < 0 || p.CurrentA > 1000 || p.PowerW < 0 || p.PowerW > 100000 {
			return reject(contract.ReasonInvalidField, "values.ports[%d]: value out of range", i)
		}
	}
	return checkMedia(m.Media)
}

// checkMedia checks a message's media: at most contract.MaxMedia http or
// https URLs, each at most contract.MaxMediaURL bytes.
func checkMedia(media []string) *RejectError {
	if len(media) > contract.MaxMedia {
		return reject(contract.ReasonInvalidField, "media: %d URLs, at most %d", len(media), contract.MaxMedia)
	}
	for i, s := range media {
		if len(s) > contract.MaxMediaURL {
			return reject(contract.ReasonInvalidField, "media[%d]: %d bytes, at most %d", i, len(s), contract.MaxMediaURL)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return reject(contract.ReasonInvalidField, "media[%d] %q: want an http or https URL", i, s)
		}
	}
	return nil
}
