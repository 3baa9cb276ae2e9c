package alarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/firegrid/firegrid/rules"
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
	Types      []string         `yaml:"types"`
	Severities []rules.Severity `yaml:"severities"`
	// Ack, Arrive and Resolve are the deadlines; zero means none.
	Ack     time.Duration `yaml:"ack"`
	Arrive  time.Duration `yaml:"arrive"`
	Resolve time.Duration `yaml:"resolve"`
	// Escalate is what a missed deadline does: stations, grid or none.
	Escalate string `yaml:"escalate"`
}

func (r *TimerRule) matches(in *Incident) bool {
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
			{Name: "critical-1-3-5", Severities: []rules.Severity{rules.SeverityCritical}, Ack: time.Minute, Arrive: 3 * time.Minute, Resolve: 5 * time.Minute, Escalate: EscalateStations},
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
			if s.Rank() == 3 && s != rules.SeverityInfo {
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
func (c *DispatchConfig) rule(in *Incident) *TimerRule {
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

// Deadlines are when each step of an incident is due.
type Deadlines struct {
	Rule    string     `json:"rule"`
	Ack     *time.Time `json:"ack,omitempty"`
	Arrive  *time.Time `json:"arrive,omitempty"`
	Resolve *time.Time `json:"resolve,omitempty"`
}

// Dispatch is the part of an incident the timers, escalation and
// notifications keep.
type Dispatch struct {
	Deadlines *Deadlines `json:"deadlines,omitempty"`
	// Overdue lists the deadlines that passed before their step was done.
	Overdue []string `json:"overdue,omitempty"`
	// EscalatedTo lists the further stations asked to respond, nearest
	// first; they see and work the incident like its own station.
	EscalatedTo []string `json:"escalated_to,omitempty"`
	// CenterAt is when the 119 centre was called in.
	CenterAt *time.Time `json:"center_at,omitempty"`
	// Supervision lists the areas supervising an overdue ticket (挂牌督办),
	// lowest first.
	Supervision []string `json:"supervision,omitempty"`
	// Deliveries are the notifications sent about the incident.
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

func (d Dispatch) clone() Dispatch {
	c := d
	c.Overdue = slices.Clone(d.Overdue)
	c.EscalatedTo = slices.Clone(d.EscalatedTo)
	c.Supervision = slices.Clone(d.Supervision)
	c.Deliveries = slices.Clone(d.Deliveries)
	return c
}

// Durations are how long each step took from the incident's opening; nil
// when the step was not done.
type Durations struct {
	Ack     *time.Duration
	Arrive  *time.Duration
	Resolve *time.Duration
}

// StepDurations reports how long each step took.
func (in *Incident) StepDurations() Durations {
	since := func(t *time.Time) *time.Duration {
		if t == nil {
			return nil
		}
		d := t.Sub(in.OpenedAt)
		return &d
	}
	return Durations{Ack: since(in.AckedAt), Arrive: since(in.ArrivedAt), Resolve: since(in.ResolvedAt)}
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
func (m *Manager) arm(tx Tx, in *Incident, now time.Time) error {
	if !in.Dispatchable || in.Status != StatusOpen {
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
	d := &Deadlines{Rule: r.Name}
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
		in     *Incident
		events []string
	)
	err := m.retry(ctx, func(tx Tx) error {
		fired, in, events = false, nil, nil
		now := m.clock.Now()
		t, err := tx.ClaimTimer(now)
		if err != nil || t == nil {
			return err
		}
		fired = true
		in, events, err = m.fire(tx, *t, now)
		return err
	})
	if err != nil {
		return false, err
	}
	for _, ev := range events {
		m.m.escalations.WithLabelValues(ev).Inc()
		m.log.Warn("incident "+ev, "id", in.ID, "type", in.Type, "station", in.Station, "escalated_to", in.EscalatedTo, "supervision", in.Supervision)
	}
	if len(events) > 0 {
		m.publish(ctx, events[len(events)-1], in.UpdatedAt, in)
	}
	return fired, nil
}
