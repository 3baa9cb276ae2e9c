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
