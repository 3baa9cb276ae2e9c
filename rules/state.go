package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// StateStore keeps the engine's snapshot across restarts: the SQL store
// implements it in the incident database (one row per name).
type StateStore interface {
	// LoadState returns the snapshot saved under name, or nil when none.
	LoadState(ctx context.Context, name string) ([]byte, error)
	// SaveState replaces the snapshot saved under name.
	SaveState(ctx context.Context, name string, b []byte) error
}

const snapshotVersion = 1

// snapshot is the state that matters across a restart: last signs of
// life, pending and raised conditions with their flapping history and rate
// samples, open correlations, and the period override.
type snapshot struct {
	Version      int             `json:"version"`
	TakenAt      time.Time       `json:"taken_at"`
	Override     *PeriodOverride `json:"override,omitempty"`
	Devices      []deviceSnap    `json:"devices"`
	Conditions   []condSnap      `json:"conditions,omitempty"`
	Correlations []corrSnap      `json:"correlations,omitempty"`
}

type deviceSnap struct {
	ID       string    `json:"id"`
	LastSeen time.Time `json:"last_seen"`
	LastTS   time.Time `json:"last_ts,omitzero"`
	LastSeq  uint64    `json:"last_seq,omitempty"`
	LastMsg  string    `json:"last_message,omitempty"`
	Seen     bool      `json:"seen,omitempty"`
	Offline  bool      `json:"offline,omitempty"`
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

// Snapshot encodes the state that matters across a restart. Shards are
// copied one at a time, so the snapshot is not one instant of the whole
// engine; each site's part is consistent.
func (e *Engine) Snapshot(now time.Time) ([]byte, error) {
	rs := e.rs.Load()
	snap := snapshot{Version: snapshotVersion, TakenAt: now, Override: e.per.override.Load()}
	for _, sh := range e.shards {
		sh.mu.Lock()
		for _, d := range sh.devs {
			snap.Devices = append(snap.Devices, deviceSnap{ID: d.dev.ID, LastSeen: d.lastSeen, LastTS: d.lastTS,
				LastSeq: d.lastSeq, LastMsg: d.lastMsg, Seen: d.seen, Offline: d.offline})
		}
		for _, s := range sh.sites {
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
		if r := rs.byID[id]; r != nil && len(m.List) > 0 {
			snap.Correlations = append(snap.Correlations, corrSnap{Rule: id, Fingerprint: r.fp, Members: *m})
		}
	}
	b, err := json.Marshal(snap)
	e.radius.mu.Unlock()
	return b, err
}

// Restore loads a snapshot into a fresh engine, before it takes readings.
// The time the engine was down (now minus the snapshot's time) does not
// count as silence: last signs of life move forward by it, so a restart
// does not turn the whole fleet offline at once. Pending durations keep
// their start: the last value heard still stands. State of rules whose
// definition changed since the snapshot is dropped.
func (e *Engine) Restore(b []byte, now time.Time) error {
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
	if o := snap.Override; o != nil {
		e.per.override.Store(o)
	}
	for _, ds := range snap.Devices {
		dev, ok := e.reg.Device(ds.ID)
		if !ok {
			continue
		}
		sh := e.shardFor(dev.Site)
		sh.mu.Lock()
		if d := sh.devs[ds.ID]; d != nil {
			d.lastSeen = ds.LastSeen.Add(down)
			d.lastTS, d.lastSeq, d.lastMsg, d.seen, d.offline = ds.LastTS, ds.LastSeq, ds.LastMsg, ds.Seen, ds.Offline
		}
		sh.mu.Unlock()
	}
	pi, _ := e.per.at(&rs.cfg.Periods, now)
	for _, cs := range snap.Conditions {
		r := rs.byID[cs.Rule]
		dev, ok := e.reg.Device(cs.Device)
		if r == nil || r.fp != cs.Fingerprint || !ok || dev.Site != cs.Site {
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
			e.radius.bufs[cs.Rule] = &m
			e.radius.mu.Unlock()
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

// SetPeriod puts a period in force until until (zero: until cleared),
// whatever the calendar says. An empty period clears the override.
func (e *Engine) SetPeriod(p Period, until time.Time, reason string, now time.Time) (PeriodStatus, error) {
	if p == "" {
		e.per.override.Store(nil)
		return e.Period(now), nil
	}
	if _, err := ParsePeriod(string(p)); err != nil {
		return PeriodStatus{}, err
	}
	if !until.IsZero() && !until.After(now) {
		return PeriodStatus{}, fmt.Errorf("until %s is not in the future", until.Format(time.RFC3339))
	}
	e.per.override.Store(&PeriodOverride{Period: p, Until: until, Reason: reason, SetAt: now})
	return e.Period(now), nil
}

// Period returns the period in force at now and why.
func (e *Engine) Period(now time.Time) PeriodStatus {
	return e.per.status(&e.rs.Load().cfg.Periods, now)
}
