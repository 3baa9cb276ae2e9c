package bus

import (
	"context"
	"testing"
	"time"
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
	go m.Consume(ctx, "a", "g", func(ctx context.Context, r Record) error {
		<-release
		handled <- "a"
		return m.Publish(ctx, Record{Topic: "b", Value: r.Value})
	})
	go m.Consume(ctx, "b", "g", func(ctx context.Context, r Record) error {
		handled <- "b"
		return nil
	})
	waitFor(t, func() bool { return m.Consuming("a", "g") && m.Consuming("b", "g") })
	if !m.Idle() {
		t.Fatal("a new bus is not idle")
	}
	if err := m.Publish(ctx, Record{Topic: "a", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if m.Idle() {
		t.Fatal("idle with a record waiting in a partition")
	}
	close(release)
	<-handled
	<-handled
	waitFor(t, m.Idle)
	if m.Consuming("a", "other") {
		t.Error("Consuming reports a group that does not exist")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
