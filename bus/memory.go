package bus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// MemoryConfig sizes the in-process bus.
type MemoryConfig struct {
	// Partitions per topic and group: records with one key go to one
	// partition and are handled in order; partitions run in parallel.
	Partitions int `yaml:"partitions"`
	// Capacity is the number of records a partition holds before Publish
	// blocks (the backpressure that reaches the device's acknowledgement).
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

// Memory is the in-process bus: values pass as they are, shared by every
// group (consumers treat them as read-only). Every declared group of a
// topic gets every record published after its declaration; a record
// published to a topic no group declared is dropped and counted (Dropped).
type Memory struct {
	cfg MemoryConfig
	log *slog.Logger

	mu     sync.RWMutex
	groups map[string]*memGroup   // by name
	topics map[string][]*memTopic // topic -> every group's queues of it
	closed chan struct{}
	// inFlight counts records enqueued for a group and not yet handled.
	inFlight atomic.Int64
	dropped  atomic.Int64
}

// memGroup is one declared group: a queue per topic and partition.
type memGroup struct {
	g       Group
	topics  []*memTopic
	running atomic.Bool
}

type memTopic struct {
	name  string
	parts []*memPart
}

// memPart is one partition's queue; head holds a record a stopped consumer
// took but had not finished, delivered first when the group consumes again.
type memPart struct {
	ch   chan contract.Record
	head *contract.Record
	// sent counts records put in the queue (from just before they go in),
	// handled those the consumer finished: in queue order, so once
	// handled reaches a value sent had, every record sent before is
	// handled.
	sent, handled atomic.Int64
}

// NewMemory returns an in-process bus.
func NewMemory(cfg MemoryConfig, log *slog.Logger) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memory bus: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Memory{cfg: cfg, log: log, groups: map[string]*memGroup{}, topics: map[string][]*memTopic{},
		closed: make(chan struct{})}, nil
}

// Declare creates the group's queues; declaring a group again with the
// same topics changes nothing.
func (m *Memory) Declare(g Group) error {
	_, err := m.declare(g)
	return err
}

func (m *Memory) declare(g Group) (*memGroup, error) {
	if g.Name == "" || len(g.Topics) == 0 {
		return nil, fmt.Errorf("memory bus: a group needs a name and topics, got %q %v", g.Name, g.Topics)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	if mg := m.groups[g.Name]; mg != nil {
		if fmt.Sprint(mg.g.Topics) != fmt.Sprint(g.Topics) {
			return nil, fmt.Errorf("memory bus: group %q consumes %v, not %v", g.Name, mg.g.Topics, g.Topics)
		}
		return mg, nil
	}
	mg := &memGroup{g: g}
	for _, t := range g.Topics {
		mt := &memTopic{name: t, parts: make([]*memPart, m.cfg.Partitions)}
		for i := range mt.parts {
			mt.parts[i] = &memPart{ch: make(chan contract.Record, m.cfg.Capacity)}
		}
		mg.topics = append(mg.topics, mt)
		m.topics[t] = append(m.topics[t], mt)
	}
	m.groups[g.Name] = mg
	return mg, nil
}

// Publish enqueues the records for every group of their topics, blocking
// while a partition is full.
func (m *Memory) Publish(ctx context.Context, recs ...contract.Record) error {
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		// The queues of a topic only grow, and a slice once read stays
		// valid: no lock is held while a full queue makes us wait.
		m.mu.RLock()
		queues := m.topics[r.Topic]
		m.mu.RUnlock()
		if len(queues) == 0 {
			m.dropped.Add(1)
			m.log.Debug("record for a topic no group consumes; dropped", "topic", r.Topic)
			continue
		}
		// Every group's queues of a topic have the configured partitions:
		// the key is hashed once for all of them.
		part := Partitioner(r.Key, m.cfg.Partitions)
		for _, mt := range queues {
			p := mt.parts[part]
			m.inFlight.Add(1)
			p.sent.Add(1)
			select {
			case p.ch <- r:
			case <-m.closed:
				m.inFlight.Add(-1)
				p.sent.Add(-1)
				return ErrClosed
			case <-ctx.Done():
				m.inFlight.Add(-1)
				p.sent.Add(-1)
				return ctx.Err()
			}
		}
	}
	return nil
}

// Consume runs the group's consumer until ctx is done: one goroutine per
// topic and partition, so an event never waits behind telemetry. One
// consumer per group may run at a time.
func (m *Memory) Consume(ctx context.Context, g Group, h Handler) error {
	if g.Checkpoint != nil {
		// Nothing is committed here: in serve, the journal of uplinks in
		// front of ingest checkpoints, and saves what it needs saved.
		return fmt.Errorf("memory bus: group %q: the memory bus commits nothing, so it takes no Checkpoint", g.Name)
	}
	mg, err := m.declare(g)
	if err != nil {
		return err
	}
	if !mg.running.CompareAndSwap(false, true) {
		return fmt.Errorf("memory bus: group %q is already consuming", g.Name)
	}
	defer mg.running.Store(false)
	if g.OnAssign != nil {
		all := make([]int, m.cfg.Partitions)
		for i := range all {
			all[i] = i
		}
		if err := g.OnAssign(ctx, all); err != nil {
			return fmt.Errorf("memory bus: group %q: assign: %w", g.Name, err)
		}
	}
	var wg sync.WaitGroup
	for _, mt := range mg.topics {
		for i, p := range mt.parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx := context.WithValue(ctx, partitionKey{}, i)
				m.consumePart(pctx, g.Name, p, h)
			}()
		}
	}
	wg.Wait()
	return nil
}

func (m *Memory) consumePart(ctx context.Context, group string, p *memPart, h Handler) {
	for {
		if p.head == nil {
			select {
			case <-ctx.Done():
				return
			case r := <-p.ch:
				p.head = &r
			}
		}
		if !deliver(ctx, m.log, group, h, *p.head) {
			return // stopped before the handler took it: delivered again
		}
		p.head = nil
		p.handled.Add(1)
		m.inFlight.Add(-1)
	}
}

// Close stops publishing: a publisher waiting on a full queue gets
// ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.closed:
	default:
		close(m.closed)
	}
	return nil
}

// Idle reports whether every record published so far has been handled:
// none waits in a partition and no handler is running. Since handlers
// publish what they cause before they return, an idle bus means the
// pipeline has finished reacting, which is what a virtual-time run waits
// for before it moves its clock on.
func (m *Memory) Idle() bool { return m.inFlight.Load() == 0 }

// Sync returns once every record published before the call has been
// handled by every group of its topic (or ctx is done): of the topics
// named, or of every topic when none is. What those handlers published in
// turn is covered by a second Sync.
func (m *Memory) Sync(ctx context.Context, topics ...string) error {
	m.mu.RLock()
	type mark struct {
		p    *memPart
		sent int64
	}
	var marks []mark
	for topic, queues := range m.topics {
		if len(topics) > 0 && !slices.Contains(topics, topic) {
			continue
		}
		for _, mt := range queues {
			for _, p := range mt.parts {
				if n := p.sent.Load(); p.handled.Load() < n {
					marks = append(marks, mark{p, n})
				}
			}
		}
	}
	m.mu.RUnlock()
	if len(marks) == 0 {
		return nil
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		for len(marks) > 0 && marks[0].p.handled.Load() >= marks[0].sent {
			marks = marks[1:]
		}
		if len(marks) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.closed:
			return ErrClosed
		case <-t.C:
		}
	}
}

// Dropped reports how many records were published to a topic no group
// consumes.
func (m *Memory) Dropped() int64 { return m.dropped.Load() }
