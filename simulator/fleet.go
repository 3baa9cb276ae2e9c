package simulator

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/minheap"
)

// Default heartbeat intervals and jitter of a fleet.
const (
	DefaultSmokeInterval   = 60 * time.Second
	DefaultHydrantInterval = 30 * time.Second
	DefaultChargerInterval = 30 * time.Second
	// DefaultDeviceInterval is the interval of the kinds added within
	// contract v1 (electrical fire monitors, gas detectors, cameras);
	// DefaultButtonInterval a call button's, which saves its battery.
	DefaultDeviceInterval = 60 * time.Second
	DefaultButtonInterval = 10 * time.Minute
	DefaultJitter         = 0.1
	// MinInterval is the shortest heartbeat interval a fleet accepts.
	MinInterval = 10 * time.Millisecond
)

// FleetConfig says how a fleet's devices send their heartbeats. The zero
// value means the defaults: every device, the default intervals, ±10 %
// jitter.
type FleetConfig struct {
	// Off stops every heartbeat: only scenario steps publish.
	Off bool `yaml:"off"`
	// SmokeInterval, HydrantInterval and ChargerInterval are the
	// heartbeat (telemetry) intervals per kind; 0 means the default (60 s,
	// 30 s, 30 s).
	SmokeInterval   time.Duration `yaml:"smoke_interval"`
	HydrantInterval time.Duration `yaml:"hydrant_interval"`
	ChargerInterval time.Duration `yaml:"charger_interval"`
	// Jitter is the share of the interval each gap may be off by, drawn at
	// random: 0.1 makes a 60 s interval a gap between 54 s and 66 s. 0
	// means the default 0.1; a negative value means none. At most 0.5.
	Jitter float64 `yaml:"jitter"`
	// Kinds, when not empty, limits heartbeats to devices of these kinds.
	Kinds []contract.Kind `yaml:"kinds"`
	// Devices, when not empty, limits heartbeats to these device ids.
	Devices []string `yaml:"devices"`
}

// Interval returns the heartbeat interval of kind, defaults applied.
func (c FleetConfig) Interval(kind contract.Kind) time.Duration {
	var d, def time.Duration
	switch kind {
	case contract.KindSmoke:
		d, def = c.SmokeInterval, DefaultSmokeInterval
	case contract.KindHydrant:
		d, def = c.HydrantInterval, DefaultHydrantInterval
	case contract.KindCharger:
		d, def = c.ChargerInterval, DefaultChargerInterval
	case contract.KindButton:
		def = DefaultButtonInterval
	default:
		def = DefaultDeviceInterval
	}
	if d == 0 {
		return def
	}
	return d
}

// jitter returns the jitter share, defaults applied.
func (c FleetConfig) jitter() float64 {
	switch {
	case c.Jitter == 0:
		return DefaultJitter
	case c.Jitter < 0:
		return 0
	}
	return c.Jitter
}

