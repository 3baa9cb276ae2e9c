package alarm

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
)

// Recent keeps each device's last readings in memory, for the incident
// view (the detector's recent values, the nearest hydrants' pressure). The
// alarm role fills it from the telemetry topic with a consumer group of
// its own; after a restart it fills again as devices report. It is a view,
// not a record: the time-series store holds the history.
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
	Ports  []devices.Port     `json:"ports,omitempty"`
}

// NewRecent keeps n readings per device.
func NewRecent(n int) *Recent {
	if n <= 0 {
		n = 10
	}
	return &Recent{n: n, by: map[string][]RecentReading{}}
}

// Handle is the bus handler for the telemetry topic.
func (r *Recent) Handle(_ context.Context, rec bus.Record) error {
	var rd devices.Reading
	if err := json.Unmarshal(rec.Value, &rd); err != nil {
		return fmt.Errorf("%w: reading: %v", bus.ErrPoison, err)
	}
	r.Add(rd)
	return nil
}

// Add keeps one reading.
func (r *Recent) Add(rd devices.Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := append(r.by[rd.Device], RecentReading{At: rd.TS, Event: rd.Event, Values: rd.Values, Ports: rd.Ports})
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
