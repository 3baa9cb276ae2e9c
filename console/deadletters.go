package console

import (
	"context"
	"sync"

	"github.com/firegrid/firegrid/contract"
)

// DeadLetters keeps the newest dead letters, fed from the dead-letter
// topic, for a person to list over the API. It is a view: the count of
// every rejection is in ingest's metrics.
type DeadLetters struct {
	mu    sync.Mutex
	ring  []contract.DeadLetter
	next  int
	full  bool
	total uint64
}

// NewDeadLetters returns a view keeping the newest capacity letters.
func NewDeadLetters(capacity int) *DeadLetters {
	if capacity < 1 {
		capacity = 1
	}
	return &DeadLetters{ring: make([]contract.DeadLetter, capacity)}
}

// HandleDeadLetter is the handler of the dead-letter topic.
func (s *DeadLetters) HandleDeadLetter(_ context.Context, d *contract.DeadLetter) error {
	s.Add(*d)
	return nil
}

// Add keeps d, dropping the oldest when full.
func (s *DeadLetters) Add(d contract.DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = d
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
	s.total++
}

// List returns the kept letters, newest first, and how many were ever
// added.
func (s *DeadLetters) List() ([]contract.DeadLetter, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	out := make([]contract.DeadLetter, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s.ring[(s.next-i+len(s.ring))%len(s.ring)])
	}
	return out, s.total
}
