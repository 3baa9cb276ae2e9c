// Package rules is firegrid's hot path: it evaluates every accepted device
// reading against the rules file and turns what matters into signals (raise
// or clear an incident of a type), which the alarm role makes incidents of.
//
// State is kept per device and keyed by site, the bus key, so that one
// partition holds everything a site's correlation needs. The engine never
// does I/O and never waits on anything but its own lock; a heartbeat costs
// a map look-up and a time store.
package rules

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/firegrid/firegrid/devices"
)

// Action is what a signal asks of the alarm role.
type Action string

// Signal actions.
const (
	ActionRaise Action = "raise"
	ActionClear Action = "clear"
)

// Signal is the engine's output: a rule fired on a message (or on silence).
type Signal struct {
	// ID is deterministic: the rule and the message (or deadline) that
	// fired it, so that a redelivered message yields the same signal.
	ID           string       `json:"id"`
	Rule         string       `json:"rule"`
	Action       Action       `json:"action"`
	Type         string       `json:"type"`
	Severity     Severity     `json:"severity"`
	Dispatchable bool         `json:"dispatchable"`
	Kind         devices.Kind `json:"kind"`
	Device       string       `json:"device"`
	Site         string       `json:"site"`
	Port         int          `json:"port,omitempty"`
	// Message is the id of the reading that fired the signal; empty for an
	// absence.
	Message string   `json:"message,omitempty"`
	Event   string   `json:"event,omitempty"`
	Value   *float64 `json:"value,omitempty"`
	// At is when the condition was met (device time for messages, engine
	// time for durations and absences).
	At time.Time `json:"at"`
	// ReceivedAt is when ingest received the message that led here; the
	// alarm role measures its latency from it.
	ReceivedAt time.Time `json:"received_at"`
	// Command is sent to the device when the signal raises an incident.
	Command string `json:"command,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Engine evaluates readings and deadlines. It is safe for concurrent use.
type Engine struct {
	mu      sync.Mutex
	cfg     *Config
	reg     *devices.Registry
	byKind  map[devices.Kind][]*Rule // event and threshold rules
	absence []*Rule
	devs    map[string]*deviceState
	order   []*deviceState // for deadline scans, registry order
}

type deviceState struct {
	dev      *devices.Device
	lastSeen time.Time
	lastSeq  uint64
	offline  map[string]bool // absence rule id → raised
	pending  map[pendingKey]*pending
}

type pendingKey struct {
	rule string
	port int
}

// pending tracks one threshold condition of one device (or port).
type pending struct {
	crossedSince time.Time // when the raise bound was first crossed; zero when not
	backSince    time.Time // when the value came back past the clear bound
	raised       bool
	last         float64
	reading      string
	receivedAt   time.Time
}

// NewEngine returns an engine for the registry's devices. Every device's
// sign-of-life clock starts at start, so a device that never reports goes
// offline one timeout after start.
func NewEngine(cfg *Config, reg *devices.Registry, start time.Time) *Engine {
	e := &Engine{reg: reg, devs: map[string]*deviceState{}}
	for _, d := range reg.Devices("") {
		st := &deviceState{dev: d, lastSeen: start, offline: map[string]bool{}, pending: map[pendingKey]*pending{}}
		e.devs[d.ID] = st
		e.order = append(e.order, st)
	}
	e.setRules(cfg)
	return e
}

func (e *Engine) setRules(cfg *Config) {
	e.cfg = cfg
	e.byKind = map[devices.Kind][]*Rule{}
	e.absence = nil
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		switch r.Type {
		case TypeAbsence:
			e.absence = append(e.absence, r)
		default:
			e.byKind[r.Kind] = append(e.byKind[r.Kind], r)
		}
	}
}

// Reload swaps in new rules. The state of rules whose id is kept stays.
func (e *Engine) Reload(cfg *Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	keep := map[string]bool{}
	for i := range cfg.Rules {
		keep[cfg.Rules[i].ID] = true
	}
	for _, st := range e.order {
		for k := range st.pending {
			if !keep[k.rule] {
				delete(st.pending, k)
			}
		}
	}
	e.setRules(cfg)
}

// Evaluate runs the rules on one reading and appends the signals it fires
// to out.
func (e *Engine) Evaluate(r *devices.Reading, out []Signal) []Signal {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.devs[r.Device]
	if st == nil {
		return out
	}
	// Any accepted message is a sign of life.
	if r.ReceivedAt.After(st.lastSeen) {
		st.lastSeen = r.ReceivedAt
	}
	for _, ar := range e.absence {
		if st.offline[ar.ID] {
			st.offline[ar.ID] = false
			out = append(out, e.signal(ar, st, ActionClear, r.ReceivedAt, r.ID+"/back", r.ReceivedAt, "back online"))
		}
	}
	if r.Seq > st.lastSeq {
		st.lastSeq = r.Seq
	}
	for _, rule := range e.byKind[r.Kind] {
		switch rule.Type {
		case TypeEvent:
			if r.Event == "" || !contains(rule.Events, r.Event) {
				continue
			}
			s := e.signal(rule, st, ActionRaise, r.TS, r.ID, r.ReceivedAt, "event "+r.Event)
			s.Message, s.Event = r.ID, r.Event
			s.Port = eventPort(r)
			if v, ok := r.Values["temp_c"]; ok {
				s.Value = &v
			}
			out = append(out, s)
		case TypeThreshold:
			out = e.threshold(rule, st, r, out)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventPort finds the charger port an event is about: values.port, or the
// hottest port listed; 0 means the whole charger.
func eventPort(r *devices.Reading) int {
	if p, ok := r.Values["port"]; ok && p >= 1 {
		return int(p)
	}
	port, hottest := 0, -1000.0
	for _, p := range r.Ports {
		if p.TempC > hottest {
			port, hottest = p.Port, p.TempC
		}
	}
	return port
}

func (e *Engine) threshold(rule *Rule, st *deviceState, r *devices.Reading, out []Signal) []Signal {
	if field, ok := portField(rule.Value); ok {
		for _, p := range r.Ports {
			v := p.TempC
			switch field {
			case "current_a":
				v = p.CurrentA
			case "power_w":
				v = p.PowerW
			}
			out = e.step(rule, st, p.Port, v, r, out)
		}
		return out
	}
	v, ok := r.Values[rule.Value]
	if !ok {
		return out
	}
	return e.step(rule, st, 0, v, r, out)
}

func portField(value string) (string, bool) {
	const prefix = "ports."
	if len(value) > len(prefix) && value[:len(prefix)] == prefix {
		return value[len(prefix):], true
	}
	return "", false
}

// step feeds one value to a threshold condition.
func (e *Engine) step(rule *Rule, st *deviceState, port int, v float64, r *devices.Reading, out []Signal) []Signal {
	k := pendingKey{rule: rule.ID, port: port}
	p := st.pending[k]
	if p == nil {
		p = &pending{}
		st.pending[k] = p
	}
	now := r.ReceivedAt
	p.last, p.reading, p.receivedAt = v, r.ID, r.ReceivedAt
	if crossed(rule, v) {
		p.backSince = time.Time{}
		if p.crossedSince.IsZero() {
			p.crossedSince = now
		}
	} else {
		p.crossedSince = time.Time{}
		if p.raised && cleared(rule, v) {
			if p.backSince.IsZero() {
				p.backSince = now
			}
		} else {
			p.backSince = time.Time{}
		}
	}
	return e.due(rule, st, port, p, now, out)
}

// due raises or clears a threshold condition whose duration has run.
func (e *Engine) due(rule *Rule, st *deviceState, port int, p *pending, now time.Time, out []Signal) []Signal {
	switch {
	case !p.raised && !p.crossedSince.IsZero() && now.Sub(p.crossedSince) >= rule.For:
		p.raised = true
		s := e.signal(rule, st, ActionRaise, now, p.reading+portSuffix(port), p.receivedAt,
			fmt.Sprintf("%s %s for %s", rule.Value, bound(rule), rule.For))
		s.Message, s.Port = p.reading, port
		v := p.last
		s.Value = &v
		out = append(out, s)
	case p.raised && !p.backSince.IsZero() && now.Sub(p.backSince) >= rule.ClearFor:
		p.raised = false
		p.backSince = time.Time{}
		s := e.signal(rule, st, ActionClear, now, p.reading+portSuffix(port)+"/clear", p.receivedAt,
			fmt.Sprintf("%s back to %g", rule.Value, p.last))
		s.Message, s.Port = p.reading, port
		v := p.last
		s.Value = &v
		out = append(out, s)
	}
	return out
}

func portSuffix(port int) string {
	if port == 0 {
		return ""
	}
	return "/port" + strconv.Itoa(port)
}

func bound(r *Rule) string {
	if r.Above != nil {
		return fmt.Sprintf("above %g", *r.Above)
	}
	return fmt.Sprintf("below %g", *r.Below)
}

func crossed(r *Rule, v float64) bool {
	if r.Above != nil {
		return v > *r.Above
	}
	return v < *r.Below
}

func cleared(r *Rule, v float64) bool {
	if r.Above != nil {
		b := *r.Above
		if r.ClearBelow != nil {
			b = *r.ClearBelow
		}
		return v <= b
	}
	b := *r.Below
	if r.ClearAbove != nil {
		b = *r.ClearAbove
	}
	return v >= b
}

// Tick fires what falls due at now: threshold durations and absences. Call
// it at least once a second.
func (e *Engine) Tick(now time.Time, out []Signal) []Signal {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.order {
		for _, ar := range e.absence {
			timeout := e.cfg.HeartbeatTimeouts[st.dev.Kind]
			if timeout == 0 || !hasKind(ar.Kinds, st.dev.Kind) || st.offline[ar.ID] {
				continue
			}
			if now.Sub(st.lastSeen) > timeout {
				st.offline[ar.ID] = true
				id := st.dev.ID + "/silent-since/" + strconv.FormatInt(st.lastSeen.UnixMilli(), 10)
				s := e.signal(ar, st, ActionRaise, now, id, st.lastSeen,
					fmt.Sprintf("no sign of life since %s (timeout %s)", st.lastSeen.UTC().Format(time.RFC3339), timeout))
				out = append(out, s)
			}
		}
		for k, p := range st.pending {
			rule := e.ruleByID(k.rule)
			if rule == nil {
				continue
			}
			out = e.due(rule, st, k.port, p, now, out)
		}
	}
	return out
}

func hasKind(ks []devices.Kind, k devices.Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func (e *Engine) ruleByID(id string) *Rule {
	for i := range e.cfg.Rules {
		if e.cfg.Rules[i].ID == id {
			return &e.cfg.Rules[i]
		}
	}
	return nil
}

func (e *Engine) signal(rule *Rule, st *deviceState, a Action, at time.Time, key string, received time.Time, detail string) Signal {
	cmd := ""
	if a == ActionRaise {
		cmd = rule.Command
	}
	return Signal{
		ID:           rule.ID + "/" + string(a) + "/" + key,
		Rule:         rule.ID,
		Action:       a,
		Type:         rule.Incident,
		Severity:     rule.Severity,
		Dispatchable: rule.IsDispatchable(),
		Kind:         st.dev.Kind,
		Device:       st.dev.ID,
		Site:         st.dev.Site,
		At:           at,
		ReceivedAt:   received,
		Command:      cmd,
		Detail:       detail,
	}
}
