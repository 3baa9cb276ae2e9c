package hazard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
)

func (l *Ledger) wakeTimers() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// RunDeadlines acts on due timers until ctx is done: first on everything
// that fell due while no instance ran, then on each timer as it comes due.
// Several instances may run it on one database; each timer is claimed by
// one of them.
func (l *Ledger) RunDeadlines(ctx context.Context) error {
	for {
		if _, err := l.FireDue(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("hazard deadlines", "err", err)
		}
		wait := l.cfg.Poll
		next, ok, err := l.store.NextHazardTimer(ctx)
		if err != nil && ctx.Err() == nil {
			l.log.Error("next hazard deadline", "err", err)
		}
		if ok {
			wait = min(wait, max(next.Sub(l.clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.wake:
		case <-l.clock.After(wait):
		}
	}
}

// FireDue acts on every timer due now and returns how many it handled.
func (l *Ledger) FireDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		fired, err := l.fireOne(ctx)
		if err != nil || !fired {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// fireOne claims one due timer and acts on it in one transaction.
func (l *Ledger) fireOne(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var (
		fired  bool
		h      *contract.Hazard
		event  string
		missed int
		plan   string
	)
	err := l.tx(ctx, func(tx Tx) error {
		fired, h, event, missed, plan = false, nil, "", 0, ""
		now := l.clock.Now()
		t, err := tx.ClaimTimer(now)
		if err != nil || t == nil {
			return err
		}
		fired = true
		if p, ok := strings.CutPrefix(t.ID, planTimer); ok {
			plan = p
			missed, err = l.endRound(tx, p, t.DueAt, now)
			return err
		}
		h, event, err = l.fire(tx, *t, now)
		if err != nil || h == nil {
			return err
		}
		return emit(tx, event, now, h)
	})
	if err != nil {
		return false, err
	}
	if h != nil {
		l.m.escalations.WithLabelValues(event).Inc()
		l.log.Warn("hazard "+event, "id", h.ID, "category", h.Category, "zone", h.Zone, "overdue", h.Overdue, "supervision", h.Supervision)
	}
	if missed > 0 {
		l.m.roundsMissed.WithLabelValues(plan).Add(float64(missed))
		l.log.Warn("inspection rounds missed", "plan", plan, "rounds", missed)
	}
	return fired, nil
}

// fire acts on a hazard's claimed timer: when its step is still undone,
// the deadline is recorded as passed and the hazard goes one level up the
// grid for supervision (挂牌督办); while a level remains, the timer comes
// again one period later.
func (l *Ledger) fire(tx Tx, t Timer, now time.Time) (*contract.Hazard, string, error) {
	h, err := tx.Lock(t.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, "", tx.DeleteTimer(t.ID, t.Kind)
	}
	if err != nil {
		return nil, "", err
	}
	done := !h.Open() || (t.Kind == contract.DeadlineRespond && h.DispatchedAt != nil) ||
		(t.Kind == contract.DeadlineRectify && h.Status != contract.HazardDispatched)
	if done {
		return nil, "", tx.DeleteTimer(t.ID, t.Kind)
	}
	cat, _ := l.cfg.Category(h.Category)
	period := cat.Respond
	what := "not dispatched"
	if t.Kind == contract.DeadlineRectify {
		period, what = cat.Rectify, "not rectified"
	}
	if !slices.Contains(h.Overdue, t.Kind) {
		h.Overdue = append(h.Overdue, t.Kind)
	}
	late := fmt.Sprintf("%s by %s", what, t.DueAt.In(l.loc).Format("2006-01-02 15:04"))
	event := contract.HazardEventOverdue
	step := contract.HazardStep{At: now, Action: event, By: "timer", Note: late}
	again := false
	if a := l.reg.NextUp(h.Zone, h.Supervision); a != nil {
		h.Supervision = append(h.Supervision, a.ID)
		event = contract.HazardEventSupervised
		step = contract.HazardStep{At: now, Action: event, By: "timer", To: a.ID,
			Note: fmt.Sprintf("%s; supervised (挂牌督办) by %s %s %s", late, a.Level, a.ID, a.Name)}
		again = l.reg.NextUp(h.Zone, h.Supervision) != nil
	}
	if again {
		err = tx.SetTimer(Timer{ID: t.ID, Kind: t.Kind, DueAt: t.DueAt.Add(period)})
	} else {
		err = tx.DeleteTimer(t.ID, t.Kind)
	}
	if err != nil {
		return nil, "", err
	}
	h.Steps = append(h.Steps, step)
	h.UpdatedAt = now
	h.Version++
	return h, event, tx.Save(h)
}
