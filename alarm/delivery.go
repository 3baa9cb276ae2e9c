package alarm

import (
	"context"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryRetrying  = "retrying"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// EventDelivery is the stream event of a delivery status change.
const EventDelivery = "delivery"

// Delivery is the status of one notification about an incident, kept on
// the incident so that a crew sees who was told and what failed.
type Delivery struct {
	Notifier string `json:"notifier"`
	// Target is the receiving system or person (a webhook's host, a phone).
	Target string `json:"target,omitempty"`
	// Event and Version say which change of the incident was notified.
	Event    string    `json:"event"`
	Version  int       `json:"version"`
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// maxDeliveries bounds the deliveries kept on an incident.
const maxDeliveries = 100

// RecordDelivery sets a delivery's status on its incident (the entry with
// the same notifier, target, event and version is replaced) and pushes the
// change to consoles. Notifiers call it from their own goroutines; it never
// runs on the dispatch path.
func (m *Manager) RecordDelivery(ctx context.Context, id string, d Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var in *Incident
	err := m.retry(ctx, func(tx Tx) error {
		cur, err := tx.Lock(id)
		if err != nil {
			return err
		}
		i := -1
		for j, x := range cur.Deliveries {
			if x.Notifier == d.Notifier && x.Target == d.Target && x.Event == d.Event && x.Version == d.Version {
				i = j
			}
		}
		if i >= 0 {
			cur.Deliveries[i] = d
		} else {
			cur.Deliveries = append(cur.Deliveries, d)
			if n := len(cur.Deliveries); n > maxDeliveries {
				cur.Deliveries = cur.Deliveries[n-maxDeliveries:]
			}
		}
		cur.Version++
		in = cur
		return tx.Save(cur)
	})
	if err != nil {
		return err
	}
	m.m.deliveries.WithLabelValues(d.Notifier, d.Status).Inc()
	m.publish(ctx, EventDelivery, d.At, in)
	return nil
}
