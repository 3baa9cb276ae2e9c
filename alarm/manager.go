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
	Event    string    `json:"event"` // opened, updated, acknowledged, arrived, resolved
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

	mu   sync.Mutex
	open map[string]*Incident // by id
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
	m := &Manager{store: o.Store, reg: o.Registry, bus: o.Bus, hub: o.Hub, clock: o.Clock, log: o.Logger,
		m: newMetrics(o.Registerer), open: map[string]*Incident{}}
	open, err := o.Store.List(ctx, Filter{Status: StatusOpen, Limit: -1})
	if err != nil {
		return nil, fmt.Errorf("alarm: load open incidents: %w", err)
	}
	for _, in := range open {
		m.open[in.ID] = in
	}
	m.m.open.Set(float64(len(m.open)))
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
	now := m.clock.Now()
	cur := m.findOpen(s.Site, s.Type)
	if cur != nil && cur.hasSignal(s.ID) {
		return nil, nil
	}
	seen, err := m.store.HasSignal(ctx, s.ID)
	if err != nil {
		return nil, fmt.Errorf("alarm: signal %s: %w", s.ID, err)
	}
	if seen {
		return nil, nil
	}
	ref := SignalRef{ID: s.ID, Rule: s.Rule, Action: s.Action, Device: s.Device, Message: s.Message, At: s.At, Detail: s.Detail}
	var in *Incident
	event := "updated"
	switch {
	case s.Action == rules.ActionClear:
		if cur == nil {
			return nil, nil
		}
		in = cur.clone()
		in.Cleared = true
		in.Steps = append(in.Steps, Step{At: now, Action: "cleared", Device: s.Device, Signal: s.ID, Note: s.Detail})
	case cur != nil:
		in = cur.clone()
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
		in, err = m.newIncident(s, now)
		if err != nil {
			return nil, err
		}
		event = "opened"
	}
	in.Signals = append(in.Signals, ref)
	in.UpdatedAt = now
	in.Version++
	if err := m.store.Save(ctx, in, s.ID); err != nil {
		return nil, fmt.Errorf("alarm: save %s: %w", in.ID, err)
	}
	m.open[in.ID] = in
	m.m.open.Set(float64(len(m.open)))
	if event == "opened" {
		m.m.raised.WithLabelValues(in.Type, string(in.Severity)).Inc()
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

func (m *Manager) findOpen(site, typ string) *Incident {
	for _, in := range m.open {
		if in.Site == site && in.Type == typ {
			return in
		}
	}
	return nil
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
	cur, ok := m.open[id]
	if !ok {
		if _, err := m.store.Get(ctx, id); err == nil {
			return nil, &ActionError{409, "incident " + id + " is resolved"}
		} else if errors.Is(err, ErrNotFound) {
			return nil, &ActionError{404, "incident " + id + " not found"}
		} else {
			return nil, err
		}
	}
	now := m.clock.Now()
	in := cur.clone()
	if err := f(in, now); err != nil {
		return nil, err
	}
	in.Steps = append(in.Steps, Step{At: now, Action: action, By: by, Note: note})
	in.UpdatedAt = now
	in.Version++
	if err := m.store.Save(ctx, in); err != nil {
		return nil, fmt.Errorf("alarm: save %s: %w", in.ID, err)
	}
	if in.Status == StatusResolved {
		delete(m.open, in.ID)
	} else {
		m.open[in.ID] = in
	}
	m.m.open.Set(float64(len(m.open)))
	m.m.actions.WithLabelValues(action).Inc()
	m.log.Info("incident "+action, "id", in.ID, "by", by)
	m.publish(ctx, action, now, in)
	return in.clone(), nil
}

// Get returns one incident.
func (m *Manager) Get(ctx context.Context, id string) (*Incident, error) {
	m.mu.Lock()
	if in, ok := m.open[id]; ok {
		c := in.clone()
		m.mu.Unlock()
		return c, nil
	}
	m.mu.Unlock()
	return m.store.Get(ctx, id)
}

// List returns incidents; open ones come from memory, ordered by severity
// then age.
func (m *Manager) List(ctx context.Context, f Filter) ([]*Incident, error) {
	if f.Status != StatusOpen {
		return m.store.List(ctx, f)
	}
	m.mu.Lock()
	out := make([]*Incident, 0, len(m.open))
	for _, in := range m.open {
		if f.Station == "" || in.Station == f.Station {
			out = append(out, in.clone())
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b *Incident) int {
		if d := a.Severity.Rank() - b.Severity.Rank(); d != 0 {
			return d
		}
		return a.OpenedAt.Compare(b.OpenedAt)
	})
	return out, nil
}
