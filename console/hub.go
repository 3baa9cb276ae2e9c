package console

import (
	"context"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// Hub fans incident changes out to console streams. It is fed from the
// incidents topic (HandleChange), in every mode: every console of every
// alarm instance sees every change, once, and a change older than one it
// has shown is dropped. A subscriber that falls behind is cut off rather
// than slowing anything; its console reconnects and reloads, so it never
// shows a stale queue as live.
type Hub struct {
	clock clock.Clock
	m     *metrics

	mu       sync.Mutex
	subs     map[chan contract.IncidentChange]struct{}
	versions map[string]versionSeen
}

type versionSeen struct {
	version int
	at      time.Time
}

// NewHub returns an empty hub; clk times the alarm latency it measures
// (nil: the real clock).
func NewHub(clk clock.Clock) *Hub {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Hub{clock: clk, m: newMetrics(nil), subs: map[chan contract.IncidentChange]struct{}{}, versions: map[string]versionSeen{}}
}

// HandleChange is the handler of the incidents topic: it passes a change
// on to every stream unless a newer version of the incident was passed
// already, and measures the alarm's latency from the device message.
func (h *Hub) HandleChange(_ context.Context, c *contract.IncidentChange) error {
	if c.Incident == nil {
		return nil
	}
	now := h.clock.Now()
	h.mu.Lock()
	seen, ok := h.versions[c.Incident.ID]
	if ok && seen.version >= c.Incident.Version {
		h.mu.Unlock()
		h.m.stale.Inc()
		return nil
	}
	h.versions[c.Incident.ID] = versionSeen{c.Incident.Version, now}
	if len(h.versions) > 100000 {
		// Forget incidents not changed for a day rather than grow.
		for id, v := range h.versions {
			if now.Sub(v.at) > 24*time.Hour {
				delete(h.versions, id)
			}
		}
	}
	h.mu.Unlock()
	h.Publish(*c)
	if !c.ReceivedAt.IsZero() {
		h.m.latency.WithLabelValues(c.Incident.Type).Observe(now.Sub(c.ReceivedAt).Seconds())
	}
	return nil
}

// Subscribe returns a channel of changes, closed when the subscriber is cut
// off or cancels, and a cancel function.
func (h *Hub) Subscribe(buffer int) (<-chan contract.IncidentChange, func()) {
	ch := make(chan contract.IncidentChange, buffer)
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
func (h *Hub) Publish(c contract.IncidentChange) {
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
