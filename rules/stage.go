package rules

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// StateStore keeps the engine's snapshots across restarts, one document per
// name (the SQL store implements it).
type StateStore interface {
	// LoadState returns the snapshot saved under name, or nil when none.
	LoadState(ctx context.Context, name string) ([]byte, error)
	// SaveState replaces the snapshot saved under name.
	SaveState(ctx context.Context, name string, b []byte) error
}

// Settings is where the rules in force and the period override are kept
// (the store), so that every rules instance runs the same ones: a reload
// or a period change is written there first and then announced on the
// control topic.
type Settings interface {
	// Rules returns the rules in force: their version (0: none kept yet),
	// the name of the file they came from and its content.
	Rules(ctx context.Context) (version int, name string, content []byte, err error)
	// Period returns the period override in force, or nil.
	Period(ctx context.Context) (*contract.PeriodOverride, error)
}

// Stage runs the engine on the pipeline: readings in, signals out, a tick
// every TickInterval for durations and absences, and control messages
// that swap the rules or set the period. Scaled out, each instance speaks
// only for the sites of the partitions it owns and keeps a snapshot per
// partition; in process it owns them all.
type Stage struct {
	Engine *Engine
	// Out takes the signals: the bus.
	Out   contract.Publisher
	Clock clock.Clock
	Log   *slog.Logger
	// TickInterval defaults to 200ms, so an absence is seen well within a
	// second of its deadline.
	TickInterval time.Duration
	// State, when set, keeps a snapshot of each owned partition's sites.
	State StateStore
	// Settings, when set, is read at start and on each control message.
	Settings Settings
	// Version is the version of the rules the engine was built with (0:
	// none kept).
	Version int
	// Partitions and PartitionOf say how sites map to partitions of the
	// readings' topics: a snapshot per partition, and ownership. Zero
	// Partitions means one partition holding every site.
	Partitions  int
	PartitionOf func(site string) int

	m    *stageMetrics
	once sync.Once

	mu    sync.Mutex
	owned map[int]time.Time // partition → owned since
	// rulesVersion is the version of the rules in force (0: the file the
	// engine started with).
	rulesVersion int
}

type stageMetrics struct {
	evaluated prometheus.Counter
	signals   *prometheus.CounterVec
	evalTime  prometheus.Histogram
	notOwned  *prometheus.CounterVec
}

// Register registers the stage's metrics on reg (nil: none).
func (s *Stage) Register(reg prometheus.Registerer) {
	s.once.Do(func() {
		s.m = &stageMetrics{
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
			notOwned: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "firegrid_rules_signals_not_owned_total",
				Help: "Signals a rules instance did not publish because another instance owns the site's partition (reason other_owner) or the absence began before it owned it (reason absence_before_ownership).",
			}, []string{"reason"}),
		}
		if reg != nil {
			reg.MustRegister(s.m.evaluated, s.m.signals, s.m.evalTime, s.m.notOwned)
		}
	})
}

func (s *Stage) init() {
	s.Register(nil)
	s.mu.Lock()
	if s.rulesVersion == 0 {
		s.rulesVersion = s.Version
	}
	s.mu.Unlock()
	if s.Clock == nil {
		s.Clock = clock.Real{}
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.TickInterval <= 0 {
		s.TickInterval = 200 * time.Millisecond
	}
	if s.Partitions <= 0 || s.PartitionOf == nil {
		s.Partitions, s.PartitionOf = 1, func(string) int { return 0 }
	}
}

// Start applies what Settings holds (the rules and period in force), so
// that an instance starts with what the others run. Call it before the
// stage takes readings.
func (s *Stage) Start(ctx context.Context) error {
	s.init()
	return s.sync(ctx)
}

// HandleReading evaluates one reading and publishes its signals.
func (s *Stage) HandleReading(ctx context.Context, r *contract.Reading) error {
	start := time.Now()
	sigs := s.Engine.Evaluate(r, nil)
	s.m.evalTime.Observe(time.Since(start).Seconds())
	s.m.evaluated.Inc()
	if len(sigs) == 0 {
		return nil
	}
	return s.publish(ctx, sigs)
}

// HandleControl applies a control message: the rules or the period in
// force changed in Settings.
func (s *Stage) HandleControl(ctx context.Context, c *contract.Control) error {
	if err := s.sync(ctx); err != nil {
		return err
	}
	s.Log.Info("control applied", "what", c.What, "id", c.ID, "rules_version", s.RulesVersion())
	return nil
}

// sync brings the engine to what Settings holds.
func (s *Stage) sync(ctx context.Context) error {
	if s.Settings == nil {
		return nil
	}
	version, name, content, err := s.Settings.Rules(ctx)
	if err != nil {
		return fmt.Errorf("rules: read the rules in force: %w", err)
	}
	s.mu.Lock()
	current := s.rulesVersion
	s.mu.Unlock()
	if version > 0 && version != current {
		cfg, err := Parse(name, content)
		if err != nil {
			// Refused when it was stored; a later firegrid that reads
			// it differently must not stop this one.
			s.Log.Error("rules in force do not load here; keeping the current ones", "version", version, "err", err)
		} else {
			rep := s.Engine.Reload(cfg)
			s.mu.Lock()
			s.rulesVersion = version
			s.mu.Unlock()
			s.Log.Info("rules reloaded", "version", version, "file", name, "rules", rep.Rules, "added", rep.Added, "changed", rep.Changed, "removed", rep.Removed)
		}
	}
	o, err := s.Settings.Period(ctx)
	if err != nil {
		return fmt.Errorf("rules: read the period in force: %w", err)
	}
	now := s.Clock.Now()
	if o == nil || (!o.Until.IsZero() && !o.Until.After(now)) {
		s.Engine.SetPeriod("", time.Time{}, "", now)
	} else if _, err := s.Engine.SetPeriod(o.Period, o.Until, o.Reason, now); err != nil {
		s.Log.Error("period in force does not apply here; keeping the calendar", "period", o.Period, "err", err)
	}
	return nil
}

// RulesVersion returns the version of the rules in force (0 before any
// version was kept).
func (s *Stage) RulesVersion() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rulesVersion
}

