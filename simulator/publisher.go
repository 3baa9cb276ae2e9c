package simulator

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/firegrid/firegrid/internal/clock"
)

// Publisher sends one MQTT message. It returns once the broker has taken
// the message at the given QoS (for QoS 1, once the PUBACK arrived), or
// with an error when ctx ends first.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// PublisherFunc adapts a function to the Publisher interface.
type PublisherFunc func(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	return f(ctx, topic, qos, retained, payload)
}

// Record is one message a Recorder took.
type Record struct {
	Time     time.Time // the Recorder's clock when the message was published; zero without a clock
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Recorder is a Publisher that keeps every message in memory, for tests and
// for recording a run. The zero value is ready to use; set Clock to stamp
// each Record with the time it was published. It is safe for concurrent use.
type Recorder struct {
	Clock clock.Clock

	mu      sync.Mutex
	records []Record
}

// Publish records the message. It copies payload, so the caller may reuse
// its buffer.
func (r *Recorder) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rec := Record{Topic: topic, QoS: qos, Retained: retained, Payload: slices.Clone(payload)}
	if r.Clock != nil {
		rec.Time = r.Clock.Now()
	}
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	return nil
}

// Records returns a copy of what was published so far, in order.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

// Len reports how many messages were published so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records)
}
