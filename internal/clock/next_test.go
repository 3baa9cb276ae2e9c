package clock

import (
	"testing"
	"time"
)

func TestFakeNext(t *testing.T) {
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f := NewFake(start)
	if _, ok := f.Next(); ok {
		t.Fatal("Next reports a timer on a clock without any")
	}
	f.After(3 * time.Second)
	f.After(time.Second)
	f.After(2 * time.Second)
	if next, ok := f.Next(); !ok || !next.Equal(start.Add(time.Second)) {
		t.Fatalf("Next = %v, %v; want %v", next, ok, start.Add(time.Second))
	}
	f.Advance(time.Second)
	if next, _ := f.Next(); !next.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("after the first fired, Next = %v; want %v", next, start.Add(2*time.Second))
	}
}
