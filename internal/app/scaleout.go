package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/rules"
)

// ownedBus is the rules role's view of the bus when several rules
// instances split the telemetry partitions. The engine knows every device
// of the registry, but an instance hears only the sites of the partitions
// it owns; so it may speak only about those: a signal about a site of a
// partition it does not own is not published (the owner speaks for it),
// and an absence ("no sign of life since T") is published only when the
// instance owned the partition at T, that is when it would have heard a
// message sent after T.
//
// After a rebalance the new owner starts with what it hears from then on
// (plus the records since the last committed offset); an absence that
// began before it took the partition is not raised by it.
type ownedBus struct {
	bus.Bus
	partitions int
	absence    map[string]bool // absence rule ids
	start      time.Time
	log        *slog.Logger
	dropped    *prometheus.CounterVec

	mu       sync.Mutex
	owned    map[int]time.Time // partition → owned since
	assigned bool              // whether an assignment has been seen
}

func newOwnedBus(b bus.Bus, partitions int, cfg *rules.Config, start time.Time, log *slog.Logger, reg prometheus.Registerer) *ownedBus {
	o := &ownedBus{Bus: b, partitions: partitions, absence: map[string]bool{}, start: start, log: log, owned: map[int]time.Time{},
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_rules_signals_not_owned_total",
			Help: "Signals a rules instance did not publish because another instance owns the site's partition (reason other_owner) or the absence began before it owned it (reason absence_before_ownership).",
		}, []string{"reason"})}
	for _, r := range cfg.Rules {
		if r.Type == rules.TypeAbsence {
			o.absence[r.ID] = true
		}
	}
	if reg != nil {
		reg.MustRegister(o.dropped)
	}
	return o
}

// Consume learns the assignment of the telemetry consumer.
func (o *ownedBus) Consume(ctx context.Context, topic, group string, h bus.Handler) error {
	if topic == bus.TopicTelemetry {
		ctx = bus.WithConsumeOptions(ctx, bus.ConsumeOptions{OnAssign: o.assign})
	}
	return o.Bus.Consume(ctx, topic, group, h)
}

func (o *ownedBus) assign(partitions []int) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	next := map[int]time.Time{}
	for _, p := range partitions {
		since, ok := o.owned[p]
		switch {
		case ok:
		case !o.assigned:
			// The first assignment: the engine started with these, and
			// a device silent since the start is silent on our watch.
			since = o.start
		default:
			since = now
		}
		next[p] = since
	}
	o.owned, o.assigned = next, true
}

// Publish passes every record but the signals this instance may not speak
// for.
func (o *ownedBus) Publish(ctx context.Context, recs ...bus.Record) error {
	kept := recs[:0:0]
	for _, r := range recs {
		if r.Topic == bus.TopicSignals && !o.mayPublish(r) {
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return nil
	}
	return o.Bus.Publish(ctx, kept...)
}

func (o *ownedBus) mayPublish(r bus.Record) bool {
	var s rules.Signal
	if err := json.Unmarshal(r.Value, &s); err != nil {
		return true
	}
	p := bus.PartitionFor([]byte(s.Site), o.partitions)
	o.mu.Lock()
	since, ok := o.owned[p]
	o.mu.Unlock()
	switch {
	case !ok:
		o.dropped.WithLabelValues("other_owner").Inc()
		return false
	case o.absence[s.Rule] && s.Action == rules.ActionRaise && s.ReceivedAt.Before(since):
		o.dropped.WithLabelValues("absence_before_ownership").Inc()
		o.log.Debug("absence began before this instance owned the partition; not raised", "device", s.Device, "partition", p)
		return false
	}
	return true
}

// localChanges remembers the incident changes this alarm instance
// published, so that its console stream, fed from the incidents topic,
// does not show them twice: the manager's own changes reach its consoles
// at once, the other instances' through the topic.
type localChanges struct {
	mu   sync.Mutex
	seen map[string]time.Time // id/version → when published
}

func newLocalChanges() *localChanges { return &localChanges{seen: map[string]time.Time{}} }

func changeKey(c *alarm.Change) string {
	return c.Incident.ID + "/" + strconv.Itoa(c.Incident.Version)
}

func (l *localChanges) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.seen[key] = now
	if len(l.seen) > 10000 {
		// A stream consumer that is far behind or stopped: forget the
		// oldest rather than grow.
		for k, at := range l.seen {
			if now.Sub(at) > time.Minute {
				delete(l.seen, k)
			}
		}
	}
}

// take reports whether key was published here, forgetting it.
func (l *localChanges) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[key]
	delete(l.seen, key)
	return ok
}

// feed is the incidents-topic handler of the console stream.
func (l *localChanges) feed(hub *alarm.Hub) bus.Handler {
	return func(_ context.Context, r bus.Record) error {
		var c alarm.Change
		if err := json.Unmarshal(r.Value, &c); err != nil || c.Incident == nil {
			return nil // not a change; nothing to show
		}
		if !l.take(changeKey(&c)) {
			hub.Publish(c)
		}
		return nil
	}
}

// recordingBus notes the incident changes the manager publishes.
type recordingBus struct {
	bus.Bus
	local *localChanges
}

func (b *recordingBus) Publish(ctx context.Context, recs ...bus.Record) error {
	for _, r := range recs {
		if r.Topic != bus.TopicIncidents {
			continue
		}
		var c alarm.Change
		if err := json.Unmarshal(r.Value, &c); err == nil && c.Incident != nil {
			b.local.add(changeKey(&c))
		}
	}
	return b.Bus.Publish(ctx, recs...)
}
