package rules

import (
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"strings"
	"time"
)

// ruleSet is a Config made ready for the hot path.
type ruleSet struct {
	cfg     *Config
	rules   []*rule
	byID    map[string]*rule
	perKind [nKinds][]*rule // event, threshold and rate rules by kind index
	absence [nKinds][]*rule
	timeout [nKinds]time.Duration
	corr    []*rule
}

type rule struct {
	*Rule
	fp        string
	portField string
	params    [nPeriods]params
	flap      Flapping
	feeds     []*rule // correlation rules this rule's raises take part in
}

type rateKind int

const (
	rateFall rateKind = iota + 1
	rateRise
	ratePerMin
)

// params are a rule's bounds and severity in one period.
type params struct {
	above     bool
	raise     float64
	clear     float64
	hasClear  bool
	forD      time.Duration
	clearFor  time.Duration
	rate      rateKind
	rateBound float64
	severity  contract.Severity
}

func (p *params) crossed(v float64) bool {
	if p.above {
		return v > p.raise
	}
	return v < p.raise
}

// cleared reports whether v is back past the clear bound: strictly beyond
// it, so a value sitting on the bound keeps the condition raised.
func (p *params) cleared(v float64) bool {
	if !p.hasClear {
		return !p.crossed(v)
	}
	if p.above {
		return v < p.clear
	}
	return v > p.clear
}

func (p *params) bound() string {
	if p.above {
		return fmt.Sprintf("above %g", p.raise)
	}
	return fmt.Sprintf("below %g", p.raise)
}

func compile(cfg *Config) *ruleSet {
	rs := &ruleSet{cfg: cfg, byID: map[string]*rule{}}
	for k, d := range cfg.HeartbeatTimeouts {
		rs.timeout[kindIndex(k)] = d
	}
	for i := range cfg.Rules {
		r := &rule{Rule: &cfg.Rules[i]}
		r.fp = r.Rule.fingerprint()
		if f, ok := strings.CutPrefix(r.Value, "ports."); ok {
			r.portField = f
		}
		r.flap = cfg.Flapping
		if r.Flapping != nil {
			r.flap = *r.Flapping
		}
		for pi, per := range contract.Periods {
			r.params[pi] = r.paramsFor(r.Periods[per])
		}
		rs.rules = append(rs.rules, r)
		rs.byID[r.ID] = r
		switch r.Type {
		case TypeAbsence:
			for _, k := range r.Kinds {
				rs.absence[kindIndex(k)] = append(rs.absence[kindIndex(k)], r)
			}
		case TypeCorrelation:
			rs.corr = append(rs.corr, r)
		default:
			rs.perKind[kindIndex(r.Kind)] = append(rs.perKind[kindIndex(r.Kind)], r)
		}
	}
	for _, c := range rs.corr {
		for _, t := range c.Match {
			for _, id := range t.Rules {
				if m := rs.byID[id]; m != nil && !containsRule(m.feeds, c) {
					m.feeds = append(m.feeds, c)
				}
			}
		}
	}
	return rs
}

func containsRule(list []*rule, r *rule) bool {
	for _, x := range list {
		if x == r {
			return true
		}
	}
	return false
}

func (r *rule) paramsFor(o Override) params {
	p := params{severity: r.Severity, forD: r.For, clearFor: r.ClearFor}
	if o.Severity != "" {
		p.severity = o.Severity
	}
	switch r.Type {
	case TypeThreshold:
		above, below := pick(o.Above, r.Above), pick(o.Below, r.Below)
		if above != nil {
			p.above, p.raise = true, *above
			if cb := pick(o.ClearBelow, r.ClearBelow); cb != nil {
				p.clear, p.hasClear = *cb, true
			}
		} else if below != nil {
			p.raise = *below
			if ca := pick(o.ClearAbove, r.ClearAbove); ca != nil {
				p.clear, p.hasClear = *ca, true
			}
		}
		if o.For != nil {
			p.forD = *o.For
		}
		if o.ClearFor != nil {
			p.clearFor = *o.ClearFor
		}
	case TypeRate:
		switch {
		case r.FallsBy != nil:
			p.rate, p.rateBound = rateFall, *pick(o.FallsBy, r.FallsBy)
		case r.RisesBy != nil:
			p.rate, p.rateBound = rateRise, *pick(o.RisesBy, r.RisesBy)
		case r.RisesPerMin != nil:
			p.rate, p.rateBound = ratePerMin, *pick(o.RisesPerMin, r.RisesPerMin)
		}
	}
	return p
}

// inMaintenance reports whether a device or site is in a maintenance
// window at either time given (engine time, device time).
func (rs *ruleSet) inMaintenance(device, site string, times ...time.Time) bool {
	for i := range rs.cfg.Maintenance {
		m := &rs.cfg.Maintenance[i]
		hit := false
		for _, id := range m.Devices {
			hit = hit || id == device
		}
		for _, id := range m.Sites {
			hit = hit || id == site
		}
		if !hit {
			continue
		}
		for _, t := range times {
			if !t.IsZero() && !t.Before(m.from) && t.Before(m.to) {
				return true
			}
		}
	}
	return false
}
