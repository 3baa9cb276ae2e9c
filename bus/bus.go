// Package bus is the pipeline between firegrid's roles: ingest publishes
// readings, rules publishes signals and commands, alarm publishes incident
// changes. It has two implementations picked by configuration: Memory, in
// process, for `firegrid serve`; and Kafka for the scale-out roles.
//
// Both give the same guarantee: Publish returns only once the bus has taken
// the records (so an MQTT message may then be acknowledged), and a consumer's
// handler is called again for a record until it returns nil (at least once).
// Handlers must therefore be idempotent. The bus never decodes a record.
package bus

import (
	"context"
	"errors"
	"time"
)

// Topic names used by firegrid. The Kafka bus maps them to configured names.
const (
	TopicTelemetry   = "telemetry"   // devices.Reading, keyed by site
	TopicSignals     = "signals"     // rules.Signal, keyed by site
	TopicIncidents   = "incidents"   // alarm.Change, keyed by incident id (audit log)
	TopicCommands    = "commands"    // devices.CommandEnvelope, keyed by device
	TopicDeadLetters = "deadletters" // ingest.DeadLetter, keyed by reason
)

// Record is one message on the bus.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
	// Time is when the record was produced; the bus sets it when zero.
	Time time.Time
	// Urgent asks the bus not to hold the record back to fill a batch: a
	// device event (an alarm) shares the telemetry topic with bulk
	// readings, and must not wait for them.
	Urgent bool
}

// Handler consumes one record. A nil error commits it; an error makes the
// bus deliver the record again after a back-off, unless the error wraps
// ErrPoison, which drops it (the handler has dead-lettered or logged it).
type Handler func(ctx context.Context, r Record) error

// ErrPoison marks a record that can never be handled; the consumer drops it
// instead of retrying forever.
var ErrPoison = errors.New("poison record")

// Bus publishes records and runs consumers.
type Bus interface {
	// Publish hands records to the bus and returns once it has them.
	Publish(ctx context.Context, recs ...Record) error
	// Consume calls h for every record of topic, as consumer group group,
	// until ctx is done. Records with one key are handled in order.
	Consume(ctx context.Context, topic, group string, h Handler) error
	// Close releases the bus's resources.
	Close() error
}
