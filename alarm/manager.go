package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/rules"
)

// Change is one change of an incident, as pushed to consoles and to the
// incidents topic.
type Change struct {
	Event    string    `json:"event"` // opened, updated, confirmed, acknowledged, arrived, resolved
	At       time.Time `json:"at"`
	Incident *Incident `json:"incident"`
}

// Manager applies signals and crew actions to incidents.
type Manager struct {
	store Store
	reg   *devices.Registry
	bus   bus.Bus
	hub   *Hub
	clock clock.Clock
	log   *slog.Logger
	m     *metrics

	dispatch DispatchConfig
	wake     chan struct{} // a timer was armed

	// mu serialises this instance's writes; the store arbitrates between
	// instances.
	mu sync.Mutex
}

// Options are the Manager's collaborators; Bus and Registerer may be nil.
type Options struct {
	Store      Store
	Registry   *devices.Registry
	Bus        bus.Bus
	Hub        *Hub
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Dispatch sets timers and escalation; the zero value means
	// DefaultDispatchConfig.
	Dispatch *DispatchConfig
}

// NewManager loads the open incidents from the store.
func NewManager(ctx context.Context, o Options) (*Manager, error) {
	if o.Store == nil || o.Registry == nil {
		return nil, errors.New("alarm: store and registry are required")
	}
	if o.Hub == nil {
		o.Hub = NewHub()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dispatch == nil {
		d := DefaultDispatchConfig()
		o.Dispatch = &d
	}
	if err := o.Dispatch.Validate(); err != nil {
		return nil, fmt.Errorf("alarm: dispatch: %w", err)
	}
	m := &Manager{store: o.Store, reg: o.Registry, bus: o.Bus, hub: o.Hub, clock: o.Clock, log: o.Logger,
		m: newMetrics(o.Registerer), dispatch: *o.Dispatch, wake: make(chan struct{}, 1)}
	open, err := o.Store.List(ctx, Filter{Status: StatusOpen, Limit: -1})
	if err != nil {
		return nil, fmt.Errorf("alarm: load open incidents: %w", err)
	}
	m.m.open.Set(float64(len(open)))
	return m, nil
}

// Hub returns the hub the manager pushes changes to.
func (m *Manager) Hub() *Hub { return m.hub }

// HandleSignal is the bus handler for the signals topic.
func (m *Manager) HandleSignal(ctx context.Context, r bus.Record) error {
	var s rules.Signal
	if err := json.Unmarshal(r.Value, &s); err != nil {
		return fmt.Errorf("%w: signal: %v", bus.ErrPoison, err)
	}
	_, err := m.Apply(ctx, s)
	return err
}

// Apply applies one signal. It returns the changed incident, or nil when
// the signal changed nothing (a repeat, or a clear with nothing open).
func (m *Manager) Apply(ctx context.Context, s rules.Signal) (*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *Incident
	var event string
	err := m.retry(ctx, func(tx Tx) error {
		var err error
		in, event, err = m.apply(tx, s, m.clock.Now())
		return err
	})
	if err == nil && event == eventRepeat {
		m.m.repeated.Inc()
	}
	if err != nil || in == nil {
		return nil, err
	}
	now := in.UpdatedAt
	if event == "opened" {
		m.m.raised.WithLabelValues(in.Type, string(in.Severity)).Inc()
		m.m.open.Inc()
		m.log.Info("incident opened", "id", in.ID, "type", in.Type, "severity", in.Severity, "site", in.Site, "station", in.Station, "device", s.Device)
	}
	m.publish(ctx, event, now, in)
	if !s.ReceivedAt.IsZero() {
		m.m.latency.WithLabelValues(in.Type).Observe(m.clock.Now().Sub(s.ReceivedAt).Seconds())
	}
	if s.Action == rules.ActionRaise && s.Command != "" {
		m.command(ctx, s, in)
	}
	return in.clone(), nil
}

// retry runs f in a transaction, again when it lost a race.
func (m *Manager) retry(ctx context.Context, f func(Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = m.store.Tx(ctx, f); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

// eventRepeat is what apply says of a signal it had applied already.
const eventRepeat = "repeat"

// apply is Apply's transaction.
func (m *Manager) apply(tx Tx, s rules.Signal, now time.Time) (*Incident, string, error) {
	cur, err := openFor(tx, s)
	if err != nil {
		return nil, "", err
	}
	if cur != nil && cur.hasSignal(s.ID) {
		return nil, eventRepeat, nil
	}
	seen, err := tx.HasSignal(s.ID)
	if err != nil {
		return nil, "", err
	}
	if seen {
		return nil, eventRepeat, nil
	}
	ref := SignalRef{ID: s.ID, Rule: s.Rule, Action: s.Action, Device: s.Device, Message: s.Message, At: s.At, Detail: s.Detail,
		Related: s.Related, Suppressed: s.Suppressed}
	in, event := cur, "updated"
	switch {
	case s.Action == rules.ActionClear:
		if cur == nil {
			return nil, "", nil
		}
		in.Cleared = true
		in.Steps = append(in.Steps, Step{At: now, Action: "cleared", Device: s.Device, Signal: s.ID, Note: s.Detail})
	case cur != nil:
		in.Cleared = false
		if !in.hasDevice(s.Device) {
			in.Devices = append(in.Devices, s.Device)
			in.Steps = append(in.Steps, Step{At: now, Action: "joined", Device: s.Device, Signal: s.ID, Note: s.Detail})
		} else {
			in.Steps = append(in.Steps, Step{At: now, Action: "signal", Device: s.Device, Signal: s.ID, Note: s.Detail})
		}
		if s.Severity.Rank() < in.Severity.Rank() {
			in.Severity = s.Severity
		}
		in.Dispatchable = in.Dispatchable || s.Dispatchable
	default:
		if in, err = m.newIncident(s, now); err != nil {
			return nil, "", err
		}
		event = "opened"
	}
	if s.Action == rules.ActionRaise && upgrade(in, s, now) && event != "opened" {
		event = "confirmed"
	}
	in.Signals = append(in.Signals, ref)
	in.UpdatedAt = now
	in.Version++
	if err := m.arm(tx, in, now); err != nil {
		return nil, "", err
	}
	if err := tx.Save(in, s.ID); err != nil {
		return nil, "", err
	}
	return in, event, nil
}

// openFor finds the open incident a signal belongs to: the confirmed one
// of its type first, then the plain one.
func openFor(tx Tx, s rules.Signal) (*Incident, error) {
	if in, err := tx.OpenFor(s.Site, ConfirmedType(s.Type)); in != nil || err != nil {
		return in, err
	}
	return tx.OpenFor(s.Site, s.Type)
}

// upgrade applies what a raise says beyond joining: a confirmation (the
// type becomes the confirmed one, for the 119 centre if the rule says so)
// and flapping. It reports whether the incident became confirmed.
func upgrade(in *Incident, s rules.Signal, now time.Time) bool {
	confirmed := false
	if s.Confirmed && !in.Confirmed {
		in.Confirmed, in.Type = true, ConfirmedType(in.Type)
		in.Steps = append(in.Steps, Step{At: now, Action: "confirmed", Device: s.Device, Signal: s.ID, Note: s.Detail})
		confirmed = true
	}
	if s.Confirmed && s.Notify119 {
		in.Notify119 = true
	}
	if s.Flapping && !in.Flapping {
		in.Flapping = true
		in.Steps = append(in.Steps, Step{At: now, Action: "flapping", Device: s.Device, Signal: s.ID, Note: s.Detail})
	}
	return confirmed
}

func (m *Manager) newIncident(s rules.Signal, now time.Time) (*Incident, error) {
	dev, ok := m.reg.Device(s.Device)
	if !ok {
		return nil, fmt.Errorf("%w: signal %s: device %q is not in the registry", bus.ErrPoison, s.ID, s.Device)
	}
	in := &Incident{
		ID:           IncidentID(s.ID),
		Type:         s.Type,
		Severity:     s.Severity,
		Status:       StatusOpen,
		Stage:        StageNew,
		Dispatchable: s.Dispatchable,
		Site:         dev.Site,
		Devices:      []string{dev.ID},
		Location:     dev.Location,
		Zone:         dev.Zone,
		Community:    dev.Community,
		Station:      dev.Station,
		OpenedAt:     now,
		Period:       s.Period,
	}
	if site, ok := m.reg.Site(dev.Site); ok {
		in.SiteName, in.SiteType, in.Address = site.Name, site.Type, site.Address
		in.Resident, in.Guardian = site.Flags, site.Guardian
	}
	if st, ok := m.reg.Station(in.Station); ok {
		in.StationName = st.Name
	}
	if z, ok := m.reg.Area(in.Zone); ok {
		in.GridWorker = z.GridWorker
	}
	note := s.Detail
	if !s.Dispatchable {
		note = strings.TrimSpace(note + " (recorded, not dispatched)")
	}
	in.Steps = []Step{{At: now, Action: "opened", Device: dev.ID, Signal: s.ID, Note: note}}
	return in, nil
}

// command asks the device to act (a charger port off) over the bus.
func (m *Manager) command(ctx context.Context, s rules.Signal, in *Incident) {
	if m.bus == nil {
		return
	}
	reason := s.Event
	if reason == "" {
		reason = s.Rule
	}
	env := devices.CommandEnvelope{Kind: s.Kind, Device: s.Device, Command: devices.Command{
		Cmd: s.Command, Port: s.Port, Reason: reason, Incident: in.ID, Signal: s.ID}}
	b, _ := json.Marshal(env)
	if err := m.bus.Publish(ctx, bus.Record{Topic: bus.TopicCommands, Key: []byte(s.Device), Value: b}); err != nil {
		m.log.Error("command not sent", "device", s.Device, "cmd", s.Command, "err", err)
		return
	}
	m.m.commands.WithLabelValues(s.Command).Inc()
}

// publish pushes a change to consoles and to the incidents topic.
func (m *Manager) publish(ctx context.Context, event string, at time.Time, in *Incident) {
	c := Change{Event: event, At: at, Incident: in.clone()}
	m.hub.Publish(c)
	if m.bus != nil {
		b, _ := json.Marshal(c)
		if err := m.bus.Publish(ctx, bus.Record{Topic: bus.TopicIncidents, Key: []byte(in.ID), Value: b}); err != nil {
			m.log.Warn("incident change not on the audit topic", "id", in.ID, "err", err)
		}
	}
}

// ActionError is a crew action that cannot be done; Code is the HTTP status.
type ActionError struct {
	Code int
	Msg  string
}

func (e *ActionError) Error() string { return e.Msg }

// Ack records that a crew has responded.
func (m *Manager) Ack(ctx context.Context, id, by, note string) (*Incident, error) {
	return m.act(ctx, id, "acknowledged", by, note, func(in *Incident, now time.Time) error {
		if in.AckedAt != nil {
			return &ActionError{409, "incident already acknowledged at " + in.AckedAt.Format(time.RFC3339)}
		}
		in.AckedAt, in.Stage = &now, StageAcknowledged
		return nil
	})
}

// Arrive records that a crew is on scene (and acknowledges if nobody had).
func (m *Manager) Arrive(ctx context.Context, id, by, note string) (*Incident, error) {
	return m.act(ctx, id, "arrived", by, note, func(in *Incident, now time.Time) error {
		if in.ArrivedAt != nil {
			return &ActionError{409, "crew already on scene since " + in.ArrivedAt.Format(time.RFC3339)}
		}
		if in.AckedAt == nil {
			in.AckedAt = &now
		}
		in.ArrivedAt, in.Stage = &now, StageOnScene
		return nil
	})
}

// Resolve closes an incident with an outcome.
func (m *Manager) Resolve(ctx context.Context, id, by, outcome, note string) (*Incident, error) {
	if !slices.Contains(Outcomes, outcome) {
		return nil, &ActionError{400, fmt.Sprintf("outcome %q: want one of %s", outcome, strings.Join(Outcomes, ", "))}
	}
	return m.act(ctx, id, "resolved", by, note, func(in *Incident, now time.Time) error {
		in.ResolvedAt, in.Stage, in.Status = &now, StageResolved, StatusResolved
		in.Outcome, in.Note = outcome, note
		return nil
	})
}

func (m *Manager) act(ctx context.Context, id, action, by, note string, f func(*Incident, time.Time) error) (*Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *Incident
	err := m.retry(ctx, func(tx Tx) error {
		cur, err := tx.Lock(id)
		if errors.Is(err, ErrNotFound) {
			return &ActionError{404, "incident " + id + " not found"}
		}
		if err != nil {
			return err
		}
		if cur.Status == StatusResolved {
			return &ActionError{409, "incident " + id + " is resolved"}
		}
		now := m.clock.Now()
		if err := f(cur, now); err != nil {
			return err
		}
		cur.Steps = append(cur.Steps, Step{At: now, Action: action, By: by, Note: note})
		cur.UpdatedAt = now
		cur.Version++
		in = cur
		return tx.Save(cur)
	})
	if err != nil {
		return nil, err
	}
	if in.Status == StatusResolved {
		m.m.open.Dec()
	}
	m.m.actions.WithLabelValues(action).Inc()
	m.log.Info("incident "+action, "id", in.ID, "by", by)
	m.publish(ctx, action, in.UpdatedAt, in)
	return in.clone(), nil
}

// Get returns one incident.
func (m *Manager) Get(ctx context.Context, id string) (*Incident, error) {
	return m.store.Get(ctx, id)
}

// List returns incidents; open ones are ordered by severity, then age (the
// console's queue order), the others newest first.
func (m *Manager) List(ctx context.Context, f Filter) ([]*Incident, error) {
	if f.Status == StatusOpen && f.Limit == 0 {
		f.Limit = -1 // the queue is never cut
	}
	out, err := m.store.List(ctx, f)
	if err != nil || f.Status != StatusOpen {
		return out, err
	}
	slices.SortFunc(out, func(a, b *Incident) int {
		if d := a.Severity.Rank() - b.Severity.Rank(); d != 0 {
			return d
		}
		return a.OpenedAt.Compare(b.OpenedAt)
	})
	return out, nil
}
