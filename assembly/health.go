package assembly

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// stalled watches a consumer's handler: while it keeps failing (the
// database is down, and the bus holds the records until it is back), the
// check says since when, so that the console shows that what it shows is
// late rather than all there is.
type stalled struct {
	clock interface{ Now() time.Time }
	what  string
	mu    sync.Mutex
	since time.Time
	err   error
}

func (s *stalled) wrap(h bus.Handler) bus.Handler {
	return func(ctx context.Context, r contract.Record) error {
		err := h(ctx, r)
		s.mu.Lock()
		switch {
		case err == nil:
			s.since, s.err = time.Time{}, nil
		case s.since.IsZero():
			s.since, s.err = s.clock.Now(), err
		default:
			s.err = err
		}
		s.mu.Unlock()
		return err
	}
}

// check fails once the handler has failed for longer than a second.
func (s *stalled) check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() || s.clock.Now().Sub(s.since) < time.Second {
		return nil
	}
	return fmt.Errorf("%s are delayed: they wait on the bus since %s because %v", s.what, s.since.Format(time.TimeOnly), s.err)
}

// storeCheck fails while the database does not answer.
func storeCheck(e *env) console.Check {
	return console.Check{Name: "database", Err: func(ctx context.Context) error {
		if err := e.store.DB().PingContext(ctx); err != nil {
			return fmt.Errorf("the database does not answer, so incidents and crew actions wait until it is back: %v", err)
		}
		return nil
	}}
}

// clockCheck fails once the system clock has stepped more than two
// seconds away from the steady clock the process counts by, and exports
// the gap.
func clockCheck(c *clock.Steady, reg prometheus.Registerer) console.Check {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "firegrid_clock_offset_seconds",
		Help: "How far the system clock has stepped from the time firegrid counts by since it started (positive: the system clock is ahead). Timers follow firegrid's time; a restart takes the system clock's.",
	}, func() float64 { return c.Offset().Seconds() }))
	return console.Check{Name: "clock", Err: func(context.Context) error {
		if off := c.Offset(); off > 2*time.Second || off < -2*time.Second {
			return fmt.Errorf("the system clock stepped %s since firegrid started; firegrid keeps counting by the time that has passed, so deadlines neither fall due at once nor late, and shows times %s off until it is restarted",
				off.Round(time.Second), off.Round(time.Second))
		}
		return nil
	}}
}
