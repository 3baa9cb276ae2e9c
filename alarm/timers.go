package alarm

import (
	"context"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"slices"
	"time"
)

// Timer kinds: the three deadlines of the 1-3-5 promise. A hazard ticket
// (24 h response, 48 h intervention) uses ack and resolve.
const (
	TimerAck     = "ack"
	TimerArrive  = "arrive"
	TimerResolve = "resolve"
)

// Escalation policies of a timer rule.
const (
	// EscalateStations sends an unanswered incident to the next-nearest
	// station and to the 119 centre.
	EscalateStations = "stations"
	// EscalateGrid puts an overdue ticket under supervision one level up
	// the grid: zone, then community, then sub-district (挂牌督办).
	EscalateGrid = "grid"
	// EscalateNone records the missed deadline and nothing else.
	EscalateNone = "none"
)

// TimerRule gives the incidents it matches their deadlines, counted from
// the moment the incident opened. The first rule that matches wins.
type TimerRule struct {
	Name string `yaml:"name"`
	// Types and Severities select incidents; empty matches any.
	Types      []string            `yaml:"types"`
	Severities []contract.Severity `yaml:"severities"`
	// Ack, Arrive and Resolve are the deadlines; zero means none.
	Ack     time.Duration `yaml:"ack"`
	Arrive  time.Duration `yaml:"arrive"`
	Resolve time.Duration `yaml:"resolve"`
	// Escalate is what a missed deadline does: stations, grid or none.
	Escalate string `yaml:"escalate"`
}

func (r *TimerRule) matches(in *contract.Incident) bool {
	return (len(r.Types) == 0 || slices.Contains(r.Types, in.Type)) &&
		(len(r.Severities) == 0 || slices.Contains(r.Severities, in.Severity))
}

// Escalation says how far an unanswered incident goes.
type Escalation struct {
	// Stations is how many further stations are asked, one more each time
	// the ack deadline passes again (default 2).
	Stations int `yaml:"stations"`
	// Center is the name the 119 command centre goes by in steps and
	// scopes (default "119").
	Center string `yaml:"center"`
	// Poll is how often an instance looks for timers that other instances
	// armed (default 1s). Its own timers wake it on time.
	Poll time.Duration `yaml:"poll"`
}

// DispatchConfig is the dispatch part of firegrid.yaml: timers and
// escalation.
type DispatchConfig struct {
	Timers     []TimerRule `yaml:"timers"`
	Escalation Escalation  `yaml:"escalation"`
}

// DefaultDispatchConfig keeps the 1-3-5 promise for fires and charger
// fires, and the community's 24 h response and 48 h intervention for
// faults and hazards.
func DefaultDispatchConfig() DispatchConfig {
	return DispatchConfig{
		Timers: []TimerRule{
			{Name: "fire-1-3-5", Types: []string{"fire", "charger_overheat"}, Ack: time.Minute, Arrive: 3 * time.Minute, Resolve: 5 * time.Minute, Escalate: EscalateStations},
			{Name: "critical-1-3-5", Severities: []contract.Severity{contract.SeverityCritical}, Ack: time.Minute, Arrive: 3 * time.Minute, Resolve: 5 * time.Minute, Escalate: EscalateStations},
			{Name: "hazard-24-48", Ack: 24 * time.Hour, Resolve: 48 * time.Hour, Escalate: EscalateGrid},
		},
		Escalation: Escalation{Stations: 2, Center: "119", Poll: time.Second},
	}
}

// Validate checks the configuration; each error starts with its key path.
func (c DispatchConfig) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, r := range c.Timers {
		key := fmt.Sprintf("timers.%d", i)
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", key))
		} else if names[r.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", key, r.Name))
		}
		names[r.Name] = true
		for j, s := range r.Severities {
			if s.Rank() == 3 && s != contract.SeverityInfo {
				errs = append(errs, fmt.Errorf("%s.severities.%d: %q: want critical, major, minor or info", key, j, s))
			}
		}
		for _, d := range []struct {
			k string
			v time.Duration
		}{{"ack", r.Ack}, {"arrive", r.Arrive}, {"resolve", r.Resolve}} {
			if d.v < 0 {
				errs = append(errs, fmt.Errorf("%s.%s: %v: want a positive duration or 0 for none", key, d.k, d.v))
			}
		}
		if r.Ack == 0 && r.Arrive == 0 && r.Resolve == 0 {
			errs = append(errs, fmt.Errorf("%s: want at least one of ack, arrive, resolve", key))
		}
		switch r.Escalate {
		case EscalateStations, EscalateGrid, EscalateNone:
		default:
			errs = append(errs, fmt.Errorf("%s.escalate: %q: want stations, grid or none", key, r.Escalate))
		}
	}
	if c.Escalation.Stations < 0 {
		errs = append(errs, fmt.Errorf("escalation.stations: %d: want 0 or more", c.Escalation.Stations))
	}
	if c.Escalation.Center == "" {
		errs = append(errs, errors.New("escalation.center: required (the 119 centre's name, e.g. 119)"))
	}
	if c.Escalation.Poll <= 0 {
		errs = append(errs, fmt.Errorf("escalation.poll: %v: want a positive duration", c.Escalation.Poll))
	}
	return errors.Join(errs...)
}

