// Package rules is firegrid's hot path: it evaluates every accepted device
// reading against the rules file and turns what matters into signals (raise
// or clear an incident of a type), which the alarm role makes incidents of.
//
// State is kept per site, the bus key, in shards: every device of a site
// lands on one shard (and, scaled out, on one Kafka partition), so that a
// site's correlation is local. Memory per site is bounded and idle sites
// are forgotten. Deadlines (durations, absences) sit in min-heaps, so a
// tick costs what falls due, not the fleet. The engine never does I/O and
// never waits on anything but a shard's lock; a heartbeat costs a map
// look-up and a heap step, without allocating.
package rules

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/minheap"
)

const nShards = 64

// Engine evaluates readings and deadlines. It is safe for concurrent use.
type Engine struct {
	reg    *devices.Registry
	start  time.Time
	rs     atomic.Pointer[ruleSet]
	shards [nShards]*shard
	seed   maphash.Seed
	per    periods
	radius radiusState

	reloadMu sync.Mutex // one reload (or restore) at a time
	lastTick atomic.Int64

	dropped atomic.Uint64
	evicted atomic.Uint64
}

// shard holds the state of the sites that hash to it.
type shard struct {
	mu     sync.Mutex
	devs   map[string]*deviceState
	sites  map[string]*siteState
	live   deviceHeap
	timers minheap.Heap[timer]
	vm     vm.VM
	ports  []PortEnv
}

