package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig sizes the in-process bus.
type MemoryConfig struct {
	// Partitions per topic and group: records with one key go to one
	// partition and are handled in order; partitions run in parallel.
	Partitions int `yaml:"partitions"`
	// Capacity is the number of records a partition holds before Publish
	// blocks (the backpressure that reaches the MQTT acknowledgement).
	Capacity int `yaml:"capacity"`
}

// DefaultMemoryConfig returns the defaults for `firegrid serve`.
func DefaultMemoryConfig() MemoryConfig { return MemoryConfig{Partitions: 4, Capacity: 1024} }

// Validate checks the sizes.
func (c MemoryConfig) Validate() error {
	if c.Partitions < 1 || c.Partitions > 256 {
		return fmt.Errorf("partitions: want 1..256, got %d", c.Partitions)
	}
	if c.Capacity < 1 {
		return fmt.Errorf("capacity: want at least 1, got %d", c.Capacity)
	}
	return nil
}

// Memory is the in-process bus. Every consumer group of a topic gets every
// record; a record published while a topic has no group is dropped, so
// consumers start before the sources that feed them.
type Memory struct {
	cfg    MemoryConfig
	log    *slog.Logger
	mu     sync.RWMutex
	topics map[string]map[string]*group
	closed bool
	// inFlight counts records enqueued for a group and not yet handled.
	inFlight atomic.Int64
}

type group struct {
	parts []chan Record
	// urgent holds each partition's urgent records (device events), which
	// its consumer takes before the bulk, so an alarm never waits behind a
	// backlog of heartbeats. Records of one key stay in order within each
	// lane; across lanes an event may overtake earlier telemetry, which the
	// rule engine tolerates (it orders by device time and seq).
	urgent []chan Record
	done   chan struct{} // closed when the consumer stops
}

// NewMemory returns an in-process bus.
func NewMemory(cfg MemoryConfig, log *slog.Logger) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory bus: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Memory{cfg: cfg, log: log, topics: map[string]map[string]*group{}}, nil
}

// ErrClosed is returned by a closed bus.
var ErrClosed = errors.New("bus closed")

// Publish enqueues the records for every group of their topics, blocking
// while a partition is full.
func (m *Memory) Publish(ctx context.Context, recs ...Record) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		for _, g := range m.topics[r.Topic] {
			i := partition(r.Key, len(g.parts))
			p := g.parts[i]
			if r.Urgent {
				p = g.urgent[i]
			}
			m.inFlight.Add(1)
			select {
			case p <- r:
			case <-g.done:
				m.inFlight.Add(-1)
			case <-ctx.Done():
				m.inFlight.Add(-1)
				return ctx.Err()
			}
		}
	}
	return nil
}

func partition(key []byte, n int) int {
	if n == 1 || len(key) == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// Consume runs group's consumer on topic until ctx is done. One consumer
// per group and topic may run at a time.
func (m *Memory) Consume(ctx context.Context, topic, groupName string, h Handler) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	groups := m.topics[topic]
	if groups == nil {
		groups = map[string]*group{}
		m.topics[topic] = groups
	}
	if _, dup := groups[groupName]; dup {
		m.mu.Unlock()
		return fmt.Errorf("memory bus: group %q already consumes %q", groupName, topic)
	}
	g := &group{parts: make([]chan Record, m.cfg.Partitions), urgent: make([]chan Record, m.cfg.Partitions), done: make(chan struct{})}
	for i := range g.parts {
		g.parts[i] = make(chan Record, m.cfg.Capacity)
		g.urgent[i] = make(chan Record, m.cfg.Capacity)
	}
	groups[groupName] = g
	m.mu.Unlock()

	var wg sync.WaitGroup
	for i, p := range g.parts {
		urgent := g.urgent[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var r Record
				select {
				case r = <-urgent: // urgent first, whenever one waits
				default:
					select {
					case <-ctx.Done():
						return
					case r = <-urgent:
					case r = <-p:
					}
				}
				deliver(ctx, m.log, topic, groupName, h, r)
				m.inFlight.Add(-1)
			}
		}()
	}
	<-ctx.Done()
	close(g.done) // unblocks publishers before the lock is taken
	m.mu.Lock()
	delete(groups, groupName)
	m.mu.Unlock()
	wg.Wait()
	return nil
}

// deliver calls h until it takes r, backing off between tries. It reports
// false when ctx ended before h took r.
func deliver(ctx context.Context, log *slog.Logger, topic, group string, h Handler, r Record) bool {
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := h(ctx, r)
		if err == nil {
			return true
		}
		if errors.Is(err, ErrPoison) {
			log.Warn("dropping poison record", "topic", topic, "group", group, "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt == 1 || attempt%100 == 0 {
			log.Warn("handler failed; retrying", "topic", topic, "group", group, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// Close stops publishing.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// Idle reports whether every record published so far has been handled:
// none waits in a partition and no handler is running. Since handlers
// publish what they cause before they return, an idle bus means the
// pipeline has finished reacting, which is what a virtual-time run waits
// for before it moves its clock on.
func (m *Memory) Idle() bool { return m.inFlight.Load() == 0 }

// Consuming reports whether group consumes topic, so that a caller that
// started Consume in a goroutine knows when records reach it.
func (m *Memory) Consuming(topic, group string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.topics[topic][group]
	return ok
}
