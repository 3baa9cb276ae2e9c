// Package ingest takes device messages off MQTT, decodes them, checks them
// against the registry, enriches them (site, grid, station, location) and
// hands them to the bus, keyed by site. It also carries the bus's commands
// back to devices over MQTT.
//
// An MQTT message is acknowledged only once the bus has it (at least once,
// with the worker queues as backpressure). Ingest never crashes on input and
// never waits on the time-series sink: what it cannot take it counts and
// dead-letters with the reason, and goes on.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// Config is the ingest role's configuration.
type Config struct {
	// MaxPayload is the largest payload taken, in bytes.
	MaxPayload int `yaml:"max_payload"`
	// MaxFutureSkew is how far ahead of the receive time a device's ts may
	// be before the message is rejected.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// Workers decode and publish in parallel; a device's messages always go
	// to one worker, so they keep their order.
	Workers int `yaml:"workers"`
	// QueueDepth is each worker's queue; when full, MQTT delivery waits.
	QueueDepth int `yaml:"queue_depth"`
	// DeadLetterCapacity bounds the dead-letter store.
	DeadLetterCapacity int `yaml:"dead_letter_capacity"`
	// SharedGroup, when set, subscribes through $share/{group}/ so that
	// several ingest processes split the load.
	SharedGroup string `yaml:"shared_group"`
	// ClientID is the MQTT client id (a persistent session is kept under it).
	ClientID string `yaml:"client_id"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxPayload:         16 << 10,
		MaxFutureSkew:      5 * time.Minute,
		Workers:            4,
		QueueDepth:         256,
		DeadLetterCapacity: 1000,
		ClientID:           "firegrid-ingest",
	}
}

// Validate checks the configuration; errors name the YAML key.
func (c Config) Validate() error {
	var errs []error
	if c.MaxPayload < 64 {
		errs = append(errs, fmt.Errorf("max_payload: want at least 64 bytes, got %d", c.MaxPayload))
	}
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max_future_skew: want a duration >= 0, got %s", c.MaxFutureSkew))
	}
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers: want 1..1024, got %d", c.Workers))
	}
	if c.QueueDepth < 1 {
		errs = append(errs, fmt.Errorf("queue_depth: want at least 1, got %d", c.QueueDepth))
	}
	if c.DeadLetterCapacity < 1 {
		errs = append(errs, fmt.Errorf("dead_letter_capacity: want at least 1, got %d", c.DeadLetterCapacity))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: want a non-empty MQTT client id"))
	}
	return errors.Join(errs...)
}

// Ingester validates and enriches device messages and publishes them.
type Ingester struct {
	cfg     Config
	reg     *devices.Registry
	bus     bus.Bus
	clock   clock.Clock
	decoder Decoder
	log     *slog.Logger
	m       *metrics

	ready     chan struct{} // closed once subscribed
	readyOnce sync.Once
}

// Subscribed is closed once the ingester has subscribed to the device
// topics for the first time.
func (in *Ingester) Subscribed() <-chan struct{} { return in.ready }

// Options are the Ingester's collaborators. Registerer may be nil.
type Options struct {
	Registry   *devices.Registry
	Bus        bus.Bus
	Clock      clock.Clock
	Decoder    Decoder
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// New returns an Ingester.
func New(cfg Config, o Options) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Registry == nil || o.Bus == nil {
		return nil, errors.New("ingest: registry and bus are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Decoder == nil {
		o.Decoder = JSON{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ingester{cfg: cfg, reg: o.Registry, bus: o.Bus, clock: o.Clock, decoder: o.Decoder,
		log: o.Logger, m: newMetrics(o.Registerer), ready: make(chan struct{})}, nil
}

// Handle takes one uplink: it publishes a Reading, or a dead letter with
// the reason. It returns an error only when the bus did not take either, in
// which case the MQTT message must not be acknowledged.
func (in *Ingester) Handle(ctx context.Context, topic string, payload []byte) error {
	now := in.clock.Now()
	reading, rej := in.accept(now, topic, payload)
	if rej != nil {
		in.m.rejected.WithLabelValues(string(rej.Reason)).Inc()
		d := newDeadLetter(now, topic, payload, rej)
		val, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("ingest: encode dead letter: %w", err)
		}
		if err := in.bus.Publish(ctx, bus.Record{Topic: bus.TopicDeadLetters, Key: []byte(rej.Reason), Value: val, Time: now}); err != nil {
			return fmt.Errorf("ingest: publish dead letter: %w", err)
		}
		in.log.Debug("rejected device message", "topic", topic, "reason", rej.Reason, "detail", rej.Detail)
		return nil
	}
	val, err := json.Marshal(reading)
	if err != nil {
		return fmt.Errorf("ingest: encode reading: %w", err)
	}
	// A device event (an alarm) is sent at once; periodic readings may wait
	// a few milliseconds for a batch.
	urgent := reading.Channel == devices.ChannelEvent
	if err := in.bus.Publish(ctx, bus.Record{Topic: bus.TopicTelemetry, Key: []byte(reading.Site), Value: val, Time: now, Urgent: urgent}); err != nil {
		return fmt.Errorf("ingest: publish reading: %w", err)
	}
	in.m.acceptedBy[reading.Kind].Inc()
	return nil
}

// accept decodes, validates and enriches; it counts the message received.
func (in *Ingester) accept(now time.Time, topic string, payload []byte) (devices.Reading, *RejectError) {
	kind, _, _, _ := ParseTopic(topic) // "" for a bad topic: counted as unknown
	in.m.receivedFor(kind).Inc()
	if len(payload) > in.cfg.MaxPayload {
		return devices.Reading{}, reject(ReasonOversized, "payload of %d bytes, limit %d", len(payload), in.cfg.MaxPayload)
	}
	msg, err := in.decoder.Decode(topic, payload)
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) {
			return devices.Reading{}, rej
		}
		return devices.Reading{}, reject(ReasonMalformed, "%v", err)
	}
	dev, ok := in.reg.Device(msg.Device)
	if !ok {
		return devices.Reading{}, reject(ReasonUnknownDevice, "device %q is not in the registry", msg.Device)
	}
	if dev.Kind != msg.Kind {
		return devices.Reading{}, reject(ReasonKindMismatch, "device %q is a %s, topic says %s", msg.Device, dev.Kind, msg.Kind)
	}
	if in.cfg.MaxFutureSkew > 0 && msg.TS.Sub(now) > in.cfg.MaxFutureSkew {
		return devices.Reading{}, reject(ReasonFutureTimestamp, "ts %s is %s ahead of the receive time (limit %s)",
			msg.TS.Format(time.RFC3339), msg.TS.Sub(now).Round(time.Second), in.cfg.MaxFutureSkew)
	}
	if dev.Kind == devices.KindCharger && dev.Ports > 0 {
		for _, p := range msg.Ports {
			if p.Port > dev.Ports {
				return devices.Reading{}, reject(ReasonInvalidField, "values.ports: port %d, device %q has %d ports", p.Port, dev.ID, dev.Ports)
			}
		}
	}
	return devices.Reading{
		ID:         ReadingID(msg),
		Message:    msg,
		ReceivedAt: now,
		Site:       dev.Site,
		Zone:       dev.Zone,
		Community:  dev.Community,
		Station:    dev.Station,
		Location:   dev.Location,
	}, nil
}

// ReadingID derives a message's id from what the device said, so that a
// redelivered or replayed message has the id it had the first time.
func ReadingID(m devices.Message) string {
	b := make([]byte, 0, 64)
	b = append(b, m.Kind...)
	b = append(b, '/')
	b = append(b, m.Device...)
	b = append(b, '/')
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, m.TS.UnixMilli(), 10)
	return string(b)
}
