package contract

import (
	"context"
	"errors"
	"time"
)

// The pipeline's topics: the bus's, in process and on Kafka (where the
// configuration maps each to a Kafka topic). Each carries one type of value,
// always as a pointer, with the key that decides its partition.
const (
	// TopicTelemetry carries *Reading of the telemetry channel, keyed by
	// site: bulk, batched.
	TopicTelemetry = "telemetry"
	// TopicEvents carries *Reading of the event channel (alarms, faults),
	// keyed by site and partitioned like TopicTelemetry, so that a site's
	// events and telemetry meet in one rules instance; events never wait
	// behind telemetry.
	TopicEvents = "events"
	// TopicSignals carries *Signal, keyed by site.
	TopicSignals = "signals"
	// TopicIncidents carries *IncidentChange, keyed by incident id.
	TopicIncidents = "incidents"
	// TopicCommands carries *Command, keyed by device.
	TopicCommands = "commands"
	// TopicDeadLetters carries *DeadLetter, keyed by reason.
	TopicDeadLetters = "deadletters"
	// TopicControl carries *Control, under one key.
	TopicControl = "control"
	// TopicHazards carries *HazardChange, keyed by hazard id.
	TopicHazards = "hazards"
)

// Topics lists every pipeline topic.
var Topics = []string{TopicTelemetry, TopicEvents, TopicSignals, TopicIncidents, TopicCommands, TopicDeadLetters, TopicControl, TopicHazards}

// Record is one value on the pipeline: a contract value (a pointer, of the
// topic's type), the key that decides its partition, and when it was
// produced.
type Record struct {
	Topic string
	Key   string
	Value any
	Time  time.Time
}

// ErrPoison marks a record a consumer can never handle: the bus drops it
// instead of delivering it again (the consumer has counted or logged it).
// Any other error from a consumer makes the bus deliver the record again.
var ErrPoison = errors.New("poison record")

// Publisher hands records to the pipeline and returns once the pipeline
// has taken them (in process: queued for every consumer; on Kafka: written
// to every in-sync replica). The bus implements it; stages publish through
// it and never import the bus.
type Publisher interface {
	Publish(ctx context.Context, recs ...Record) error
}

// PublisherFunc adapts a function to Publisher.
type PublisherFunc func(ctx context.Context, recs ...Record) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, recs ...Record) error { return f(ctx, recs...) }

// Record returns the record of a reading: the events topic for the event
// channel, the telemetry topic otherwise, keyed by site.
func (r *Reading) Record() Record {
	t := TopicTelemetry
	if r.Channel == ChannelEvent {
		t = TopicEvents
	}
	return Record{Topic: t, Key: r.Site, Value: r, Time: r.ReceivedAt}
}

// Record returns the record of a signal, keyed by site.
func (s *Signal) Record() Record { return Record{Topic: TopicSignals, Key: s.Site, Value: s} }

// Record returns the record of an incident change, keyed by incident.
func (c *IncidentChange) Record() Record {
	return Record{Topic: TopicIncidents, Key: c.Incident.ID, Value: c, Time: c.At}
}

// Record returns the record of a command, keyed by device.
func (c *Command) Record() Record { return Record{Topic: TopicCommands, Key: c.Device, Value: c} }

// Record returns the record of a dead letter, keyed by reason.
func (d *DeadLetter) Record() Record {
	return Record{Topic: TopicDeadLetters, Key: string(d.Reason), Value: d, Time: d.At}
}

// Record returns the record of a control message.
func (c *Control) Record() Record {
	return Record{Topic: TopicControl, Key: "control", Value: c, Time: c.At}
}

// Uplink is a device message as the broker took it: the raw topic and
// payload and when it arrived. Ingest makes a Reading or a DeadLetter of
// it; in `firegrid serve` it is what the uplink log keeps.
type Uplink struct {
	Topic      string
	Payload    []byte
	ReceivedAt time.Time
	// Source names where the uplink came from and so which of ingest's
	// decoders reads it: empty for contract v1 over MQTT (fg/v1/...), else
	// a field source such as SourceGB26875. For those, Topic says where
	// the payload came from (the MQTT topic, the push endpoint, the
	// transmission unit) and is what a dead letter shows.
	Source string
	// Remote is the sender's network address, when the source knows it.
	Remote string
}

// The field sources of uplinks beside contract v1 over MQTT.
const (
	// SourceGB26875 is a GB/T 26875.3 frame from a user information
	// transmission device over TCP; Topic is gb26875/{unit address}.
	SourceGB26875 = "gb26875"
	// SourceChirpStack is a ChirpStack v4 integration event over MQTT;
	// Topic is its MQTT topic, application/{app}/device/{dev_eui}/event/{up|status|join}.
	SourceChirpStack = "chirpstack"
	// SourceCTWing and SourceOneNET are HTTP pushes of the carrier IoT
	// platforms (China Telecom CTWing, China Mobile OneNET); Topic is the
	// endpoint's path.
	SourceCTWing = "ctwing"
	SourceOneNET = "onenet"
)

// NewValue returns a new zero value of the type topic carries (a pointer),
// or nil for a topic the contract does not know: what a decoder fills.
func NewValue(topic string) any {
	switch topic {
	case TopicTelemetry, TopicEvents:
		return new(Reading)
	case TopicSignals:
		return new(Signal)
	case TopicIncidents:
		return new(IncidentChange)
	case TopicCommands:
		return new(Command)
	case TopicDeadLetters:
		return new(DeadLetter)
	case TopicControl:
		return new(Control)
	case TopicHazards:
		return new(HazardChange)
	}
	return nil
}