// deviceState is what the engine keeps of every registered device: small,
// since a city has hundreds of thousands. Times are Unix nanoseconds; the
// id of the newest reading is derived again when needed (kind, device,
// seq and the time its id was made from).
type deviceState struct {
	dev      *devices.Device
	lastSeen int64 // engine time of the newest sign of life
	lastTS   int64 // device time of the newest reading
	idTS     int64 // the time the newest reading's id was derived from
	deadline int64
	lastSeq  uint64
	heapIdx  int32 // -1 when not watched
	kind     uint8
	seen     bool // a reading arrived since start (or before, restored)
	offline  bool
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// lastMsg is the id of the device's newest reading.
func (d *deviceState) lastMsg() string {
	return contract.ReadingID(d.dev.Kind, d.dev.ID, d.lastSeq, fromNanos(d.idTS))
}

type condKey struct {
	device string
	rule   string
	port   int
}

// condition is the state of one threshold or rate rule for one device (or
// charger port).
type condition struct {
	key          condKey
	site         *siteState
	crossedSince time.Time
	backSince    time.Time
	raised       bool
	last         float64
	reading      string
	receivedAt   time.Time
	flap         flapState
	rate         *rateRing
	timerAt      time.Time
	gone         bool
}

type flapState struct {
	raises   [8]time.Time // ring of the latest raises
	n        int
	flapping bool
	deferred bool // a clear was held back while flapping
}

func (f *flapState) note(t time.Time, p Flapping) (tipped bool) {
	f.raises[f.n%len(f.raises)] = t
	f.n++
	if f.flapping {
		return false
	}
	count := 0
	for i := 0; i < len(f.raises) && i < f.n; i++ {
		if r := f.raises[i]; !r.IsZero() && t.Sub(r) < p.Within {
			count++
		}
	}
	if count > p.Raises {
		f.flapping = true
		return true
	}
	return false
}

func (f *flapState) lastRaise() time.Time {
	if f.n == 0 {
		return time.Time{}
	}
	return f.raises[(f.n-1)%len(f.raises)]
}

type siteState struct {
	id      string
	site    *devices.Site
	conds   map[condKey]*condition
	corr    map[string]*members
	touched time.Time
	timerAt time.Time
}

// NewEngine returns an engine for the registry's devices. Every device's
// sign-of-life clock starts at start, so a device that never reports goes
// offline one timeout after start.
func NewEngine(cfg *Config, reg *devices.Registry, start time.Time) *Engine {
	e := &Engine{reg: reg, start: start, seed: maphash.MakeSeed()}
	devs := reg.Devices("")
	// One allocation for every device's state, and maps sized to hold
	// their shard's devices: a city's worth starts in a blink.
	states := make([]deviceState, len(devs))
	var per [nShards]int
	for _, d := range devs {
		per[maphash.String(e.seed, d.Site)%nShards]++
	}
	for i := range e.shards {
		e.shards[i] = &shard{devs: make(map[string]*deviceState, per[i]), sites: map[string]*siteState{}}
	}
	e.radius.bufs = map[string]*members{}
	e.lastTick.Store(start.UnixNano())
	for i, d := range devs {
		states[i] = deviceState{dev: d, kind: kindIndex(d.Kind), lastSeen: nanos(start), heapIdx: -1}
		e.shardFor(d.Site).devs[d.ID] = &states[i]
	}
	e.rs.Store(compile(cfg))
	for _, sh := range e.shards {
		sh.rewatch(e.rs.Load())
	}
	return e
}

// nKinds bounds the kinds the engine indexes its rules by: every kind of
// contract.Kinds has its own slot, and the last slot is for a kind the
// contract does not know (no rule names one).
const nKinds = 16

// kindIndex is k's place in contract.Kinds, the index of its rules.
func kindIndex(k contract.Kind) uint8 {
	if i := slices.Index(contract.Kinds, k); i >= 0 && i < nKinds-1 {
		return uint8(i)
	}
	return nKinds - 1
}

func (e *Engine) shardFor(site string) *shard {
	return e.shards[maphash.String(e.seed, site)%nShards]
}

// rewatch rebuilds the shard's absence heap for the rules in force.
func (sh *shard) rewatch(rs *ruleSet) {
	sh.live = sh.live[:0]
	for _, d := range sh.devs {
		d.heapIdx = -1
		if t := rs.timeout[d.kind]; t > 0 && len(rs.absence[d.kind]) > 0 && !d.offline {
			d.deadline = d.lastSeen + int64(t)
			sh.live.push(d)
		}
	}
}

// Config returns the rules in force.
func (e *Engine) Config() *Config { return e.rs.Load().cfg }

// Evaluate runs the rules on one reading and appends the signals it fires
// to out.
func (e *Engine) Evaluate(r *contract.Reading, out []contract.Signal) []contract.Signal {
	sh := e.shardFor(r.Site)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	d := sh.devs[r.Device]
	if d == nil {
		return out
	}
	// A redelivery of the newest message changes nothing.
	if d.seen && r.Seq == d.lastSeq && nanos(r.TS) == d.lastTS {
		return out
	}
	rs := e.rs.Load()
	now := r.ReceivedAt
	pi, per := e.per.at(&rs.cfg.Periods, now)
	// Any accepted message is a sign of life.
	if nanos(now) > d.lastSeen {
		d.lastSeen = nanos(now)
		if d.heapIdx >= 0 {
			d.deadline = d.lastSeen + int64(rs.timeout[d.kind])
			sh.live.fix(int(d.heapIdx))
		}
	}
	if d.offline {
		d.offline = false
		for _, ar := range rs.absence[d.kind] {
			s := e.signal(ar, d, contract.ActionClear, now, r.ID+"/back", now, pi, per, "back online")
			s.Message = r.ID
			out = e.emit(sh, rs, nil, d, s, pi, out)
		}
		if t := rs.timeout[d.kind]; t > 0 && len(rs.absence[d.kind]) > 0 {
			d.deadline = d.lastSeen + int64(t)
			sh.live.push(d)
		}
	}
	inOrder := !d.seen || nanos(r.TS) >= d.lastTS
	if inOrder {
		d.lastTS, d.lastSeq, d.idTS, d.seen = nanos(r.TS), r.Seq, nanos(r.IDTime()), true
	}
	suppressed := ""
	if r.Event == "test" {
		suppressed = contract.SuppressedTest
	}
	for _, rule := range rs.perKind[d.kind] {
		switch rule.Type {
		case TypeEvent:
			if r.Event == "" || !slices.Contains(rule.Events, r.Event) || !e.when(sh, rule, r, d, per) {
				continue
			}
			detail := "event " + r.Event
			if len(r.Media) > 0 {
				// A camera's snapshot travels with what it saw, to the
				// incident's signals and steps.
				detail += "; snapshot " + strings.Join(r.Media, " ")
			}
			s := e.signal(rule, d, contract.ActionRaise, r.TS, r.ID, r.ReceivedAt, pi, per, detail)
			s.Message, s.Event, s.Suppressed = r.ID, r.Event, suppressed
			s.Port = eventPort(r)
			if v, ok := r.Values["temp_c"]; ok {
				s.Value = &v
			}
			out = e.emit(sh, rs, nil, d, s, pi, out)
		case TypeThreshold, TypeRate:
			// An older reading arriving late must not clear or reopen
			// what newer ones decided.
			if !inOrder || !e.when(sh, rule, r, d, per) {
				continue
			}
			out = e.values(sh, rs, rule, d, r, pi, per, out)
		}
	}
	return out
}

func (e *Engine) when(sh *shard, rule *rule, r *contract.Reading, d *deviceState, per contract.Period) bool {
	if rule.program == nil {
		return true
	}
	sh.ports = sh.ports[:0]
	for _, p := range r.Ports {
		sh.ports = append(sh.ports, PortEnv{Port: p.Port, CurrentA: p.CurrentA, PowerW: p.PowerW, TempC: p.TempC, State: p.State})
	}
	site, _ := e.reg.Site(d.dev.Site)
	env := Env{Kind: string(r.Kind), Channel: string(r.Channel), Event: r.Event, Seq: r.Seq, Values: r.Values,
		Ports: sh.ports, Device: deviceEnv(d.dev, site), Period: string(per)}
	v, err := sh.vm.Run(rule.program, env)
	ok, _ := v.(bool)
	return err == nil && ok
}

// eventPort finds the charger port an event is about: values.port, or the
// hottest port listed; 0 means the whole charger.
func eventPort(r *contract.Reading) int {
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

// values feeds a reading's value (or each port's) to a threshold or rate
// rule.
func (e *Engine) values(sh *shard, rs *ruleSet, rule *rule, d *deviceState, r *contract.Reading, pi int, per contract.Period, out []contract.Signal) []contract.Signal {
	if rule.portField != "" {
		for i := range r.Ports {
			p := &r.Ports[i]
			v := p.TempC
			switch rule.portField {
			case "current_a":
				v = p.CurrentA
			case "power_w":
				v = p.PowerW
			}
			out = e.value(sh, rs, rule, d, p.Port, v, r, pi, per, out)
		}
		return out
	}
	v, ok := r.Values[rule.Value]
	if !ok {
		return out
	}
	return e.value(sh, rs, rule, d, 0, v, r, pi, per, out)
}

func (e *Engine) siteOf(sh *shard, d *deviceState, now time.Time) *siteState {
	s := sh.sites[d.dev.Site]
	if s == nil {
		site, _ := e.reg.Site(d.dev.Site)
		s = &siteState{id: d.dev.Site, site: site, conds: map[condKey]*condition{}}
		sh.sites[d.dev.Site] = s
	}
	if now.After(s.touched) {
		s.touched = now
	}
	if s.timerAt.IsZero() {
		rs := e.rs.Load()
		s.timerAt = s.touched.Add(rs.cfg.Limits.IdleEviction)
		sh.timers.Push(timer{at: s.timerAt, site: s})
	}
	return s
}

func (e *Engine) cond(sh *shard, rs *ruleSet, d *deviceState, rule *rule, port int, now time.Time) *condition {
	s := e.siteOf(sh, d, now)
	k := condKey{device: d.dev.ID, rule: rule.ID, port: port}
	c := s.conds[k]
	if c == nil {
		if len(s.conds) >= rs.cfg.Limits.Conditions {
			e.dropped.Add(1)
			return nil
		}
		c = &condition{key: k, site: s}
		if rule.Type == TypeRate {
			c.rate = &rateRing{}
		}
		s.conds[k] = c
	}
	return c
}

func (e *Engine) value(sh *shard, rs *ruleSet, rule *rule, d *deviceState, port int, v float64, r *contract.Reading, pi int, per contract.Period, out []contract.Signal) []contract.Signal {
	now := r.ReceivedAt
	c := e.cond(sh, rs, d, rule, port, now)
	if c == nil {
		return out
	}
	p := &rule.params[pi]
	if rule.Type == TypeRate {
		return e.rateStep(sh, rs, rule, d, c, p, v, r, pi, per, out)
	}
	c.last, c.reading, c.receivedAt = v, r.ID, r.ReceivedAt
	if p.crossed(v) {
		c.backSince = time.Time{}
		if c.crossedSince.IsZero() || now.Before(c.crossedSince) {
			c.crossedSince = now
		}
	} else {
		c.crossedSince = time.Time{}
		if c.raised && p.cleared(v) {
			if c.backSince.IsZero() || now.Before(c.backSince) {
				c.backSince = now
			}
		} else {
			c.backSince = time.Time{}
		}
	}
	out = e.due(sh, rs, rule, d, c, now, pi, per, out)
	e.schedule(sh, rule, c, pi)
	return out
}

// due raises or clears a threshold condition whose duration has run, and
// ends a flapping spell that has gone quiet.
func (e *Engine) due(sh *shard, rs *ruleSet, rule *rule, d *deviceState, c *condition, now time.Time, pi int, per contract.Period, out []contract.Signal) []contract.Signal {
	p := &rule.params[pi]
	port := c.key.port
	switch {
	case !c.raised && !c.crossedSince.IsZero() && now.Sub(c.crossedSince) >= p.forD:
		c.raised = true
		tipped := c.flap.note(now, rule.flap)
		if c.flap.flapping && !tipped {
			c.flap.deferred = false
			return out // folded into the flapping raise
		}
		s := e.signal(rule, d, contract.ActionRaise, now, c.reading+portSuffix(port), c.receivedAt, pi, per,
			fmt.Sprintf("%s %s for %s", rule.Value, p.bound(), p.forD))
		s.Message, s.Port = c.reading, port
		v := c.last
		s.Value = &v
		if tipped {
			s.Flapping = true
			s.Detail += fmt.Sprintf("; flapping: more than %d raises within %s, held open", rule.flap.Raises, rule.flap.Within)
		}
		out = e.emit(sh, rs, c.site, d, s, pi, out)
	case c.raised && !c.backSince.IsZero() && now.Sub(c.backSince) >= p.clearFor:
		c.raised = false
		c.backSince = time.Time{}
		if c.flap.flapping {
			c.flap.deferred = true
			return out
		}
		out = e.clearSignal(sh, rs, rule, d, c, now, pi, per, fmt.Sprintf("%s back to %g", rule.Value, c.last), out)
	case c.flap.flapping && !c.raised && now.Sub(c.flap.lastRaise()) >= rule.flap.Within:
		c.flap.flapping = false
		if c.flap.deferred {
			c.flap.deferred = false
			out = e.clearSignal(sh, rs, rule, d, c, now, pi, per,
				fmt.Sprintf("%s back to %g and quiet for %s", rule.Value, c.last, rule.flap.Within), out)
		}
	}
	return out
}

func (e *Engine) clearSignal(sh *shard, rs *ruleSet, rule *rule, d *deviceState, c *condition, now time.Time, pi int, per contract.Period, detail string, out []contract.Signal) []contract.Signal {
	s := e.signal(rule, d, contract.ActionClear, now, c.reading+portSuffix(c.key.port)+"/clear", c.receivedAt, pi, per, detail)
	s.Message, s.Port = c.reading, c.key.port
	v := c.last
	s.Value = &v
	return e.emit(sh, rs, c.site, d, s, pi, out)
}

// next returns when a threshold condition must be looked at again; zero
// when nothing is pending.
func (c *condition) next(rule *rule, pi int) time.Time {
	p := &rule.params[pi]
	var at time.Time
	min := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	if !c.raised && !c.crossedSince.IsZero() {
		min(c.crossedSince.Add(p.forD))
	}
	if c.raised && !c.backSince.IsZero() {
		min(c.backSince.Add(p.clearFor))
	}
	if c.flap.flapping && !c.raised {
		min(c.flap.lastRaise().Add(rule.flap.Within))
	}
	return at
}

// schedule keeps one timer per condition, at its earliest deadline.
func (e *Engine) schedule(sh *shard, rule *rule, c *condition, pi int) {
	if rule.Type != TypeThreshold {
		return
	}
	at := c.next(rule, pi)
	if at.IsZero() || (!c.timerAt.IsZero() && !at.Before(c.timerAt)) {
		return
	}
	c.timerAt = at
	sh.timers.Push(timer{at: at, cond: c})
}

func portSuffix(port int) string {
	if port == 0 {
		return ""
	}
	return "/port" + strconv.Itoa(port)
}

// Tick fires what falls due at now: threshold durations, absences, the end
// of flapping spells, and forgets idle sites. Call it at least once a
// second; it costs what falls due. A clock that jumps forward fires each
// deadline once; one that jumps back fires nothing and restarts the
// durations at now.
func (e *Engine) Tick(now time.Time, out []contract.Signal) []contract.Signal {
	if last := e.lastTick.Swap(now.UnixNano()); last != 0 && now.UnixNano() < last-int64(time.Second) {
		e.rebase(now)
	}
	rs := e.rs.Load()
	pi, per := e.per.at(&rs.cfg.Periods, now)
	for _, sh := range e.shards {
		sh.mu.Lock()
		rs = e.rs.Load()
		for len(sh.live) > 0 && nanos(now) >= sh.live[0].deadline {
			d := sh.live.pop()
			d.offline = true
			timeout := rs.timeout[d.kind]
			lastSeen := fromNanos(d.lastSeen)
			id := d.dev.ID + "/silent-since/" + strconv.FormatInt(lastSeen.UnixMilli(), 10)
			for _, ar := range rs.absence[d.kind] {
				s := e.signal(ar, d, contract.ActionRaise, now, id, lastSeen, pi, per,
					fmt.Sprintf("no sign of life since %s (timeout %s)", lastSeen.Format(time.RFC3339), timeout))
				if d.seen {
					s.Message = d.lastMsg()
				}
				out = e.emit(sh, rs, nil, d, s, pi, out)
			}
		}
		for sh.timers.Len() > 0 && !now.Before(sh.timers.Top().at) {
			t := sh.timers.Pop()
			if t.site != nil {
				e.maybeEvict(sh, rs, t.site, t.at, now)
				continue
			}
			c := t.cond
			if c.gone || !c.timerAt.Equal(t.at) {
				continue
			}
			c.timerAt = time.Time{}
			rule := rs.byID[c.key.rule]
			d := sh.devs[c.key.device]
			if rule == nil || d == nil || rule.Type != TypeThreshold {
				continue
			}
			out = e.due(sh, rs, rule, d, c, now, pi, per, out)
			e.schedule(sh, rule, c, pi)
		}
		sh.mu.Unlock()
	}
	return out
}

func (e *Engine) maybeEvict(sh *shard, rs *ruleSet, s *siteState, at, now time.Time) {
	if !s.timerAt.Equal(at) {
		return
	}
	s.timerAt = time.Time{}
	idle := rs.cfg.Limits.IdleEviction
	busy := now.Sub(s.touched) < idle
	for _, c := range s.conds {
		if c.raised || !c.crossedSince.IsZero() || c.flap.flapping || c.rate != nil && c.rate.raised {
			busy = true
		}
	}
	if busy {
		next := s.touched.Add(idle)
		if !next.After(now) {
			next = now.Add(idle)
		}
		s.timerAt = next
		sh.timers.Push(timer{at: next, site: s})
		return
	}
	for _, c := range s.conds {
		c.gone = true
	}
	delete(sh.sites, s.id)
	e.evicted.Add(1)
}

// rebase is run when the clock jumped back: what was stamped in the future
// is restamped now, so that nothing waits out the jump and nothing fires
// for it.
func (e *Engine) rebase(now time.Time) {
	rs := e.rs.Load()
	for _, sh := range e.shards {
		sh.mu.Lock()
		for _, d := range sh.devs {
			if d.lastSeen > nanos(now) {
				d.lastSeen = nanos(now)
			}
		}
		sh.rewatch(rs)
		sh.timers.Reset()
		pi, _ := e.per.at(&rs.cfg.Periods, now)
		for _, s := range sh.sites {
			if s.touched.After(now) {
				s.touched = now
			}
			s.timerAt = now.Add(rs.cfg.Limits.IdleEviction)
			sh.timers.Push(timer{at: s.timerAt, site: s})
			for _, c := range s.conds {
				if c.crossedSince.After(now) {
					c.crossedSince = now
				}
				if c.backSince.After(now) {
					c.backSince = now
				}
				c.timerAt = time.Time{}
				if rule := rs.byID[c.key.rule]; rule != nil {
					e.schedule(sh, rule, c, pi)
				}
			}
		}
		sh.mu.Unlock()
	}
}

func (e *Engine) signal(rule *rule, d *deviceState, a contract.Action, at time.Time, key string, received time.Time, pi int, per contract.Period, detail string) contract.Signal {
	cmd := ""
	if a == contract.ActionRaise {
		cmd = rule.Command
	}
	return contract.Signal{
		ID:           rule.ID + "/" + string(a) + "/" + key,
		Rule:         rule.ID,
		Action:       a,
		Type:         rule.Incident,
		Severity:     rule.params[pi].severity,
		Dispatchable: rule.IsDispatchable(),
		Kind:         d.dev.Kind,
		Device:       d.dev.ID,
		Site:         d.dev.Site,
		At:           at,
		ReceivedAt:   received,
		Command:      cmd,
		Detail:       detail,
		Period:       per,
	}
}

// emit applies suppression, appends the signal, and feeds a raise to the
// correlations it takes part in.
func (e *Engine) emit(sh *shard, rs *ruleSet, site *siteState, d *deviceState, s contract.Signal, pi int, out []contract.Signal) []contract.Signal {
	if s.Suppressed == "" && rs.inMaintenance(s.Device, s.Site, s.ReceivedAt, s.At) {
		s.Suppressed = contract.SuppressedMaintenance
	}
	if s.Suppressed != "" {
		s.Dispatchable = false
		s.Command = ""
		s.Detail += " (" + s.Suppressed + ": recorded, not dispatched)"
	}
	out = append(out, s)
	if s.Action != contract.ActionRaise || s.Suppressed != "" {
		return out
	}
	rule := rs.byID[s.Rule]
	if rule == nil || len(rule.feeds) == 0 {
		return out
	}
	if site == nil {
		site = e.siteOf(sh, d, s.ReceivedAt)
	}
	for _, cr := range rule.feeds {
		out = e.correlate(rs, cr, site, d, s, pi, out)
	}
	return out
}

// Stats are the engine's gauges.
type Stats struct {
	Sites      int    `json:"sites"`
	Conditions int    `json:"conditions"`
	Watched    int    `json:"watched"`
	Offline    int    `json:"offline"`
	Dropped    uint64 `json:"dropped_conditions"`
	Evicted    uint64 `json:"evicted_sites"`
}

// Stats counts the engine's state.
func (e *Engine) Stats() Stats {
	var st Stats
	for _, sh := range e.shards {
		sh.mu.Lock()
		st.Sites += len(sh.sites)
		for _, s := range sh.sites {
			st.Conditions += len(s.conds)
		}
		st.Watched += len(sh.live)
		for _, d := range sh.devs {
			if d.offline {
				st.Offline++
			}
		}
		sh.mu.Unlock()
	}
	st.Dropped, st.Evicted = e.dropped.Load(), e.evicted.Load()
	return st
}

// isAbsence reports whether the rule in force with this id is an absence
// rule.
func (e *Engine) isAbsence(id string) bool {
	r := e.rs.Load().byID[id]
	return r != nil && r.Type == TypeAbsence
}
