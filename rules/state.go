package rules

import (
	"encoding/json"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"slices"
	"time"
)

const snapshotVersion = 1

// snapshot is the state that matters across a restart: last signs of
// life, pending and raised conditions with their flapping history and rate
// samples, open correlations, and the period override.
type snapshot struct {
	Version      int          `json:"version"`
	TakenAt      time.Time    `json:"taken_at"`
	Devices      []deviceSnap `json:"devices"`
	Conditions   []condSnap   `json:"conditions,omitempty"`
	Correlations []corrSnap   `json:"correlations,omitempty"`
}

type deviceSnap struct {
	ID       string    `json:"id"`
	LastSeen time.Time `json:"last_seen"`
	LastTS   time.Time `json:"last_ts,omitzero"`
	LastSeq  uint64    `json:"last_seq,omitempty"`
	// IDTS is the time the newest reading's id was derived from (its
	// device's own ts); zero means LastTS.
	IDTS    time.Time `json:"id_ts,omitzero"`
	Seen    bool      `json:"seen,omitempty"`
	Offline bool      `json:"offline,omitempty"`
}

type condSnap struct {
	Site         string      `json:"site"`
	Device       string      `json:"device"`
	Rule         string      `json:"rule"`
	Fingerprint  string      `json:"fp"`
	Port         int         `json:"port,omitempty"`
	CrossedSince time.Time   `json:"crossed_since,omitzero"`
	BackSince    time.Time   `json:"back_since,omitzero"`
	Raised       bool        `json:"raised,omitempty"`
	Last         float64     `json:"last"`
	Reading      string      `json:"reading,omitempty"`
	ReceivedAt   time.Time   `json:"received_at,omitzero"`
	Raises       []time.Time `json:"raises,omitempty"`
	Flapping     bool        `json:"flapping,omitempty"`
	Deferred     bool        `json:"deferred,omitempty"`
	Samples      []sample    `json:"samples,omitempty"`
	RateRaised   bool        `json:"rate_raised,omitempty"`
}

type corrSnap struct {
	Rule        string  `json:"rule"`
	Fingerprint string  `json:"fp"`
	Site        string  `json:"site,omitempty"` // empty for radius correlations
	Members     members `json:"state"`
}

// Snapshot encodes the state of the sites keep accepts (nil: every site)
// that matters across a restart. Shards are copied one at a time, so the
// snapshot is not one instant of the whole engine; each site's part is
// consistent. The period override is not part of it: it is kept with the
// settings.
func (e *Engine) Snapshot(now time.Time, keep func(site string) bool) ([]byte, error) {
	if keep == nil {
		keep = func(string) bool { return true }
	}
	rs := e.rs.Load()
	snap := snapshot{Version: snapshotVersion, TakenAt: now}
	for _, sh := range e.shards {
		sh.mu.Lock()
		for _, d := range sh.devs {
			if !keep(d.dev.Site) {
				continue
			}
			ds := deviceSnap{ID: d.dev.ID, LastSeen: fromNanos(d.lastSeen), LastSeq: d.lastSeq, Seen: d.seen, Offline: d.offline}
			if d.seen {
				ds.LastTS, ds.IDTS = fromNanos(d.lastTS), fromNanos(d.idTS)
			}
			snap.Devices = append(snap.Devices, ds)
		}
		for _, s := range sh.sites {
			if !keep(s.id) {
				continue
			}
			for _, c := range s.conds {
				r := rs.byID[c.key.rule]
				if r == nil {
					continue
				}
				cs := condSnap{Site: s.id, Device: c.key.device, Rule: c.key.rule, Fingerprint: r.fp, Port: c.key.port,
					CrossedSince: c.crossedSince, BackSince: c.backSince, Raised: c.raised, Last: c.last,
					Reading: c.reading, ReceivedAt: c.receivedAt, Flapping: c.flap.flapping, Deferred: c.flap.deferred}
				for i := 0; i < c.flap.n && i < len(c.flap.raises); i++ {
					cs.Raises = append(cs.Raises, c.flap.raises[(c.flap.n-1-i)%len(c.flap.raises)])
				}
				slices.Reverse(cs.Raises)
				if c.rate != nil {
					c.rate.each(func(x sample) { cs.Samples = append(cs.Samples, x) })
					cs.RateRaised = c.rate.raised
				}
				snap.Conditions = append(snap.Conditions, cs)
			}
			for id, m := range s.corr {
				if r := rs.byID[id]; r != nil && len(m.List) > 0 {
					snap.Correlations = append(snap.Correlations, corrSnap{Rule: id, Fingerprint: r.fp, Site: s.id, Members: *m})
				}
			}
		}
		sh.mu.Unlock()
	}
	e.radius.mu.Lock()
	for id, m := range e.radius.bufs {
		r := rs.byID[id]
		if r == nil {
			continue
		}
		// A radius correlation spans sites: each partition keeps its own
		// sites' members.
		var mine members
		for _, x := range m.List {
			if keep(x.Site) {
				mine.List = append(mine.List, x)
			}
		}
		for site, t := range m.Fired {
			if keep(site) {
				if mine.Fired == nil {
					mine.Fired = map[string]time.Time{}
				}
				mine.Fired[site] = t
			}
		}
		if len(mine.List) > 0 || len(mine.Fired) > 0 {
			snap.Correlations = append(snap.Correlations, corrSnap{Rule: id, Fingerprint: r.fp, Members: mine})
		}
	}
	b, err := json.Marshal(snap)
	e.radius.mu.Unlock()
	return b, err
}