// Validate reports what is wrong with c, naming the fields as they are
// spelled in YAML.
func (c FleetConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"smoke_interval", c.SmokeInterval}, {"hydrant_interval", c.HydrantInterval}, {"charger_interval", c.ChargerInterval}} {
		if f.d != 0 && f.d < MinInterval {
			errs = append(errs, fmt.Errorf("%s: %v is too short (want at least %v, or 0 for the default)", f.name, f.d, MinInterval))
		}
	}
	if c.Jitter > 0.5 {
		errs = append(errs, fmt.Errorf("jitter: %g is too large (want at most 0.5)", c.Jitter))
	}
	for i, k := range c.Kinds {
		if _, err := contract.ParseKind(string(k)); err != nil {
			errs = append(errs, fmt.Errorf("kinds[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Merge returns c with every field that over sets replacing c's.
func (c FleetConfig) Merge(over FleetConfig) FleetConfig {
	if over.Off {
		c.Off = true
	}
	if over.SmokeInterval != 0 {
		c.SmokeInterval = over.SmokeInterval
	}
	if over.HydrantInterval != 0 {
		c.HydrantInterval = over.HydrantInterval
	}
	if over.ChargerInterval != 0 {
		c.ChargerInterval = over.ChargerInterval
	}
	if over.Jitter != 0 {
		c.Jitter = over.Jitter
	}
	if len(over.Kinds) > 0 {
		c.Kinds = slices.Clone(over.Kinds)
	}
	if len(over.Devices) > 0 {
		c.Devices = slices.Clone(over.Devices)
	}
	return c
}

// Publication is one entry of a simulation's timeline: a message to
// publish at an offset from the start of the run.
//
// The Runner stamps Message.TS with its clock when it publishes and fills
// Payload; until then TS is zero and Payload nil (Stamp does both). An
// entry for a silence or resume step has an empty Topic: it marks when the
// step took effect, and nothing is published.
type Publication struct {
	At       time.Duration // offset from the start, in scenario time
	Topic    string
	QoS      byte
	Retained bool
	Message  contract.Message
	Payload  []byte
	// Step is the scenario step this entry comes from, nil for a fleet
	// heartbeat or an event the fleet's own models raised (a low battery).
	Step *Step
	// Repeat counts the step's repetitions: 0 for its first publication.
	Repeat int
}

// Device is the device the publication speaks for: its message's, or its
// topic's for a replayed capture.
func (p *Publication) Device() string {
	if p.Message.Device != "" {
		return p.Message.Device
	}
	_, id, _, _ := contract.ParseUplinkTopic(p.Topic)
	return id
}

// Stamp sets the message's timestamp to t and encodes the payload, reusing
// p.Payload's storage.
func (p *Publication) Stamp(t time.Time) {
	p.Message.TS = t
	p.Payload = contract.AppendPayload(p.Payload[:0], p.Message)
}

// Fleet is a set of simulated devices and their heartbeat schedule. Next
// returns the heartbeats in time order; the same devices, config and seed
// give the same sequence. A Fleet is not safe for concurrent use.
type Fleet struct {
	cfg     FleetConfig
	seed    uint64
	models  []*model
	byID    map[string]*model
	queue   minheap.Heap[slot]
	pending []Publication // events raised by the last heartbeat
	seqBase uint64
	start   time.Time // simulated wall-clock time at offset 0
}

// SetStart sets the simulated wall-clock time at offset 0, which gives the
// devices' daily cycles (the hydrants' water demand) their time of day, in
// t's location. A fleet starts at the zero time (midnight) until told
// otherwise; a Runner sets it. Call it before the first Next.
func (f *Fleet) SetStart(t time.Time) { f.start = t }

// NewFleet returns a fleet of devs. Each device's first heartbeat falls at
// random within its first interval, so that a fleet does not publish in one
// burst; later ones follow the interval with jitter. Device ids must be
// unique.
func NewFleet(devs []*devices.Device, cfg FleetConfig, seed uint64) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{
		cfg:    cfg,
		seed:   seed,
		models: make([]*model, 0, len(devs)),
		byID:   make(map[string]*model, len(devs)),
	}
	for _, d := range devs {
		if d == nil {
			continue
		}
		if _, err := contract.ParseKind(string(d.Kind)); err != nil {
			return nil, fmt.Errorf("fleet: device %s: %w", d.ID, err)
		}
		if _, dup := f.byID[d.ID]; dup {
			return nil, fmt.Errorf("fleet: device %s appears twice", d.ID)
		}
		f.add(d.ID, d.Kind, d.Ports)
	}
	for _, id := range cfg.Devices {
		if _, ok := f.byID[id]; !ok {
			return nil, fmt.Errorf("fleet: devices: %s is not among the fleet's devices", id)
		}
	}
	for _, m := range f.models {
		m.beats = !cfg.Off &&
			(len(cfg.Kinds) == 0 || slices.Contains(cfg.Kinds, m.kind)) &&
			(len(cfg.Devices) == 0 || slices.Contains(cfg.Devices, m.id))
		if !m.beats {
			continue
		}
		base := cfg.Interval(m.kind)
		at := time.Duration(float64(base) * m.rng.Float64())
		m.last = at - base
		m.queued = true
		f.queue.Push(slot{at: at, index: m.index})
	}
	return f, nil
}

// add models a device that has no heartbeats (yet).
func (f *Fleet) add(id string, kind contract.Kind, ports int) *model {
	m := newModel(id, kind, ports, len(f.models), f.seed)
	f.models = append(f.models, m)
	f.byID[id] = m
	return m
}

// Len reports how many devices the fleet models.
func (f *Fleet) Len() int { return len(f.models) }

// Kind returns the kind of the device id, if the fleet has it.
func (f *Fleet) Kind(id string) (contract.Kind, bool) {
	m, ok := f.byID[id]
	if !ok {
		return "", false
	}
	return m.kind, true
}

// Peek returns the offset of the next heartbeat, or false when no device
// will beat again.
func (f *Fleet) Peek() (time.Duration, bool) {
	if len(f.pending) > 0 {
		return f.pending[0].At, true
	}
	f.dropSilent()
	if f.queue.Len() == 0 {
		return 0, false
	}
	return f.queue.Top().at, true
}

// dropSilent takes silenced devices off the top of the schedule.
func (f *Fleet) dropSilent() {
	for f.queue.Len() > 0 {
		m := f.models[f.queue.Top().index]
		if !m.silent {
			return
		}
		f.queue.Pop()
		m.queued = false
	}
}

// Next returns the next heartbeat (a telemetry message) or an event a
// device's model raised, in time order, or false when no device will beat
// again.
func (f *Fleet) Next() (Publication, bool) {
	if len(f.pending) > 0 {
		p := f.pending[0]
		f.pending = f.pending[1:]
		return p, true
	}
	f.dropSilent()
	if f.queue.Len() == 0 {
		return Publication{}, false
	}
	s := f.queue.Pop()
	m := f.models[s.index]
	m.tick(s.at-m.last, f.start.Add(s.at))
	m.last = s.at
	p := f.publication(s.at, m, contract.ChannelTelemetry, "", nil)
	f.queue.Push(slot{at: s.at + m.interval(f.cfg.Interval(m.kind), f.cfg.jitter()), index: s.index})
	if m.batteryLow() {
		f.pending = append(f.pending[:0], f.publication(s.at, m, contract.ChannelEvent, "low_battery", nil))
	}
	return p, true
}

// publication builds the message m sends at offset at: its current values,
// with extra on top.
func (f *Fleet) publication(at time.Duration, m *model, ch contract.Channel, event string, extra map[string]float64) Publication {
	m.seq++
	vals := m.values()
	for k, x := range extra {
		vals[k] = x
	}
	msg := contract.Message{
		Kind:    m.kind,
		Device:  m.id,
		Channel: ch,
		Seq:     f.seqBase + m.seq,
		Event:   event,
		Values:  vals,
		Ports:   m.portValues(vals["voltage_v"]),
		Media:   m.snapshot(event, f.seqBase+m.seq),
	}
	return Publication{At: at, Topic: m.topic(ch), QoS: 1, Message: msg}
}

// apply plays one occurrence of a scenario step at offset at and returns
// what it publishes. The device must be known to the fleet.
func (f *Fleet) apply(at time.Duration, st *Step, repeat int) Publication {
	m := f.byID[st.Device]
	p := Publication{At: at, Step: st, Repeat: repeat}
	switch st.Action {
	case ActionSilence:
		m.silent = true
	case ActionResume:
		m.resume()
		if m.beats && !m.queued {
			m.queued = true
			m.last = at
			f.queue.Push(slot{at: at, index: m.index})
		}
	case ActionEvent, ActionTelemetry:
		if at > m.last {
			m.tick(at-m.last, f.start.Add(at))
			m.last = at
		}
		m.impose(st.Values, st.Ports)
		ch, event := contract.ChannelTelemetry, ""
		if st.Action == ActionEvent {
			ch, event = contract.ChannelEvent, st.Event
		}
		pub := f.publication(at, m, ch, event, nil)
		pub.Step, pub.Repeat = st, repeat
		return pub
	}
	return p
}

// slot is a device's next heartbeat in the schedule.
type slot struct {
	at    time.Duration
	index int
}

func (a slot) Before(b slot) bool {
	return a.at < b.at || a.at == b.at && a.index < b.index
}