// RunTicks ticks the engine every TickInterval until ctx is done,
// publishing what falls due.
func (s *Stage) RunTicks(ctx context.Context) error {
	s.init()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Clock.After(s.TickInterval):
			sigs := s.Engine.Tick(s.Clock.Now(), nil)
			for len(sigs) > 0 {
				if err := s.publish(ctx, sigs); err == nil {
					break
				} else if ctx.Err() != nil {
					return nil
				} else {
					s.Log.Warn("publishing signals failed; retrying", "err", err)
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}
	}
}

// Assign is told the partitions this instance owns (the bus calls it on
// every rebalance, before any reading of the new assignment): it restores
// the snapshot of each partition it did not own, and remembers since when
// it owns each.
func (s *Stage) Assign(ctx context.Context, partitions []int) error {
	s.init()
	now := s.Clock.Now()
	s.mu.Lock()
	prev, first := s.owned, s.owned == nil
	s.mu.Unlock()
	next := map[int]time.Time{}
	for _, p := range partitions {
		if since, ok := prev[p]; ok {
			next[p] = since
			continue
		}
		if err := s.restore(ctx, p, now); err != nil {
			return err
		}
		// The first assignment: the engine started with these, and a
		// device silent since the start is silent on this instance's
		// watch. A partition taken over later is watched from now.
		next[p] = now
		if first {
			next[p] = s.Engine.start
		}
	}
	s.mu.Lock()
	s.owned = next
	s.mu.Unlock()
	return nil
}

// stateName is the snapshot name of a partition's sites.
func stateName(p int) string { return "rules/" + strconv.Itoa(p) }

func (s *Stage) restore(ctx context.Context, p int, now time.Time) error {
	if s.State == nil {
		return nil
	}
	b, err := s.State.LoadState(ctx, stateName(p))
	if err != nil {
		return fmt.Errorf("rules: load the snapshot of partition %d: %w", p, err)
	}
	if b == nil {
		return nil
	}
	if err := s.Engine.Restore(b, now, s.inPartition(p)); err != nil {
		// A snapshot this firegrid cannot read is state lost, not a
		// reason to stop: the readings that follow rebuild it.
		s.Log.Warn("snapshot not restored; its sites start fresh", "partition", p, "err", err)
		return nil
	}
	s.Log.Info("partition state restored", "partition", p)
	return nil
}

func (s *Stage) inPartition(p int) func(site string) bool {
	return func(site string) bool { return s.PartitionOf(site) == p }
}

// Checkpoint saves a snapshot of each owned partition's sites. The bus
// calls it before it commits what the stage handled, so that offsets are
// never committed past a snapshot: after a crash the snapshot is restored
// and every reading after the committed offset is evaluated again, which
// changes nothing that already happened (signal ids are deterministic and
// the alarm stage drops repeats).
func (s *Stage) Checkpoint(ctx context.Context) error {
	if s.State == nil {
		return nil
	}
	s.mu.Lock()
	owned := make([]int, 0, len(s.owned))
	for p := range s.owned {
		owned = append(owned, p)
	}
	s.mu.Unlock()
	now := s.Clock.Now()
	for _, p := range owned {
		b, err := s.Engine.Snapshot(now, s.inPartition(p))
		if err != nil {
			return fmt.Errorf("rules: snapshot of partition %d: %w", p, err)
		}
		if err := s.State.SaveState(ctx, stateName(p), b); err != nil {
			return fmt.Errorf("rules: save the snapshot of partition %d: %w", p, err)
		}
	}
	return nil
}

// mayPublish says whether this instance speaks for the signal's site: it
// owns the site's partition, and for an absence it owned it when the
// silence began (so it would have heard a message sent after).
func (s *Stage) mayPublish(sig *contract.Signal) bool {
	p := s.PartitionOf(sig.Site)
	s.mu.Lock()
	since, ok := s.owned[p]
	s.mu.Unlock()
	switch {
	case !ok:
		s.m.notOwned.WithLabelValues("other_owner").Inc()
		return false
	case s.Engine.isAbsence(sig.Rule) && sig.Action == contract.ActionRaise && sig.ReceivedAt.Before(since):
		s.m.notOwned.WithLabelValues("absence_before_ownership").Inc()
		s.Log.Debug("absence began before this instance owned the partition; not raised", "device", sig.Device, "partition", p)
		return false
	}
	return true
}

func (s *Stage) publish(ctx context.Context, sigs []contract.Signal) error {
	recs := make([]contract.Record, 0, len(sigs))
	for i := range sigs {
		if !s.mayPublish(&sigs[i]) {
			continue
		}
		recs = append(recs, sigs[i].Record())
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.Out.Publish(ctx, recs...); err != nil {
		return err
	}
	for _, r := range recs {
		sig := r.Value.(*contract.Signal)
		s.m.signals.WithLabelValues(sig.Rule, string(sig.Action)).Inc()
		s.Log.Info("signal", "rule", sig.Rule, "action", sig.Action, "type", sig.Type, "device", sig.Device, "site", sig.Site, "detail", sig.Detail)
	}
	return nil
}
