package simulator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firegrid/firegrid/internal/clock"
)

// VirtualTarget is a firegrid whose clock a virtual-time run drives: an
// in-process firegrid on a clock.Fake. Publish (the Publisher) takes an
// uplink and returns once firegrid has it.
type VirtualTarget interface {
	Publisher
	// Settle returns once firegrid has finished reacting to everything
	// published and every timer fired so far.
	Settle(ctx context.Context) error
	// Observe returns what firegrid did since the last call, in order.
	Observe() (changes []*IncidentChange, commands []*Command)
}

// RunVirtual plays r against target in virtual time: it moves the fake
// clock straight to the next thing that happens — a publication, or a
// timer firegrid armed (a rule tick, an ack deadline) — and lets firegrid
// settle before moving on, so a five-minute scenario takes as long as
// firegrid's work and no more. r.Clock and r.Publisher are set from fake
// and target. The run lasts the scenario's (or r.Config's) duration, or
// until the last publication when it has none; a fleet with heartbeats
// needs a duration.
//
// The report holds every expectation of r.Scenario, judged. RunVirtual
// returns an error only when the run could not be played.
func RunVirtual(ctx context.Context, r *Runner, fake *clock.Fake, target VirtualTarget) (*Report, error) {
	r.Clock, r.Publisher = fake, target
	wall := time.Now()
	pl, err := r.prepare()
	if err != nil {
		return nil, err
	}
	if pl.until == 0 && !r.Config.NoFleet && r.Source == nil && (r.Scenario == nil || !r.Scenario.Fleet.Off) {
		return nil, errors.New("simulator: a virtual run with heartbeats needs a duration")
	}
	rep := &Report{Mode: "virtual time"}
	if sc := r.Scenario; sc != nil {
		rep.Scenario, rep.File = sc.Name, sc.File
	}
	var obs []Observation
	sites := siteOf(r.Devices)
	collect := func() error {
		if err := target.Settle(ctx); err != nil {
			return err
		}
		at := fake.Now().Sub(pl.start)
		changes, cmds := target.Observe()
		for _, c := range changes {
			obs = append(obs, Observation{At: at, Change: c})
		}
		for _, c := range cmds {
			obs = append(obs, Observation{At: at, Command: c})
		}
		return nil
	}

	next, more := pl.src.Next()
	end := pl.until
	for {
		if err := collect(); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		now := fake.Now().Sub(pl.start)
		if end == 0 && !more {
			end = now
		}
		if end > 0 && now >= end {
			break
		}
		// The next moment something happens.
		to := end
		if more && (end == 0 || next.At < to) {
			to = next.At
		}
		if t, ok := fake.Next(); ok && t.Sub(pl.start) < to {
			to = t.Sub(pl.start)
		}
		if to < now {
			to = now
		}
		fake.Set(pl.start.Add(to))
		if more && next.At <= to {
			// Timers due at this instant act before its publications, so
			// that a rule tick and a message at one instant always meet
			// in one order and a run is repeatable.
			if err := collect(); err != nil {
				return nil, err
			}
		}
		for more && next.At <= to {
			if next.Step != nil {
				logStep(pl.log, &next)
			}
			if next.Topic != "" {
				if next.Payload == nil {
					next.Stamp(fake.Now())
				}
				if !pl.throughUnit(&next, fake.Now()) {
					next, more = pl.src.Next()
					continue
				}
				if err := target.Publish(ctx, next.Topic, next.QoS, next.Retained, next.Payload); err != nil {
					return nil, fmt.Errorf("simulator: publish %s at %s: %w", next.Topic, fmtAt(next.At), err)
				}
				rep.Published++
				d := next.Device()
				obs = append(obs, Observation{At: to, Sent: &Sent{Device: d, Site: sites[d]}})
				if r.OnPublish != nil {
					r.OnPublish(next)
				}
			}
			next, more = pl.src.Next()
		}
	}
	rep.Played = fake.Now().Sub(pl.start)
	rep.Elapsed = time.Since(wall)
	if r.Scenario != nil {
		rep.Results = Evaluate(r.Scenario, obs, rep.Played)
	}
	pl.log.Info("virtual run over", "played", rep.Played, "elapsed", rep.Elapsed, "published", rep.Published, "observations", len(obs))
	return rep, nil
}