// rule returns the timer rule of an incident, or nil.
func (c *DispatchConfig) rule(in *contract.Incident) *TimerRule {
	for i := range c.Timers {
		if c.Timers[i].matches(in) {
			return &c.Timers[i]
		}
	}
	return nil
}

func (c *DispatchConfig) ruleNamed(name string) *TimerRule {
	for i := range c.Timers {
		if c.Timers[i].Name == name {
			return &c.Timers[i]
		}
	}
	return nil
}

// Timer is one deadline held by the store, so that it survives restarts
// and exactly one alarm instance acts on it.
type Timer struct {
	Incident string
	Kind     string
	DueAt    time.Time
}

// arm sets an incident's deadlines from its timer rule and hands them to
// the store, in the transaction that saves the incident. Timers are set
// once per rule: an incident that grows more severe and so falls under
// another rule is re-armed from now. Crew actions never touch timer rows;
// a timer that fires after its step was done just goes away, so a crew's
// transaction and the timer loop never wait on each other.
func (m *Manager) arm(tx Tx, in *contract.Incident, now time.Time) error {
	if !in.Dispatchable || in.Status != contract.StatusOpen {
		return nil
	}
	r := m.dispatch.rule(in)
	if r == nil || (in.Deadlines != nil && in.Deadlines.Rule == r.Name) {
		return nil
	}
	base := in.OpenedAt
	if in.Deadlines != nil {
		base = now
	}
	d := &contract.Deadlines{Rule: r.Name}
	for _, t := range []struct {
		kind  string
		after time.Duration
		set   **time.Time
		done  bool
	}{
		{TimerAck, r.Ack, &d.Ack, in.AckedAt != nil},
		{TimerArrive, r.Arrive, &d.Arrive, in.ArrivedAt != nil},
		{TimerResolve, r.Resolve, &d.Resolve, false},
	} {
		if t.after == 0 || t.done {
			continue
		}
		due := base.Add(t.after)
		*t.set = &due
		if err := tx.SetTimer(Timer{Incident: in.ID, Kind: t.kind, DueAt: due}); err != nil {
			return err
		}
	}
	in.Deadlines = d
	m.wakeTimers()
	return nil
}

func (m *Manager) wakeTimers() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// RunTimers acts on due timers until ctx is done: first on everything
// that fell due while no instance was running, then on each timer as it
// comes due. Several instances may run it on one database: each timer is
// claimed by one of them.
func (m *Manager) RunTimers(ctx context.Context) error {
	for {
		if _, err := m.FireDue(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("timers", "err", err)
		}
		wait := m.dispatch.Escalation.Poll
		next, ok, err := m.store.NextTimer(ctx)
		if err != nil && ctx.Err() == nil {
			m.log.Error("next timer", "err", err)
		}
		if ok {
			wait = min(wait, max(next.Sub(m.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-m.clock.After(wait):
		}
	}
}

// FireDue acts on every timer due now and returns how many it handled.
func (m *Manager) FireDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		fired, err := m.fireOne(ctx)
		if err != nil || !fired {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// fireOne claims one due timer and acts on it in one transaction.
func (m *Manager) fireOne(ctx context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		fired  bool
		in     *contract.Incident
		events []string
	)
	err := m.tx(ctx, func(tx Tx) error {
		fired, in, events = false, nil, nil
		now := m.clock.Now()
		t, err := tx.ClaimTimer(now)
		if err != nil || t == nil {
			return err
		}
		fired = true
		in, events, err = m.fire(tx, *t, now)
		if err != nil || len(events) == 0 {
			return err
		}
		c := &contract.IncidentChange{Event: events[len(events)-1], At: now, Incident: in.Clone()}
		return tx.Emit(c.Record())
	})
	if err != nil {
		return false, err
	}
	for _, ev := range events {
		m.m.escalations.WithLabelValues(ev).Inc()
		m.log.Warn("incident "+ev, "id", in.ID, "type", in.Type, "station", in.Station, "escalated_to", in.EscalatedTo, "supervision", in.Supervision)
	}
	return fired, nil
}
