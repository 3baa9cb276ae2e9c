// Package devices holds firegrid's device model and its registry.
//
// The model is the contract-v1 canonical message (a decoded uplink from a
// smoke detector, hydrant pressure monitor or e-bike charger), the enriched
// Reading that ingest hands to the bus, and the downlink Command. The registry
// is the territory: the three-level grid (large grid, communities,
// responsibility zones) as polygons, the micro fire stations, the sites
// (households, charging sheds, hydrants) with their residents, and the
// devices. Every role loads the same registry; nothing here does I/O on the
// hot path.
package devices

import (
	"fmt"
	"time"
)

// Kind is a device kind, the second segment of a contract-v1 topic.
type Kind string

// The device kinds of contract v1.
const (
	KindSmoke   Kind = "smoke"
	KindHydrant Kind = "hydrant"
	KindCharger Kind = "charger"
)

// Kinds lists every known kind in a stable order.
var Kinds = []Kind{KindSmoke, KindHydrant, KindCharger}

// ParseKind returns the kind named s, or an error naming what is expected.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case KindSmoke, KindHydrant, KindCharger:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown device kind %q (want smoke, hydrant or charger)", s)
}

// Channel is the last segment of an uplink topic.
type Channel string

// Uplink channels of contract v1.
const (
	ChannelEvent     Channel = "event"
	ChannelTelemetry Channel = "telemetry"
)

// Port is one charger port's reading.
type Port struct {
	Port     int     `json:"port"`
	CurrentA float64 `json:"current_a"`
	PowerW   float64 `json:"power_w"`
	TempC    float64 `json:"temp_c"`
	State    string  `json:"state,omitempty"`
}

// Message is a decoded contract-v1 uplink: what the device said, nothing
// the registry adds.
type Message struct {
	Kind    Kind               `json:"kind"`
	Device  string             `json:"device"`
	Channel Channel            `json:"channel"`
	TS      time.Time          `json:"ts"`
	Seq     uint64             `json:"seq"`
	Event   string             `json:"event,omitempty"`
	Values  map[string]float64 `json:"values,omitempty"`
	Ports   []Port             `json:"ports,omitempty"`
}

// Point is a WGS 84 position in degrees.
type Point struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// Reading is a Message that ingest accepted and enriched from the registry:
// the record the rules and the sink consume, keyed on the bus by Site.
type Reading struct {
	// ID identifies the message: the same device message delivered twice
	// has the same ID (it is derived from kind, device, seq and ts).
	ID string `json:"id"`
	Message
	ReceivedAt time.Time `json:"received_at"`
	Site       string    `json:"site"`
	Zone       string    `json:"zone"`
	Community  string    `json:"community"`
	Station    string    `json:"station"`
	Location   Point     `json:"location"`
}

// Command is a downlink to a device, published on fg/v1/{kind}/{id}/cmd.
type Command struct {
	Kind     Kind   `json:"-"`
	Device   string `json:"-"`
	Cmd      string `json:"cmd"`
	Port     int    `json:"port,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Incident string `json:"incident,omitempty"`
	Signal   string `json:"signal,omitempty"`
}

// CommandEnvelope carries a Command over the bus, where the device address
// must travel with it.
type CommandEnvelope struct {
	Kind    Kind    `json:"kind"`
	Device  string  `json:"device"`
	Command Command `json:"command"`
}
