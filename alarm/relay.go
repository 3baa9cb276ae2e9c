package alarm

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Relay publishes the store's outbox: the incident changes and commands
// that transactions put there. It runs in every alarm instance; the store
// lets one at a time take records, so they leave in order.
type Relay struct {
	Store Store
	// Out takes the records: the bus.
	Out contract.Publisher
	Log *slog.Logger
	// Poll is how often the relay looks for records other instances put
	// in the outbox (its own wake it at once); default 200ms.
	Poll time.Duration
	// Batch is the most records one publish carries (default 256).
	Batch int
	// Handled, when set, waits until what was published has been handled
	// by every consumer: on the in-process bus a published record is only
	// queued, and the outbox must keep it until its consumers (the
	// notifications' outbox among them) have it. Nil where publishing
	// keeps it (Kafka).
	Handled func(ctx context.Context) error

	wake    chan struct{}
	pending atomic.Int64
}

// NewRelay returns a relay of st's outbox to out.
func NewRelay(st Store, out contract.Publisher, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{Store: st, Out: out, Log: log, Poll: 200 * time.Millisecond, Batch: 256, wake: make(chan struct{}, 1)}
}

// Committed tells the relay that a transaction of this process put n
// records in the outbox; the Manager calls it after each commit.
func (r *Relay) Committed(n int) {
	if n == 0 {
		return
	}
	r.pending.Add(int64(n))
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Idle reports whether everything this process put in the outbox has
// been published (a virtual-time run waits for it, as for an idle bus).
func (r *Relay) Idle() bool { return r.pending.Load() <= 0 }

// Run relays until ctx is done. It uses real time: the outbox is plumbing,
// not part of what a virtual clock drives.
func (r *Relay) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for {
		n, err := r.Store.RelayOutbox(ctx, r.Batch, func(recs []contract.Record) error {
			if err := r.Out.Publish(ctx, recs...); err != nil {
				return err
			}
			if r.Handled != nil {
				return r.Handled(ctx)
			}
			return nil
		})
		r.pending.Add(-int64(n))
		if ctx.Err() != nil {
			return nil
		}
		wait := r.Poll
		switch {
		case err != nil:
			r.Log.Warn("outbox not relayed; retrying", "err", err, "in", backoff)
			wait, backoff = backoff, min(backoff*2, 5*time.Second)
		case n > 0:
			backoff = 50 * time.Millisecond
			continue // there may be more
		default:
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(wait):
		}
	}
}
