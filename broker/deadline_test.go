package broker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlinesBoundTheWait: a message's context expires no sooner than
// its wait and at most a tenth of it later; messages of one tick share a
// context, and other waits have theirs.
func TestDeadlinesBoundTheWait(t *testing.T) {
	var d deadlines
	const wait = 300 * time.Millisecond
	start := time.Now()
	a, b := d.get(wait), d.get(wait)
	if a != b {
		t.Error("two messages of one tick got different contexts")
	}
	if other := d.get(time.Second); other == a {
		t.Error("another wait shares the context")
	}
	dl, ok := a.Deadline()
	if !ok || dl.Sub(start) < wait || dl.Sub(start) > wait+wait/10+10*time.Millisecond {
		t.Errorf("deadline %v after the start, want %v to %v", dl.Sub(start), wait, wait+wait/10)
	}
	if a.Err() != nil {
		t.Errorf("Err before the deadline: %v", a.Err())
	}
	select {
	case <-a.Done():
		if took := time.Since(start); took < wait {
			t.Errorf("done after %v, before the wait of %v", took, wait)
		}
	case <-time.After(5 * wait):
		t.Fatal("never done")
	}
	if !errors.Is(a.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline: %v, want DeadlineExceeded", a.Err())
	}
	if next := d.get(wait); next == a || next.Err() != nil {
		t.Errorf("a message after the deadline got the expired context")
	}
	// A wait below the grain is the grain.
	if dl, _ := d.get(time.Millisecond).Deadline(); time.Until(dl) < deadlineGrain-10*time.Millisecond {
		t.Errorf("a 1 ms wait expires in %v, want at least %v", time.Until(dl), deadlineGrain)
	}
}

// BenchmarkAcceptContext is the bound on one message's wait: a shared
// deadline, beside a timer context of its own (what it replaced).
func BenchmarkAcceptContext(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		var d deadlines
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				select {
				case <-d.get(10 * time.Second).Done():
					b.Fatal("expired")
				default:
				}
			}
		})
	})
	b.Run("with-timeout", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				select {
				case <-ctx.Done():
					b.Fatal("expired")
				default:
				}
				cancel()
			}
		})
	})
}
