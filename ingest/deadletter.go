package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/firegrid/firegrid/bus"
)

// maxDeadLetterPayload bounds how much of a rejected payload is kept.
const maxDeadLetterPayload = 4096

// DeadLetter is a message ingest rejected, with the reason.
type DeadLetter struct {
	At     time.Time `json:"at"`
	Reason Reason    `json:"reason"`
	Detail string    `json:"detail"`
	Topic  string    `json:"topic"`
	Size   int       `json:"size"`
	// Payload is the message as text, cut to 4 KiB; Encoding is "base64"
	// when it was not valid UTF-8 (then Payload is base64 of the cut).
	Payload   string `json:"payload"`
	Encoding  string `json:"encoding,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

func newDeadLetter(at time.Time, topic string, payload []byte, rej *RejectError) DeadLetter {
	d := DeadLetter{At: at, Reason: rej.Reason, Detail: rej.Detail, Topic: topic, Size: len(payload)}
	cut := payload
	if len(cut) > maxDeadLetterPayload {
		cut, d.Truncated = cut[:maxDeadLetterPayload], true
	}
	if utf8.Valid(cut) {
		d.Payload = string(cut)
	} else {
		b, _ := json.Marshal(cut) // []byte marshals as base64
		d.Payload, d.Encoding = string(b[1:len(b)-1]), "base64"
	}
	return d
}

// DeadLetters is a bounded store of the newest dead letters, fed from the
// bus, that a person can list over the API.
type DeadLetters struct {
	mu    sync.Mutex
	ring  []DeadLetter
	next  int
	full  bool
	total uint64
}

// NewDeadLetters returns a store keeping the newest capacity letters.
func NewDeadLetters(capacity int) *DeadLetters {
	if capacity < 1 {
		capacity = 1
	}
	return &DeadLetters{ring: make([]DeadLetter, capacity)}
}

// Add stores d, dropping the oldest when full.
func (s *DeadLetters) Add(d DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = d
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
	s.total++
}

// List returns the stored letters, newest first, and how many were ever
// added.
func (s *DeadLetters) List() ([]DeadLetter, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	if s.full {
		n = len(s.ring)
	}
	out := make([]DeadLetter, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s.ring[(s.next-i+len(s.ring))%len(s.ring)])
	}
	return out, s.total
}

// Handle is the bus handler that feeds the store from the dead-letter topic.
func (s *DeadLetters) Handle(_ context.Context, r bus.Record) error {
	var d DeadLetter
	if err := json.Unmarshal(r.Value, &d); err != nil {
		return fmt.Errorf("%w: dead letter: %v", bus.ErrPoison, err)
	}
	s.Add(d)
	return nil
}
