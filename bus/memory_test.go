package bus

import (
	"context"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// TestMemoryIdle: the bus is idle only once every record a handler caused
// downstream has been handled too.
func TestMemoryIdle(t *testing.T) {
	m, err := NewMemory(MemoryConfig{Partitions: 2, Capacity: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	handled := make(chan string, 4)
	a := Group{Name: "a", Topics: []string{contract.TopicSignals}}
	b := Group{Name: "b", Topics: []string{contract.TopicIncidents}}
	for _, g := range []Group{a, b} {
		if err := m.Declare(g); err != nil {
			t.Fatal(err)
		}
	}
	go m.Consume(ctx, a, func(ctx context.Context, r contract.Record) error {
		<-release
		handled <- "a"
		c := &contract.IncidentChange{Incident: &contract.Incident{ID: "INC-1"}}
		return m.Publish(ctx, c.Record())
	})
	go m.Consume(ctx, b, func(ctx context.Context, r contract.Record) error {
		handled <- "b"
		return nil
	})
	if !m.Idle() {
		t.Fatal("a new bus is not idle")
	}
	if err := m.Publish(ctx, (&contract.Signal{ID: "s", Site: "H-1"}).Record()); err != nil {
		t.Fatal(err)
	}
	if m.Idle() {
		t.Fatal("idle with a record waiting in a partition")
	}
	close(release)
	<-handled
	<-handled
	deadline := time.Now().Add(5 * time.Second)
	for !m.Idle() {
		if time.Now().After(deadline) {
			t.Fatal("not idle 5s after the last handler returned")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMemoryUndeclaredTopicIsCounted: a record nobody consumes is dropped
// and counted, never blocks.
func TestMemoryUndeclaredTopicIsCounted(t *testing.T) {
	m, _ := NewMemory(DefaultMemoryConfig(), nil)
	if err := m.Publish(context.Background(), (&contract.Signal{Site: "H-1"}).Record()); err != nil {
		t.Fatal(err)
	}
	if m.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", m.Dropped())
	}
}

// TestMemoryFullQueueHoldsPublisherBack: a partition at capacity makes
// Publish wait (the backpressure a device's acknowledgement feels), and a
// closed bus releases it.
func TestMemoryFullQueueHoldsPublisherBack(t *testing.T) {
	m, _ := NewMemory(MemoryConfig{Partitions: 1, Capacity: 2}, nil)
	if err := m.Declare(Group{Name: "slow", Topics: []string{contract.TopicSignals}}); err != nil {
		t.Fatal(err)
	}
	rec := (&contract.Signal{Site: "H-1"}).Record()
	for range 2 {
		if err := m.Publish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- m.Publish(context.Background(), rec) }()
	select {
	case err := <-done:
		t.Fatalf("a full partition took a third record: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	m.Close()
	if err := <-done; err != ErrClosed {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// TestMemorySync: Sync returns only once every record published before it
// was handled by every group, and does not wait for records published
// after it began.
func TestMemorySync(t *testing.T) {
	m, err := NewMemory(MemoryConfig{Partitions: 2, Capacity: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gate := make(chan struct{})
	fast := Group{Name: "fast", Topics: []string{contract.TopicSignals}}
	slow := Group{Name: "slow", Topics: []string{contract.TopicSignals}}
	for _, g := range []Group{fast, slow} {
		if err := m.Declare(g); err != nil {
			t.Fatal(err)
		}
	}
	go m.Consume(ctx, fast, func(context.Context, contract.Record) error { return nil })
	go m.Consume(ctx, slow, func(ctx context.Context, r contract.Record) error {
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return nil
	})
	for i := range 10 {
		if err := m.Publish(ctx, (&contract.Signal{ID: "s", Site: "H-" + string(rune('a'+i))}).Record()); err != nil {
			t.Fatal(err)
		}
	}
	synced := make(chan error, 1)
	go func() { synced <- m.Sync(ctx) }()
	select {
	case err := <-synced:
		t.Fatalf("Sync returned (%v) while a group had not handled what was published", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if !m.Idle() {
		t.Fatal("Sync returned with records not handled")
	}
	// A Sync with nothing pending returns at once; one whose context ends
	// says so.
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stuck := Group{Name: "stuck", Topics: []string{contract.TopicIncidents}}
	if err := m.Declare(stuck); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(ctx, (&contract.IncidentChange{Incident: &contract.Incident{ID: "INC-1"}}).Record()); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	if err := m.Sync(short); err == nil {
		t.Fatal("Sync returned nil with a group that consumes nothing")
	}
	// A Sync of other topics does not wait for it.
	other, stop2 := context.WithTimeout(ctx, time.Second)
	defer stop2()
	if err := m.Sync(other, contract.TopicSignals); err != nil {
		t.Fatalf("Sync of the signals waited for the incidents: %v", err)
	}
}

// TestMemoryRefusesCheckpoint: the memory bus commits nothing, so a group
// that wants a checkpoint before a commit is told so.
func TestMemoryRefusesCheckpoint(t *testing.T) {
	m, err := NewMemory(DefaultMemoryConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := Group{Name: "rules", Topics: []string{contract.TopicTelemetry}, Checkpoint: func(context.Context) error { return nil }}
	if err := m.Consume(context.Background(), g, func(context.Context, contract.Record) error { return nil }); err == nil {
		t.Fatal("the memory bus took a group with a Checkpoint")
	}
}