// Restore loads the state of the sites keep accepts (nil: every site) from
// a snapshot, before the engine takes their readings: at start, or when a
// rules instance takes over their partition. The time the engine was down (now minus the snapshot's time) does not
// count as silence: last signs of life move forward by it, so a restart
// does not turn the whole fleet offline at once. Pending durations keep
// their start: the last value heard still stands. State of rules whose
// definition changed since the snapshot is dropped.
func (e *Engine) Restore(b []byte, now time.Time, keep func(site string) bool) error {
	if keep == nil {
		keep = func(string) bool { return true }
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("rules: engine state: %w", err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("rules: engine state version %d, want %d", snap.Version, snapshotVersion)
	}
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	rs := e.rs.Load()
	down := now.Sub(snap.TakenAt)
	if down < 0 {
		down = 0
	}
	for _, ds := range snap.Devices {
		dev, ok := e.reg.Device(ds.ID)
		if !ok || !keep(dev.Site) {
			continue
		}
		sh := e.shardFor(dev.Site)
		sh.mu.Lock()
		if d := sh.devs[ds.ID]; d != nil {
			d.lastSeen = nanos(ds.LastSeen.Add(down))
			d.lastSeq, d.seen, d.offline = ds.LastSeq, ds.Seen, ds.Offline
			if ds.Seen {
				d.lastTS, d.idTS = nanos(ds.LastTS), nanos(ds.LastTS)
				if !ds.IDTS.IsZero() {
					d.idTS = nanos(ds.IDTS)
				}
			}
		}
		sh.mu.Unlock()
	}
	pi, _ := e.per.at(&rs.cfg.Periods, now)
	for _, cs := range snap.Conditions {
		r := rs.byID[cs.Rule]
		dev, ok := e.reg.Device(cs.Device)
		if r == nil || r.fp != cs.Fingerprint || !ok || dev.Site != cs.Site || !keep(dev.Site) {
			continue
		}
		sh := e.shardFor(dev.Site)
		sh.mu.Lock()
		if d := sh.devs[cs.Device]; d != nil {
			if c := e.cond(sh, rs, d, r, cs.Port, now); c != nil {
				c.crossedSince, c.backSince, c.raised = cs.CrossedSince, cs.BackSince, cs.Raised
				c.last, c.reading, c.receivedAt = cs.Last, cs.Reading, cs.ReceivedAt
				for _, t := range cs.Raises {
					c.flap.raises[c.flap.n%len(c.flap.raises)] = t
					c.flap.n++
				}
				c.flap.flapping, c.flap.deferred = cs.Flapping, cs.Deferred
				if c.rate != nil {
					for _, x := range cs.Samples {
						c.rate.add(x)
					}
					c.rate.raised = cs.RateRaised
				}
				e.schedule(sh, r, c, pi)
			}
		}
		sh.mu.Unlock()
	}
	for _, cs := range snap.Correlations {
		r := rs.byID[cs.Rule]
		if r == nil || r.fp != cs.Fingerprint {
			continue
		}
		m := cs.Members
		if cs.Site == "" {
			e.radius.mu.Lock()
			e.radius.merge(cs.Rule, m, keep)
			e.radius.mu.Unlock()
			continue
		}
		if !keep(cs.Site) {
			continue
		}
		devs := e.reg.SiteDevices(cs.Site)
		if len(devs) == 0 {
			continue
		}
		sh := e.shardFor(cs.Site)
		sh.mu.Lock()
		if d := sh.devs[devs[0].ID]; d != nil {
			s := e.siteOf(sh, d, now)
			if s.corr == nil {
				s.corr = map[string]*members{}
			}
			s.corr[cs.Rule] = &m
		}
		sh.mu.Unlock()
	}
	for _, sh := range e.shards {
		sh.mu.Lock()
		sh.rewatch(rs)
		sh.mu.Unlock()
	}
	return nil
}

// ReloadReport says what a reload changed.
type ReloadReport struct {
	Rules   int      `json:"rules"`
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Kept    []string `json:"kept,omitempty"`
}

// Reload swaps in new rules. The state of rules whose id and definition
// are unchanged stays (a pending duration goes on running); the state of
// changed and removed rules is dropped.
func (e *Engine) Reload(cfg *Config) ReloadReport {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.rs.Load()
	next := compile(cfg)
	rep := ReloadReport{Rules: len(next.rules)}
	keep := map[string]bool{}
	for _, r := range next.rules {
		o := old.byID[r.ID]
		switch {
		case o == nil:
			rep.Added = append(rep.Added, r.ID)
		case o.fp != r.fp:
			rep.Changed = append(rep.Changed, r.ID)
		default:
			rep.Kept = append(rep.Kept, r.ID)
			keep[r.ID] = true
		}
	}
	for _, r := range old.rules {
		if next.byID[r.ID] == nil {
			rep.Removed = append(rep.Removed, r.ID)
		}
	}
	for _, sh := range e.shards {
		sh.mu.Lock()
	}
	e.radius.mu.Lock()
	e.rs.Store(next)
	for _, sh := range e.shards {
		for _, s := range sh.sites {
			for k, c := range s.conds {
				if !keep[k.rule] {
					c.gone = true
					delete(s.conds, k)
				}
			}
			for id := range s.corr {
				if !keep[id] {
					delete(s.corr, id)
				}
			}
		}
		sh.rewatch(next)
	}
	for id := range e.radius.bufs {
		if !keep[id] {
			delete(e.radius.bufs, id)
		}
	}
	e.radius.mu.Unlock()
	for _, sh := range e.shards {
		sh.mu.Unlock()
	}
	return rep
}

// CheckOverride says whether o may be put in force at now: a known period
// (or none, which hands back to the calendar) and an end in the future.
func CheckOverride(o *contract.PeriodOverride, now time.Time) error {
	if o == nil || o.Period == "" {
		return nil
	}
	if _, err := contract.ParsePeriod(string(o.Period)); err != nil {
		return err
	}
	if !o.Until.IsZero() && !o.Until.After(now) {
		return fmt.Errorf("until %s is not in the future", o.Until.Format(time.RFC3339))
	}
	return nil
}

// SetPeriod puts a period in force until until (zero: until cleared),
// whatever the calendar says. An empty period clears the override.
func (e *Engine) SetPeriod(p contract.Period, until time.Time, reason string, now time.Time) (PeriodStatus, error) {
	if p == "" {
		e.per.override.Store(nil)
		return e.Period(now), nil
	}
	o := &contract.PeriodOverride{Period: p, Until: until, Reason: reason, SetAt: now}
	if err := CheckOverride(o, now); err != nil {
		return PeriodStatus{}, err
	}
	e.per.override.Store(o)
	return e.Period(now), nil
}

// Period returns the period in force at now and why.
func (e *Engine) Period(now time.Time) PeriodStatus {
	return e.per.status(&e.rs.Load().cfg.Periods, now)
}
