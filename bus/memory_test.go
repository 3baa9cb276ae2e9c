package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newBus(t *testing.T, cfg MemoryConfig) *Memory {
	t.Helper()
	b, err := NewMemory(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// consume runs a consumer until the test ends.
func consume(t *testing.T, b *Memory, topic, group string, h Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Consume(ctx, topic, group, h) }()
	t.Cleanup(func() { cancel(); <-done })
	// Consume registers its group before it blocks; wait for it.
	for {
		b.mu.RLock()
		_, ok := b.topics[topic][group]
		b.mu.RUnlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMemoryOrderPerKeyAndEveryGroup(t *testing.T) {
	b := newBus(t, MemoryConfig{Partitions: 4, Capacity: 16})
	var mu sync.Mutex
	got := map[string]map[string][]string{} // group -> key -> values
	var n atomic.Int64
	for _, g := range []string{"rules", "sink"} {
		got[g] = map[string][]string{}
		consume(t, b, "telemetry", g, func(_ context.Context, r Record) error {
			mu.Lock()
			got[g][string(r.Key)] = append(got[g][string(r.Key)], string(r.Value))
			mu.Unlock()
			n.Add(1)
			return nil
		})
	}
	const sites, per = 10, 50
	for i := range per {
		for s := range sites {
			if err := b.Publish(context.Background(), Record{Topic: "telemetry", Key: fmt.Appendf(nil, "H-%d", s), Value: fmt.Appendf(nil, "%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 2*sites*per && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for g, keys := range got {
		for k, vals := range keys {
			if len(vals) != per {
				t.Fatalf("%s %s: %d records, want %d", g, k, len(vals), per)
			}
			for i, v := range vals {
				if v != fmt.Sprint(i) {
					t.Fatalf("%s %s: record %d is %s: out of order", g, k, i, v)
				}
			}
		}
	}
}

func TestMemoryRetriesUntilTakenAndDropsPoison(t *testing.T) {
	b := newBus(t, MemoryConfig{Partitions: 1, Capacity: 4})
	var calls atomic.Int64
	var delivered sync.Map
	consume(t, b, "signals", "alarm", func(_ context.Context, r Record) error {
		c := calls.Add(1)
		switch string(r.Value) {
		case "flaky":
			if c < 3 {
				return errors.New("store busy")
			}
		case "poison":
			return fmt.Errorf("%w: undecodable", ErrPoison)
		}
		delivered.Store(string(r.Value), true)
		return nil
	})
	for _, v := range []string{"flaky", "poison", "after"} {
		if err := b.Publish(context.Background(), Record{Topic: "signals", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := delivered.Load("after"); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, ok := delivered.Load("flaky"); !ok {
		t.Error("a record whose handler failed twice was not delivered again")
	}
	if _, ok := delivered.Load("after"); !ok {
		t.Error("a poison record blocked the records after it")
	}
	if c := calls.Load(); c != 5 {
		t.Errorf("handler called %d times, want 5 (3 flaky, 1 poison, 1 after)", c)
	}
}

// TestMemoryBackpressure: a full partition makes Publish wait, and the
// caller's context frees it; a stopped consumer frees it too.
func TestMemoryBackpressure(t *testing.T) {
	b := newBus(t, MemoryConfig{Partitions: 1, Capacity: 1})
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Consume(ctx, "telemetry", "rules", func(context.Context, Record) error { <-release; return nil })
	}()
	for {
		b.mu.RLock()
		_, ok := b.topics["telemetry"]["rules"]
		b.mu.RUnlock()
		if ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	rec := Record{Topic: "telemetry", Value: []byte("x")}
	// One in the handler, one in the queue; the third must wait.
	for range 2 {
		if err := b.Publish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer pcancel()
	if err := b.Publish(pctx, rec); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish to a full partition: %v, want it to wait until the deadline", err)
	}
	close(release)
	cancel()
	<-done
	if err := b.Publish(context.Background(), rec); err != nil {
		t.Fatalf("publish with no consumer: %v", err)
	}
}

func TestMemoryOneConsumerPerGroup(t *testing.T) {
	b := newBus(t, DefaultMemoryConfig())
	consume(t, b, "signals", "alarm", func(context.Context, Record) error { return nil })
	if err := b.Consume(context.Background(), "signals", "alarm", nil); err == nil {
		t.Fatal("a second consumer of one group was accepted")
	}
	b.Close()
	if err := b.Publish(context.Background(), Record{Topic: "signals"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestMemoryConfigValidate(t *testing.T) {
	for _, c := range []MemoryConfig{{Partitions: 0, Capacity: 1}, {Partitions: 1, Capacity: 0}, {Partitions: 1000, Capacity: 1}} {
		if _, err := NewMemory(c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkMemoryPublishConsume(b *testing.B) {
	m, _ := NewMemory(DefaultMemoryConfig(), nil)
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Consume(ctx, "telemetry", "rules", func(context.Context, Record) error { n.Add(1); return nil })
	for {
		m.mu.RLock()
		_, ok := m.topics["telemetry"]["rules"]
		m.mu.RUnlock()
		if ok {
			break
		}
	}
	rec := Record{Topic: "telemetry", Key: []byte("H-0001"), Value: make([]byte, 200)}
	b.ReportAllocs()
	for b.Loop() {
		m.Publish(ctx, rec)
	}
}

// TestMemoryUrgentOvertakesBacklog: with a backlog of bulk records waiting
// in a partition, an urgent record is handled next.
func TestMemoryUrgentOvertakesBacklog(t *testing.T) {
	b := newBus(t, MemoryConfig{Partitions: 1, Capacity: 100})
	gate := make(chan struct{})
	var mu sync.Mutex
	var order []string
	consume(t, b, "telemetry", "rules", func(_ context.Context, r Record) error {
		<-gate
		mu.Lock()
		order = append(order, string(r.Value))
		mu.Unlock()
		return nil
	})
	ctx := context.Background()
	for i := range 50 {
		b.Publish(ctx, Record{Topic: "telemetry", Key: []byte("H-1"), Value: fmt.Appendf(nil, "hb%d", i)})
	}
	b.Publish(ctx, Record{Topic: "telemetry", Key: []byte("H-2"), Value: []byte("alarm"), Urgent: true})
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for !b.Idle() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	// hb0 was already in the handler when the alarm arrived.
	if len(order) != 51 || order[1] != "alarm" {
		t.Fatalf("handled %d, second was %q; want the alarm right after the record in hand", len(order), order[1])
	}
}
