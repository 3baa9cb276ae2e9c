package alarm

import "sync"

// Hub fans incident changes out to console streams. A subscriber that falls
// behind is cut off rather than slowing the alarm path; its console
// reconnects and reloads, so it never shows a stale queue as live.
type Hub struct {
	mu   sync.Mutex
	subs map[chan Change]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Change]struct{}{}} }

// Subscribe returns a channel of changes, closed when the subscriber is cut
// off or cancels, and a cancel function.
func (h *Hub) Subscribe(buffer int) (<-chan Change, func()) {
	ch := make(chan Change, buffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Publish hands c to every subscriber without blocking.
func (h *Hub) Publish(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- c:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Subscribers reports how many streams are connected.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
