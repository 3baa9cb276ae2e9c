package alarm

import (
	"context"

	"github.com/firegrid/firegrid/contract"
)

// maxDeliveries bounds the deliveries kept on an incident.
const maxDeliveries = 100

// RecordDelivery sets a delivery's status on its incident (the entry with
// the same notifier, target, event and version is replaced) and pushes the
// change to consoles. Notifiers call it from their own goroutines; it never
// runs on the dispatch path.
func (m *Manager) RecordDelivery(ctx context.Context, id string, d contract.Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.tx(ctx, func(tx Tx) error {
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
		if err := tx.Save(cur); err != nil {
			return err
		}
		c := &contract.IncidentChange{Event: contract.EventDelivery, At: d.At, Incident: cur.Clone()}
		return tx.Emit(c.Record())
	})
	if err != nil {
		return err
	}
	m.m.deliveries.WithLabelValues(d.Notifier, d.Status).Inc()
	return nil
}
