package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// Role runs the engine on the bus: readings in, signals out, and a tick
// every TickInterval for durations and absences.
type Role struct {
	Engine *Engine
	Bus    bus.Bus
	Clock  clock.Clock
	Log    *slog.Logger
	// TickInterval defaults to 200ms, so an absence is seen well within a
	// second of its deadline.
	TickInterval time.Duration
	// Group is the consumer group name (default "rules").
	Group string
	// State, when set, keeps the engine's snapshot across restarts: Run
	// saves it every SnapshotEvery (default 5s) and when it stops. A crash
	// loses at most that much state; the bus redelivers the readings it
	// had not committed, so what is lost is pending-duration progress and
	// last-seen times of the last seconds, not alarms.
	State         StateStore
	SnapshotEvery time.Duration

	m    *metrics
	once sync.Once
}

type metrics struct {
	evaluated prometheus.Counter
	signals   *prometheus.CounterVec
	evalTime  prometheus.Histogram
}

// Register registers the role's metrics on reg (nil: none).
func (r *Role) Register(reg prometheus.Registerer) {
	r.once.Do(func() {
		r.m = &metrics{
			evaluated: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "firegrid_rules_readings_evaluated_total",
				Help: "Readings the rule engine evaluated.",
			}),
			signals: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "firegrid_rules_signals_total",
				Help: "Signals the rule engine fired, by rule and action.",
			}, []string{"rule", "action"}),
			evalTime: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "firegrid_rules_evaluate_seconds",
				Help:    "Time to evaluate one reading.",
				Buckets: prometheus.ExponentialBuckets(1e-7, 4, 10),
			}),
		}
		if reg != nil {
			reg.MustRegister(r.m.evaluated, r.m.signals, r.m.evalTime)
		}
	})
}

// Run consumes readings until ctx is done.
func (r *Role) Run(ctx context.Context) error {
	r.Register(nil)
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.TickInterval <= 0 {
		r.TickInterval = 200 * time.Millisecond
	}
	if r.Group == "" {
		r.Group = "rules"
	}
	if r.SnapshotEvery <= 0 {
		r.SnapshotEvery = 5 * time.Second
	}
	var wg sync.WaitGroup
	if r.State != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					// The last snapshot outlives the context that stopped us.
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					r.save(sctx)
					cancel()
					return
				case <-r.Clock.After(r.SnapshotEvery):
					r.save(ctx)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.Clock.After(r.TickInterval):
				sigs := r.Engine.Tick(r.Clock.Now(), nil)
				for len(sigs) > 0 {
					if err := r.publish(ctx, sigs); err == nil {
						break
					} else if ctx.Err() != nil {
						return
					} else {
						r.Log.Warn("publishing signals failed; retrying", "err", err)
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}
	}()
	err := r.Bus.Consume(ctx, bus.TopicTelemetry, r.Group, r.Handle)
	wg.Wait()
	return err
}

// Restore loads the engine's last snapshot from State, if any. Call it
// before Run.
func (r *Role) Restore(ctx context.Context) error {
	if r.State == nil {
		return nil
	}
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	b, err := r.State.LoadState(ctx, stateName)
	if err != nil || b == nil {
		return err
	}
	return r.Engine.Restore(b, r.Clock.Now())
}

const stateName = "rules"

func (r *Role) save(ctx context.Context) {
	b, err := r.Engine.Snapshot(r.Clock.Now())
	if err == nil {
		err = r.State.SaveState(ctx, stateName, b)
	}
	if err != nil {
		r.Log.Warn("engine state not saved", "err", err)
	}
}

// Handle evaluates one reading record and publishes its signals.
func (r *Role) Handle(ctx context.Context, rec bus.Record) error {
	var rd devices.Reading
	if err := json.Unmarshal(rec.Value, &rd); err != nil {
		return fmt.Errorf("%w: reading: %v", bus.ErrPoison, err)
	}
	start := time.Now()
	sigs := r.Engine.Evaluate(&rd, nil)
	r.m.evalTime.Observe(time.Since(start).Seconds())
	r.m.evaluated.Inc()
	if len(sigs) == 0 {
		return nil
	}
	return r.publish(ctx, sigs)
}

func (r *Role) publish(ctx context.Context, sigs []Signal) error {
	recs := make([]bus.Record, 0, len(sigs))
	for _, s := range sigs {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		recs = append(recs, bus.Record{Topic: bus.TopicSignals, Key: []byte(s.Site), Value: b})
	}
	if err := r.Bus.Publish(ctx, recs...); err != nil {
		return err
	}
	for _, s := range sigs {
		r.m.signals.WithLabelValues(s.Rule, string(s.Action)).Inc()
		r.Log.Info("signal", "rule", s.Rule, "action", s.Action, "type", s.Type, "device", s.Device, "site", s.Site, "detail", s.Detail)
	}
	return nil
}
