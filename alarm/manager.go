package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// Manager applies signals, crew actions, timers and delivery records to
// incidents.
type Manager struct {
	store Store
	reg   *devices.Registry
	clock clock.Clock
	log   *slog.Logger
	m     *metrics

	dispatch DispatchConfig
	wake     chan struct{} // a timer was armed
	// committed is told how many records each commit put in the outbox.
	committed func(n int)

	// mu serialises this instance's writes; the store arbitrates between
	// instances.
	mu sync.Mutex
}

// Options are the Manager's collaborators; Registerer may be nil.
type Options struct {
	Store      Store
	Registry   *devices.Registry
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Dispatch sets timers and escalation; nil means
	// DefaultDispatchConfig.
	Dispatch *DispatchConfig
	// Committed, when set, is told after each commit how many records it
	// put in the outbox (the Relay's Committed).
	Committed func(n int)
}

// NewManager loads the open incidents from the store.
func NewManager(ctx context.Context, o Options) (*Manager, error) {
	if o.Store == nil || o.Registry == nil {
		return nil, errors.New("alarm: store and registry are required")
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
	if o.Committed == nil {
		o.Committed = func(int) {}
	}
	if err := o.Dispatch.Validate(); err != nil {
		return nil, fmt.Errorf("alarm: dispatch: %w", err)
	}
	m := &Manager{store: o.Store, reg: o.Registry, clock: o.Clock, log: o.Logger, committed: o.Committed,
		m: newMetrics(o.Registerer), dispatch: *o.Dispatch, wake: make(chan struct{}, 1)}
	open, err := o.Store.List(ctx, Filter{Status: contract.StatusOpen, Limit: -1})
	if err != nil {
		return nil, fmt.Errorf("alarm: load open incidents: %w", err)
	}
	m.m.open.Set(float64(len(open)))
	return m, nil
}

// HandleSignal is the bus handler of the signals topic.
func (m *Manager) HandleSignal(ctx context.Context, s *contract.Signal) error {
	_, err := m.Apply(ctx, s)
	return err
}

// Apply applies one signal. It returns the changed incident, or nil when
// the signal changed nothing (a repeat, or a clear with nothing open).
func (m *Manager) Apply(ctx context.Context, s *contract.Signal) (*contract.Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *contract.Incident
	var event string
	err := m.tx(ctx, func(tx Tx) error {
		var err error
		in, event, err = m.apply(tx, s, m.clock.Now())
		if err != nil || in == nil {
			return err
		}
		c := &contract.IncidentChange{Event: event, At: in.UpdatedAt, Incident: in.Clone(), ReceivedAt: s.ReceivedAt}
		recs := []contract.Record{c.Record()}
		if s.Action == contract.ActionRaise && s.Command != "" {
			recs = append(recs, command(s, in).Record())
		}
		return tx.Emit(recs...)
	})
	if err == nil && event == eventRepeat {
		m.m.repeated.Inc()
	}
	if err != nil || in == nil {
		return nil, err
	}
	if event == contract.EventOpened {
		m.m.raised.WithLabelValues(in.Type, string(in.Severity)).Inc()
		m.m.open.Inc()
		m.log.Info("incident opened", "id", in.ID, "type", in.Type, "severity", in.Severity, "site", in.Site, "station", in.Station, "device", s.Device)
	}
	if s.Action == contract.ActionRaise && s.Command != "" {
		m.m.commands.WithLabelValues(s.Command).Inc()
	}
	return in.Clone(), nil
}

// command is what a raise asks of the device (a charger port off).
func command(s *contract.Signal, in *contract.Incident) *contract.Command {
	reason := s.Event
	if reason == "" {
		reason = s.Rule
	}
	return &contract.Command{Kind: s.Kind, Device: s.Device, Cmd: s.Command, Port: s.Port, Reason: reason, Incident: in.ID, Signal: s.ID}
}

// tx runs f in a transaction, again when it lost a race, and tells the
// relay what the commit put in the outbox.
func (m *Manager) tx(ctx context.Context, f func(Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		n := 0
		err = m.store.Tx(ctx, func(tx Tx) error { return f(countingTx{tx, &n}) })
		if err == nil {
			m.committed(n)
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

// countingTx counts the records a transaction emits.
type countingTx struct {
	Tx
	n *int
}

func (t countingTx) Emit(recs ...contract.Record) error {
	if err := t.Tx.Emit(recs...); err != nil {
		return err
	}
	*t.n += len(recs)
	return nil
}

// eventRepeat is what apply says of a signal it had applied already.
const eventRepeat = "repeat"

// apply is Apply's transaction.
func (m *Manager) apply(tx Tx, s *contract.Signal, now time.Time) (*contract.Incident, string, error) {
	cur, err := openFor(tx, s)
	if err != nil {
		return nil, "", err
	}
	if cur != nil && cur.HasSignal(s.ID) {
		return nil, eventRepeat, nil
	}
	seen, err := tx.HasSignal(s.ID)
	if err != nil {
		return nil, "", err
	}
	if seen {
		return nil, eventRepeat, nil
	}
	ref := contract.SignalRef{ID: s.ID, Rule: s.Rule, Action: s.Action, Device: s.Device, Message: s.Message, At: s.At, Detail: s.Detail,
		Related: s.Related, Suppressed: s.Suppressed, ClockSkewed: s.ClockSkewed}
	in, event := cur, contract.EventUpdated
	switch {
	case s.Action == contract.ActionClear:
		if cur == nil {
			return nil, "", nil
		}
		in.Cleared = true
		in.Steps = append(in.Steps, contract.Step{At: now, Action: "cleared", Device: s.Device, Signal: s.ID, Note: s.Detail})
	case cur != nil:
		in.Cleared = false
		if !in.HasDevice(s.Device) {
			in.Devices = append(in.Devices, s.Device)
			in.Steps = append(in.Steps, contract.Step{At: now, Action: "joined", Device: s.Device, Signal: s.ID, Note: s.Detail})
		} else {
			in.Steps = append(in.Steps, contract.Step{At: now, Action: "signal", Device: s.Device, Signal: s.ID, Note: s.Detail})
		}
		if s.Severity.Rank() < in.Severity.Rank() {
			in.Severity = s.Severity
		}
		in.Dispatchable = in.Dispatchable || s.Dispatchable
	default:
		if in, err = m.newIncident(s, now); err != nil {
			return nil, "", err
		}
		event = contract.EventOpened
	}
	if s.Action == contract.ActionRaise && upgrade(in, s, now) && event != contract.EventOpened {
		event = contract.EventConfirmed
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
func openFor(tx Tx, s *contract.Signal) (*contract.Incident, error) {
	if in, err := tx.OpenFor(s.Site, contract.ConfirmedType(s.Type)); in != nil || err != nil {
		return in, err
	}
	return tx.OpenFor(s.Site, s.Type)
}

// upgrade applies what a raise says beyond joining: a confirmation (the
// type becomes the confirmed one, for the 119 centre if the rule says so)
// and flapping. It reports whether the incident became confirmed.
func upgrade(in *contract.Incident, s *contract.Signal, now time.Time) bool {
	confirmed := false
	if s.Confirmed && !in.Confirmed {
		in.Confirmed, in.Type = true, contract.ConfirmedType(in.Type)
		in.Steps = append(in.Steps, contract.Step{At: now, Action: "confirmed", Device: s.Device, Signal: s.ID, Note: s.Detail})
		confirmed = true
	}
	if s.Confirmed && s.Notify119 {
		in.Notify119 = true
	}
	if s.Flapping && !in.Flapping {
		in.Flapping = true
		in.Steps = append(in.Steps, contract.Step{At: now, Action: "flapping", Device: s.Device, Signal: s.ID, Note: s.Detail})
	}
	return confirmed
}

func (m *Manager) newIncident(s *contract.Signal, now time.Time) (*contract.Incident, error) {
	dev, ok := m.reg.Device(s.Device)
	if !ok {
		return nil, fmt.Errorf("%w: signal %s: device %q is not in the registry", contract.ErrPoison, s.ID, s.Device)
	}
	in := &contract.Incident{
		ID:           IncidentID(s.ID),
		Type:         s.Type,
		Severity:     s.Severity,
		Status:       contract.StatusOpen,
		Stage:        contract.StageNew,
		Dispatchable: s.Dispatchable,
		Site:         dev.Site,
		Devices:      []string{dev.ID},
		Location:     dev.Location,
		Zone:         dev.Zone(),
		Community:    dev.Community(),
		Station:      dev.Station(),
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
	in.Steps = []contract.Step{{At: now, Action: "opened", Device: dev.ID, Signal: s.ID, Note: note}}
	return in, nil
}

// ActionError is a crew action that cannot be done; Code is the HTTP status.
type ActionError struct {
	Code int
	Msg  string
}

func (e *ActionError) Error() string { return e.Msg }

// Ack records that a crew has responded.
func (m *Manager) Ack(ctx context.Context, id, by, note string) (*contract.Incident, error) {
	return m.act(ctx, id, contract.EventAcknowledged, by, note, func(in *contract.Incident, now time.Time) error {
		if in.AckedAt != nil {
			return &ActionError{409, "incident already acknowledged at " + in.AckedAt.Format(time.RFC3339)}
		}
		in.AckedAt, in.Stage = &now, contract.StageAcknowledged
		return nil
	})
}

// Arrive records that a crew is on scene (and acknowledges if nobody had).
func (m *Manager) Arrive(ctx context.Context, id, by, note string) (*contract.Incident, error) {
	return m.act(ctx, id, contract.EventArrived, by, note, func(in *contract.Incident, now time.Time) error {
		if in.ArrivedAt != nil {
			return &ActionError{409, "crew already on scene since " + in.ArrivedAt.Format(time.RFC3339)}
		}
		if in.AckedAt == nil {
			in.AckedAt = &now
		}
		in.ArrivedAt, in.Stage = &now, contract.StageOnScene
		return nil
	})
}

// Resolve closes an incident with an outcome.
func (m *Manager) Resolve(ctx context.Context, id, by, outcome, note string) (*contract.Incident, error) {
	if !slices.Contains(contract.Outcomes, outcome) {
		return nil, &ActionError{400, fmt.Sprintf("outcome %q: want one of %s", outcome, strings.Join(contract.Outcomes, ", "))}
	}
	return m.act(ctx, id, contract.EventResolved, by, note, func(in *contract.Incident, now time.Time) error {
		in.ResolvedAt, in.Stage, in.Status = &now, contract.StageResolved, contract.StatusResolved
		in.Outcome, in.Note = outcome, note
		return nil
	})
}

func (m *Manager) act(ctx context.Context, id, action, by, note string, f func(*contract.Incident, time.Time) error) (*contract.Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *contract.Incident
	err := m.tx(ctx, func(tx Tx) error {
		cur, err := tx.Lock(id)
		if errors.Is(err, ErrNotFound) {
			return &ActionError{404, "incident " + id + " not found"}
		}
		if err != nil {
			return err
		}
		if cur.Status == contract.StatusResolved {
			return &ActionError{409, "incident " + id + " is resolved"}
		}
		now := m.clock.Now()
		if err := f(cur, now); err != nil {
			return err
		}
		cur.Steps = append(cur.Steps, contract.Step{At: now, Action: action, By: by, Note: note})
		cur.UpdatedAt = now
		cur.Version++
		in = cur
		if err := tx.Save(cur); err != nil {
			return err
		}
		c := &contract.IncidentChange{Event: action, At: now, Incident: cur.Clone()}
		return tx.Emit(c.Record())
	})
	if err != nil {
		return nil, err
	}
	if in.Status == contract.StatusResolved {
		m.m.open.Dec()
	}
	m.m.actions.WithLabelValues(action).Inc()
	m.log.Info("incident "+action, "id", in.ID, "by", by)
	return in.Clone(), nil
}

// Get returns one incident.
func (m *Manager) Get(ctx context.Context, id string) (*contract.Incident, error) {
	return m.store.Get(ctx, id)
}

// List returns incidents; open ones are ordered by severity, then age (the
// console's queue order), the others newest first.
func (m *Manager) List(ctx context.Context, f Filter) ([]*contract.Incident, error) {
	if f.Status == contract.StatusOpen && f.Limit == 0 {
		f.Limit = -1 // the queue is never cut
	}
	out, err := m.store.List(ctx, f)
	if err != nil || f.Status != contract.StatusOpen {
		return out, err
	}
	slices.SortFunc(out, func(a, b *contract.Incident) int {
		if d := a.Severity.Rank() - b.Severity.Rank(); d != 0 {
			return d
		}
		return a.OpenedAt.Compare(b.OpenedAt)
	})
	return out, nil
}
