// Package ingest is the first stage of the pipeline: it decodes a device's
// uplink, checks it against the registry (the topic's device must exist and
// be of the topic's kind), enriches it (site, grid, station, location) and
// hands the Reading to the pipeline, keyed by site; events on their own
// topic, so that an alarm never waits behind telemetry.
//
// Uplinks of field sources (GB/T 26875.3 transmission units, ChirpStack,
// carrier platforms' pushes) come through the same seam, each read by the
// decoder registered for its source, and are checked and enriched alike.
//
// It takes uplinks through one seam, Accept, which returns once the pipeline
// has the result: the broker acknowledges a device's message (PUBACK) only
// after that. Ingest never crashes on input and never waits on the
// time-series sink: what it cannot take it counts and dead-letters with the
// reason, and goes on. It knows nothing of MQTT or of the bus: the broker
// calls Accept, and the assembly gives it a contract.Publisher.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// Config is ingest's configuration.
type Config struct {
	// MaxPayload is the largest payload taken, in bytes.
	MaxPayload int `yaml:"max_payload"`
	// MaxFutureSkew is how far ahead of the receive time a device's ts may
	// be. Telemetry further ahead is rejected; an event further ahead (or
	// older than MaxPastSkew) is taken with the receive time instead and
	// flagged: a fire alarm is never refused for a wrong clock.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// MaxPastSkew is how far behind the receive time an event's ts may be
	// before the receive time is used instead (0: no limit).
	MaxPastSkew time.Duration `yaml:"max_past_skew"`
	// Workers and QueueDepth size the subscriber that takes uplinks from an
	// external broker: a device's messages always go to one worker, so
	// they keep their order; a full queue holds MQTT delivery back.
	Workers    int `yaml:"workers"`
	QueueDepth int `yaml:"queue_depth"`
	// SharedGroup, when set, subscribes to an external broker through
	// $share/{group}/, so that several ingest processes split the load.
	SharedGroup string `yaml:"shared_group"`
	// ClientID is the MQTT client id with an external broker (a
	// persistent session is kept under it).
	ClientID string `yaml:"client_id"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxPayload:    16 << 10,
		MaxFutureSkew: 5 * time.Minute,
		MaxPastSkew:   24 * time.Hour,
		Workers:       4,
		QueueDepth:    256,
		ClientID:      "firegrid-ingest",
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
	if c.MaxPastSkew < 0 {
		errs = append(errs, fmt.Errorf("max_past_skew: want a duration >= 0, got %s", c.MaxPastSkew))
	}
	if c.Workers < 1 || c.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers: want 1..1024, got %d", c.Workers))
	}
	if c.QueueDepth < 1 {
		errs = append(errs, fmt.Errorf("queue_depth: want at least 1, got %d", c.QueueDepth))
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
	out     contract.Publisher
	clock   clock.Clock
	decoder Decoder
	log     *slog.Logger
	m       *metrics
	// taken counts the uplinks the pipeline has (as readings or dead
	// letters).
	taken atomic.Uint64

	// The field sources' decoders, by source (contract.Uplink.Source).
	sources map[string]SourceDecoder
	sm      *sourceMetrics
	repeats repeats
}

// Options are the Ingester's collaborators. Registerer may be nil.
type Options struct {
	Registry *devices.Registry
	// Publisher takes readings and dead letters: the bus.
	Publisher  contract.Publisher
	Clock      clock.Clock
	Decoder    Decoder
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Sources are the decoders of the field sources this process takes
	// uplinks from, by source name (contract.SourceGB26875, ...); an
	// uplink of a source not here is dead-lettered as unknown_source.
	Sources map[string]SourceDecoder
}

// New returns an Ingester.
func New(cfg Config, o Options) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Registry == nil || o.Publisher == nil {
		return nil, errors.New("ingest: registry and publisher are required")
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
	return &Ingester{cfg: cfg, reg: o.Registry, out: o.Publisher, clock: o.Clock, decoder: o.Decoder,
		log: o.Logger, m: newMetrics(o.Registerer), sources: o.Sources, sm: newSourceMetrics(o.Registerer),
		repeats: repeats{size: RepeatMemory}}, nil
}

// Config returns the configuration the ingester runs with.
func (in *Ingester) Config() Config { return in.cfg }

// Accept takes one uplink: it publishes a Reading, or a dead letter with
// the reason, and returns once the pipeline has it. It returns an error
// only when the pipeline took neither, in which case the device's message
// must not be acknowledged. A zero ReceivedAt means now.
func (in *Ingester) Accept(ctx context.Context, u *contract.Uplink) error {
	now := u.ReceivedAt
	if now.IsZero() {
		now = in.clock.Now()
	}
	if u.Source != "" {
		return in.acceptSource(ctx, now, u)
	}
	reading, rej := in.accept(now, u.Topic, u.Payload)
	if rej != nil {
		in.m.rejected.WithLabelValues(string(rej.Reason)).Inc()
		d := contract.NewDeadLetter(now, u.Topic, u.Payload, rej.Reason, rej.Detail)
		if err := in.out.Publish(ctx, d.Record()); err != nil {
			return fmt.Errorf("ingest: publish dead letter: %w", err)
		}
		in.log.Debug("rejected device message", "topic", u.Topic, "reason", rej.Reason, "detail", rej.Detail)
		in.taken.Add(1)
		return nil
	}
	if err := in.out.Publish(ctx, reading.Record()); err != nil {
		return fmt.Errorf("ingest: publish reading: %w", err)
	}
	in.m.acceptedBy[reading.Kind].Inc()
	in.taken.Add(1)
	return nil
}

// Taken reports how many uplinks the pipeline has taken, as readings or
// as dead letters.
func (in *Ingester) Taken() uint64 { return in.taken.Load() }

// accept decodes, validates and enriches; it counts the message received.
func (in *Ingester) accept(now time.Time, topic string, payload []byte) (*contract.Reading, *RejectError) {
	kind, _, _, _ := contract.ParseUplinkTopic(topic) // "" for a bad topic: counted as unknown
	in.m.receivedFor(kind).Inc()
	if len(payload) > in.cfg.MaxPayload {
		return nil, reject(contract.ReasonOversized, "payload of %d bytes, limit %d", len(payload), in.cfg.MaxPayload)
	}
	msg, err := in.decoder.Decode(topic, payload)
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) {
			return nil, rej
		}
		return nil, reject(contract.ReasonMalformed, "%v", err)
	}
	return in.enrich(now, msg)
}

// enrich checks a decoded message against the registry and the clock and
// makes its Reading: what every decoder's messages go through.
func (in *Ingester) enrich(now time.Time, msg contract.Message) (*contract.Reading, *RejectError) {
	dev, ok := in.reg.Device(msg.Device)
	if !ok {
		return nil, reject(contract.ReasonUnknownDevice, "device %q is not in the registry", msg.Device)
	}
	if dev.Kind != msg.Kind {
		return nil, reject(contract.ReasonKindMismatch, "device %q is a %s, topic says %s", msg.Device, dev.Kind, msg.Kind)
	}
	r := &contract.Reading{
		Message:    msg,
		ReceivedAt: now,
		Site:       dev.Site,
		Zone:       dev.Zone(),
		Community:  dev.Community(),
		Station:    dev.Station(),
		Location:   dev.Location,
	}
	ahead := msg.TS.Sub(now)
	if msg.Channel == contract.ChannelEvent {
		if (in.cfg.MaxFutureSkew > 0 && ahead > in.cfg.MaxFutureSkew) || (in.cfg.MaxPastSkew > 0 && -ahead > in.cfg.MaxPastSkew) {
			// A wrong clock must not keep an alarm from the console: the
			// receive time stands in for the device's, and the event says so.
			r.ClockSkewed, r.DeviceTS, r.TS = true, msg.TS, now
			in.m.skewed.WithLabelValues(string(msg.Kind)).Inc()
			in.log.Warn("device clock is off; event taken at its receive time", "device", msg.Device, "event", msg.Event,
				"device_ts", msg.TS.Format(time.RFC3339), "received", now.Format(time.RFC3339))
		}
	} else if in.cfg.MaxFutureSkew > 0 && ahead > in.cfg.MaxFutureSkew {
		return nil, reject(contract.ReasonFutureTimestamp, "ts %s is %s ahead of the receive time (limit %s)",
			msg.TS.Format(time.RFC3339), ahead.Round(time.Second), in.cfg.MaxFutureSkew)
	}
	if dev.Kind == contract.KindCharger && dev.Ports > 0 {
		for _, p := range msg.Ports {
			if p.Port > dev.Ports {
				return nil, reject(contract.ReasonInvalidField, "values.ports: port %d, device %q has %d ports", p.Port, dev.ID, dev.Ports)
			}
		}
	}
	r.ID = contract.ReadingID(r.Kind, r.Device, r.Seq, r.IDTime())
	return r, nil
}
