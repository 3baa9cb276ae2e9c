package contract

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is a device kind, the third segment of an fg/v1 topic.
type Kind string

// The device kinds of contract v1. The first three came with v1; the
// others were added within it (additive: their topics, events and values
// are new, nothing of the first three changed).
const (
	KindSmoke   Kind = "smoke"
	KindHydrant Kind = "hydrant"
	KindCharger Kind = "charger"
	// KindElectrical is an electrical fire monitor (电气火灾监控探测器) in a
	// distribution box: residual current and cable temperature.
	KindElectrical Kind = "electrical"
	// KindGas is a combustible gas detector (燃气泄漏报警器), usually with
	// a valve it can close.
	KindGas Kind = "gas"
	// KindButton is an emergency call button (紧急呼叫器) of a resident.
	KindButton Kind = "button"
	// KindCamera is an edge camera that detects a blocked fire lane or an
	// e-bike entering a lift, and sends a snapshot with the detection.
	KindCamera Kind = "camera"
)

// Kinds lists every known kind in a stable order: the original three
// first, so that what indexes by it keeps their places.
var Kinds = []Kind{KindSmoke, KindHydrant, KindCharger, KindElectrical, KindGas, KindButton, KindCamera}

// ParseKind returns the kind named s (the contract's own constant, not a
// view of s), or an error naming what is expected.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown device kind %q (want %s)", s, KindList())
}

// KindList names every kind for a message: "smoke, hydrant, ... or camera".
func KindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Channel is the last segment of an uplink topic.
type Channel string

// Uplink channels of contract v1.
const (
	// ChannelEvent carries something that happened (an alarm, a fault).
	ChannelEvent Channel = "event"
	// ChannelTelemetry carries periodic values; it is also the heartbeat.
	ChannelTelemetry Channel = "telemetry"
)

// Events lists the events contract v1 knows for each kind.
var Events = map[Kind][]string{
	KindSmoke:   {"alarm", "clear", "test", "fault", "tamper", "low_battery", "hush"},
	KindHydrant: {"impact", "valve_open", "fault", "low_battery"},
	KindCharger: {"overload", "over_temp", "short_circuit", "smoke", "fault"},
	// residual_current_alarm and over_temp: the monitor's own over-limit
	// alarms; clear: back under its limits.
	KindElectrical: {"residual_current_alarm", "over_temp", "fault", "clear", "test"},
	// valve_closed: the valve closed (by a valve_close command, or by the
	// detector itself on an alarm).
	KindGas: {"alarm", "clear", "fault", "valve_closed", "test"},
	// press: the resident called for help; cancel: pressed again, or
	// cancelled at the device.
	KindButton: {"press", "cancel", "low_battery", "fault", "test"},
	// A detection event carries the snapshot in media.
	KindCamera: {"fire_lane_blocked", "ebike_in_lift", "fault"},
}

// Commands lists the downlink commands each kind takes (fg/v1/{kind}/{id}/cmd).
var Commands = map[Kind][]string{
	KindCharger: {"port_off"},
	KindGas:     {"valve_close"},
}

// KnownEvent reports whether ev is an event of kind k.
func KnownEvent(k Kind, ev string) bool {
	for _, e := range Events[k] {
		if e == ev {
			return true
		}
	}
	return false
}

// Point is a WGS 84 position in degrees.
type Point struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// Contact is a person firegrid may call or notify.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// ResidentFlags mark who lives at a site and needs particular care.
type ResidentFlags struct {
	ElderlyAlone bool `json:"elderly_alone,omitempty"` // 独居老人
	Bereaved     bool `json:"bereaved,omitempty"`      // 失独老人
	Disabled     bool `json:"disabled,omitempty"`      // 残疾人
}

// Any reports whether any flag is set.
func (f ResidentFlags) Any() bool { return f.ElderlyAlone || f.Bereaved || f.Disabled }

// SiteType says what a site is.
type SiteType string

// Site types.
const (
	SiteHousehold    SiteType = "household"
	SiteCorridor     SiteType = "corridor"
	SiteChargingShed SiteType = "charging_shed"
	SiteHydrant      SiteType = "hydrant"
	// SiteBuilding is a larger building (an elderly care home, a market)
	// whose own fire alarm system reports through a user information
	// transmission device (用户信息传输装置).
	SiteBuilding SiteType = "building"
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
	// Media are URLs of what the device captured with the message: a
	// camera's snapshot of what it detected. At most MaxMedia, each an
	// http or https URL of at most MaxMediaURL bytes.
	Media []string `json:"media,omitempty"`
}

// Bounds of Message.Media.
const (
	MaxMedia    = 4
	MaxMediaURL = 512
)

// Reading is a Message that ingest accepted and enriched from the registry:
// what the rule engine, the console's recent values and the time-series
// sink consume. On the bus it is keyed by Site, so that every device of a
// building lands on one partition.
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
	// ClockSkewed is set when the device's ts was too far from the
	// receive time to be believed: TS then holds the receive time and the
	// device's own ts is kept in DeviceTS.
	ClockSkewed bool      `json:"clock_skewed,omitempty"`
	DeviceTS    time.Time `json:"device_ts,omitzero"`
}

// ReadingID is the id of the message a device sent with seq at ts (its own
// ts): kind/device/seq/unix-milliseconds. It is derived from what the
// device said, so that a redelivered or replayed message has the id it had
// the first time.
func ReadingID(kind Kind, device string, seq uint64, ts time.Time) string {
	b := make([]byte, 0, 64)
	b = append(b, kind...)
	b = append(b, '/')
	b = append(b, device...)
	b = append(b, '/')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, ts.UnixMilli(), 10)
	return string(b)
}

// IDTime is the time the reading's id is derived from: the device's own
// ts, even when its clock was off and TS holds the receive time.
func (r *Reading) IDTime() time.Time {
	if !r.DeviceTS.IsZero() {
		return r.DeviceTS
	}
	return r.TS
}

// Command is a downlink to a device, published on fg/v1/{kind}/{id}/cmd.
// Kind and Device address it; the rest is the payload.
type Command struct {
	Kind     Kind   `json:"kind"`
	Device   string `json:"device"`
	Cmd      string `json:"cmd"`
	Port     int    `json:"port,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Incident string `json:"incident,omitempty"`
	Signal   string `json:"signal,omitempty"`
}

// Payload is the command as the device receives it: the contract-v1 JSON
// object without the address, e.g.
// {"cmd":"port_off","port":3,"reason":"over_temp","incident":"INC-..."}.
func (c *Command) Payload() []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"cmd":`...)
	b = appendJSONString(b, c.Cmd)
	if c.Port != 0 {
		b = append(b, `,"port":`...)
		b = fmt.Appendf(b, "%d", c.Port)
	}
	for _, f := range [...]struct{ k, v string }{{"reason", c.Reason}, {"incident", c.Incident}, {"signal", c.Signal}} {
		if f.v != "" {
			b = append(b, `,"`...)
			b = append(b, f.k...)
			b = append(b, `":`...)
			b = appendJSONString(b, f.v)
		}
	}
	return append(b, '}')
}
