package console

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Recent keeps each device's last readings in memory, for the incident
// view (the detector's recent values, the nearest hydrants' pressure). Each
// alarm instance fills it from the telemetry and events topics in a
// consumer group of its own; after a restart it fills again as devices
// report. It is a view, not a record: the time-series store holds the
// history.
type Recent struct {
	n  int
	mu sync.RWMutex
	by map[string][]RecentReading
}

// RecentReading is one reading as the console shows it.
type RecentReading struct {
	At     time.Time          `json:"at"`
	Event  string             `json:"event,omitempty"`
	Values map[string]float64 `json:"values,omitempty"`
	Ports  []contract.Port    `json:"ports,omitempty"`
}

// NewRecent keeps n readings per device.
func NewRecent(n int) *Recent {
	if n <= 0 {
		n = 10
	}
	return &Recent{n: n, by: map[string][]RecentReading{}}
}

// HandleReading is the handler of the telemetry and events topics: the
// same decoded reading the rule engine evaluates.
func (r *Recent) HandleReading(_ context.Context, rd *contract.Reading) error {
	r.Add(rd)
	return nil
}

// Add keeps one reading, in the device's time order: events and
// telemetry travel on different topics and may arrive out of order.
func (r *Recent) Add(rd *contract.Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.by[rd.Device]
	at := len(l)
	for at > 0 && l[at-1].At.After(rd.TS) {
		at--
	}
	l = slices.Insert(l, at, RecentReading{At: rd.TS, Event: rd.Event, Values: rd.Values, Ports: rd.Ports})
	if len(l) > r.n {
		l = l[len(l)-r.n:]
	}
	r.by[rd.Device] = l
}

// Of returns a device's readings, newest last.
func (r *Recent) Of(device string) []RecentReading {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]RecentReading(nil), r.by[device]...)
}

// latest returns the newest reading of a device that has the value.
func (r *Recent) latest(device, value string) (RecentReading, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l := r.by[device]
	for i := len(l) - 1; i >= 0; i-- {
		if _, ok := l[i].Values[value]; ok {
			return l[i], true
		}
	}
	return RecentReading{}, false
}
