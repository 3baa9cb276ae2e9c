package rules

import (
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"time"
)

const rateSamples = 16

type sample struct {
	TS time.Time `json:"ts"`
	V  float64   `json:"v"`
}

// rateRing holds a condition's latest samples (device time): a fixed
// array, so memory per condition is bounded whatever the message rate.
type rateRing struct {
	s      [rateSamples]sample
	n      int // samples held
	head   int // next slot to write
	raised bool
}

func (r *rateRing) add(s sample) {
	r.s[r.head] = s
	r.head = (r.head + 1) % rateSamples
	if r.n < rateSamples {
		r.n++
	}
}

// each calls f for the held samples, oldest first.
func (r *rateRing) each(f func(sample)) {
	start := (r.head - r.n + rateSamples) % rateSamples
	for i := 0; i < r.n; i++ {
		f(r.s[(start+i)%rateSamples])
	}
}

// rateStep feeds one value to a rate condition: it raises once when the
// change within the window passes the bound, and re-arms when it no longer
// does.
func (e *Engine) rateStep(sh *shard, rs *ruleSet, rule *rule, d *deviceState, c *condition, p *params, v float64, r *contract.Reading, pi int, per contract.Period, out []contract.Signal) []contract.Signal {
	ring := c.rate
	c.last, c.reading, c.receivedAt = v, r.ID, r.ReceivedAt
	ts := r.TS
	from := ts.Add(-rule.Window)
	hit := false
	var detail float64
	// Newest first: the ring is in device-time order, so the first sample
	// out of the window ends the walk.
	for i := 1; i <= ring.n && !hit; i++ {
		s := &ring.s[(ring.head-i+rateSamples)%rateSamples]
		if s.TS.Before(from) {
			break
		}
		if !s.TS.Before(ts) {
			continue
		}
		switch p.rate {
		case rateFall:
			if s.V-v > p.rateBound {
				hit, detail = true, s.V-v
			}
		case rateRise:
			if v-s.V > p.rateBound {
				hit, detail = true, v-s.V
			}
		case ratePerMin:
			// The slope is measured over at least half the window, so that
			// two close samples do not make a steep line out of noise.
			if span := ts.Sub(s.TS); span >= rule.Window/2 {
				if slope := (v - s.V) / span.Minutes(); slope > p.rateBound {
					hit, detail = true, slope
				}
			}
		}
	}
	ring.add(sample{TS: ts, V: v})
	if !hit {
		ring.raised = false
		return out
	}
	if ring.raised {
		return out
	}
	ring.raised = true
	var what string
	switch p.rate {
	case rateFall:
		what = fmt.Sprintf("%s fell by %.3g within %s (bound %g)", rule.Value, detail, rule.Window, p.rateBound)
	case rateRise:
		what = fmt.Sprintf("%s rose by %.3g within %s (bound %g)", rule.Value, detail, rule.Window, p.rateBound)
	default:
		what = fmt.Sprintf("%s rising %.3g per minute (bound %g)", rule.Value, detail, p.rateBound)
	}
	s := e.signal(rule, d, contract.ActionRaise, ts, r.ID+portSuffix(c.key.port), r.ReceivedAt, pi, per, what)
	s.Message, s.Port = r.ID, c.key.port
	val := v
	s.Value = &val
	return e.emit(sh, rs, c.site, d, s, pi, out)
}
