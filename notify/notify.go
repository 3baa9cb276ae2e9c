// Package notify tells people and systems outside the console about
// incidents: webhooks (JSON or CAP 1.2 XML, signed with HMAC-SHA256) for
// provincial and third-party alerting systems, and messages to the
// guardian of a resident in care and the zone's grid worker through an SMS
// gateway's webhook. It also sends the status of hazards to other
// platforms (format hazard): a 12345 work order's progress back to the
// hotline, every hazard to the city operations platform.
//
// It consumes the incidents (and hazards) topic with its own consumer
// group, so the alarm path never waits on it. Handle keeps the notifications a change
// asks for in the store (an outbox) and returns only once they are kept,
// so the bus commits past a change only when its notifications are safe;
// workers deliver them, retry with backoff across restarts, and record
// each delivery's status on its incident. A notification given up is
// counted and listed, never dropped in silence.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// Notification is one message about an incident change, or a hazard
// change, for one target.
type Notification struct {
	Event    string             `json:"event"`
	At       time.Time          `json:"at"`
	Incident *contract.Incident `json:"incident,omitempty"`
	// Hazard is set instead of Incident for a hazard change.
	Hazard *contract.Hazard `json:"hazard,omitempty"`
	// Recipient is set for messages to a person (guardian, grid worker).
	Recipient *Recipient `json:"recipient,omitempty"`
}

// Recipient is a person told through a gateway.
type Recipient struct {
	Role  string `json:"role"` // guardian or grid_worker
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone"`
}

// Notifier delivers notifications. retry says whether a failure may pass
// on a later attempt (a timeout, a 5xx) or never will (a 4xx).
type Notifier interface {
	Notify(ctx context.Context, n Notification) (retry bool, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) (bool, error)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) (bool, error) { return f(ctx, n) }

// Recorder keeps delivery status on the incident (the alarm stage), or on
// the hazard (the hazard register).
type Recorder interface {
	RecordDelivery(ctx context.Context, incident string, d contract.Delivery) error
}

// Route is a notifier with what it is told about.
type Route struct {
	Name     string
	Notifier Notifier
	// Target names the receiving system in delivery records.
	Target string
	// Events and Types select changes; empty means every event and type.
	Events []string
	Types  []string
	// Recipients, when set, sends one message per person of these roles
	// (guardian, grid_worker) instead of one per change.
	Recipients []string
	Retry      Retry
	// Hazards makes the route one of hazard changes instead of incident
	// changes; Sources, when set, keeps the hazards of these sources
	// (12345: the hotline's own orders).
	Hazards bool
	Sources []string
}

// Retry is a backoff policy.
type Retry struct {
	Attempts   int           `yaml:"attempts"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Outbox keeps notifications until they are delivered or given up (the
// store).
type Outbox interface {
	KeepNotifications(ctx context.Context, ns []contract.Notification) error
	ClaimNotifications(ctx context.Context, instance, owner string, now time.Time, lease time.Duration, limit int) ([]contract.Notification, error)
	SettleNotification(ctx context.Context, n *contract.Notification, owner string) (bool, error)
	NotificationCounts(ctx context.Context) (map[string]int, error)
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
}

// Options are a Dispatcher's routes and collaborators.
type Options struct {
	Routes []Route
	Outbox Outbox
	// Recorder, when set, keeps each delivery's status on its incident;
	// HazardRecorder on its hazard.
	Recorder       Recorder
	HazardRecorder Recorder
	Clock          clock.Clock
	Log            *slog.Logger
	// Instance names this process among the alarm instances: a process
	// that starts under the name of one that is gone takes over its
	// notifications at once.
	Instance string
	// Workers deliver in parallel (default 4); Poll is how often they look
	// for notifications due (default 1s): a new one wakes them at once.
	Workers int
	Poll    time.Duration
	// Keep is how long delivered and given-up notifications are listed
	// before they are removed (default 30 days).
	Keep       time.Duration
	Registerer prometheus.Registerer
}

// Dispatcher fans incident changes out to routes through the outbox.
type Dispatcher struct {
	o      Options
	routes map[string]*Route
	owner  string
	wake   chan struct{}
	m      *metrics
}

// lease is how long a worker holds a notification it tries: longer than
// any attempt (an attempt is cut at 30s).
const lease = 2 * time.Minute

// NewDispatcher returns a dispatcher of the routes through the outbox.
func NewDispatcher(o Options) (*Dispatcher, error) {
	if o.Outbox == nil {
		return nil, errors.New("notify: an outbox is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Keep <= 0 {
		o.Keep = 30 * 24 * time.Hour
	}
	if o.Instance == "" {
		o.Instance = "firegrid"
	}
	boot := make([]byte, 6)
	rand.Read(boot)
	d := &Dispatcher{o: o, routes: map[string]*Route{}, owner: o.Instance + "/" + hex.EncodeToString(boot),
		wake: make(chan struct{}, o.Workers), m: newMetrics(o.Registerer)}
	for i := range o.Routes {
		rt := &o.Routes[i]
		if _, dup := d.routes[rt.Name]; dup {
			return nil, fmt.Errorf("notify: two notifiers named %q", rt.Name)
		}
		d.routes[rt.Name] = rt
	}
	return d, nil
}

// Handle is the handler of the incidents topic: it keeps the notifications
// the change asks for and returns once they are kept (an error leaves the
// change on the bus, to be handled again).
func (d *Dispatcher) Handle(ctx context.Context, c *contract.IncidentChange) error {
	ns, err := d.notifications(c)
	if err != nil {
		return err
	}
	return d.keep(ctx, ns)
}

// HandleHazard is the handler of the hazards topic: it keeps the
// notifications a hazard change asks for - one per hazard route whose
// events, sources and categories select it - and returns once they are
// kept.
func (d *Dispatcher) HandleHazard(ctx context.Context, c *contract.HazardChange) error {
	if c.Hazard == nil {
		return nil
	}
	now := d.o.Clock.Now()
	var ns []contract.Notification
	for i := range d.o.Routes {
		rt := &d.o.Routes[i]
		if !rt.Hazards || (len(rt.Events) > 0 && !slices.Contains(rt.Events, c.Event)) ||
			(len(rt.Sources) > 0 && !slices.Contains(rt.Sources, c.Hazard.Source)) || (len(rt.Types) > 0 && !slices.Contains(rt.Types, c.Hazard.Category)) {
			continue
		}
		body, err := json.Marshal(Notification{Event: c.Event, At: c.At, Hazard: c.Hazard})
		if err != nil {
			return fmt.Errorf("notify: encode: %w", err)
		}
		ns = append(ns, contract.Notification{Key: fmt.Sprintf("%s/%d/%s/%s", c.Hazard.ID, c.Hazard.Version, c.Event, rt.Name),
			Notifier: rt.Name, Target: rt.Target, Subject: c.Hazard.ID, Event: c.Event, Version: c.Hazard.Version, Body: body,
			Status: contract.NotificationPending, NextAt: now, CreatedAt: now})
	}
	return d.keep(ctx, ns)
}

// keep stores notifications and wakes the workers.
func (d *Dispatcher) keep(ctx context.Context, ns []contract.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	if err := d.o.Outbox.KeepNotifications(ctx, ns); err != nil {
		return err
	}
	for range d.o.Workers {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// notifications are what a change asks for: one per selected route, or
// one per person of its recipients.
func (d *Dispatcher) notifications(c *contract.IncidentChange) ([]contract.Notification, error) {
	if c.Incident == nil {
		return nil, nil
	}
	now := d.o.Clock.Now()
	var out []contract.Notification
	for i := range d.o.Routes {
		rt := &d.o.Routes[i]
		if rt.Hazards || (len(rt.Events) > 0 && !slices.Contains(rt.Events, c.Event)) || (len(rt.Types) > 0 && !slices.Contains(rt.Types, c.Incident.Type)) {
			continue
		}
		n := Notification{Event: c.Event, At: c.At, Incident: c.Incident}
		add := func(n Notification, target, key string) error {
			body, err := json.Marshal(n)
			if err != nil {
				return fmt.Errorf("notify: encode: %w", err)
			}
			out = append(out, contract.Notification{Key: key, Notifier: rt.Name, Target: target, Subject: c.Incident.ID,
				Event: c.Event, Version: c.Incident.Version, Body: body, Status: contract.NotificationPending, NextAt: now, CreatedAt: now})
			return nil
		}
		key := fmt.Sprintf("%s/%d/%s/%s", c.Incident.ID, c.Incident.Version, c.Event, rt.Name)
		if len(rt.Recipients) == 0 {
			if err := add(n, rt.Target, key); err != nil {
				return nil, err
			}
			continue
		}
		for _, who := range recipients(c.Incident, rt.Recipients) {
			n.Recipient = &who
			if err := add(n, who.Role+" "+who.Phone, key+"/"+who.Role+"/"+who.Phone); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// recipients are the people of the wanted roles an incident names: the
// guardian only of a resident in care, the zone's grid worker.
func recipients(in *contract.Incident, roles []string) []Recipient {
	var out []Recipient
	for _, r := range roles {
		switch r {
		case "guardian":
			if in.Resident.Any() && in.Guardian.Phone != "" {
				out = append(out, Recipient{Role: r, Name: in.Guardian.Name, Phone: in.Guardian.Phone})
			}
		case "grid_worker":
			if in.GridWorker.Phone != "" {
				out = append(out, Recipient{Role: r, Name: in.GridWorker.Name, Phone: in.GridWorker.Phone})
			}
		}
	}
	return out
}

// Run delivers what the outbox holds until ctx is done: the workers take
// the notifications that are due, one at a time, oldest first.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range d.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.tend(ctx)
	}()
	wg.Wait()
	return nil
}

func (d *Dispatcher) work(ctx context.Context) {
	for ctx.Err() == nil {
		ns, err := d.o.Outbox.ClaimNotifications(ctx, d.o.Instance, d.owner, d.o.Clock.Now(), lease, 1)
		if err != nil && ctx.Err() == nil {
			d.o.Log.Warn("notifications not read; retrying", "err", err)
		}
		if len(ns) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
			case <-d.o.Clock.After(d.o.Poll):
			}
			continue
		}
		d.deliver(ctx, &ns[0])
	}
}

// tend keeps the pending gauge and removes old notifications.
func (d *Dispatcher) tend(ctx context.Context) {
	pruned := time.Time{}
	for {
		if counts, err := d.o.Outbox.NotificationCounts(ctx); err == nil {
			d.m.pending.Set(float64(counts[contract.NotificationPending]))
		}
		if now := d.o.Clock.Now(); now.Sub(pruned) > time.Hour {
			if _, err := d.o.Outbox.PruneNotifications(ctx, now.Add(-d.o.Keep)); err == nil {
				pruned = now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// deliver makes one attempt at a notification and settles it: delivered,
// due again after a backoff, or given up.
func (d *Dispatcher) deliver(ctx context.Context, n *contract.Notification) {
	now := d.o.Clock.Now()
	n.Attempts++
	n.UpdatedAt = now
	rt := d.routes[n.Notifier]
	var msg Notification
	var err error
	retry := false
	switch {
	case rt == nil:
		err = fmt.Errorf("notifier %q is no longer configured", n.Notifier)
	case json.Unmarshal(n.Body, &msg) != nil || (msg.Incident == nil && msg.Hazard == nil):
		err = errors.New("kept by a firegrid that wrote it differently; cannot be read")
	default:
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		retry, err = rt.Notifier.Notify(actx, msg)
		cancel()
		if ctx.Err() != nil {
			// Stopping: the attempt does not count; the lease runs out,
			// or the next process of this instance takes it at once.
			return
		}
	}
	rec := contract.Delivery{Notifier: n.Notifier, Target: n.Target, Event: n.Event, Version: n.Version, Attempts: n.Attempts, At: d.o.Clock.Now()}
	switch {
	case err == nil:
		n.Status, n.Error = contract.NotificationDelivered, ""
		rec.Status = contract.DeliveryDelivered
	case retry && n.Attempts < max(rt.Retry.Attempts, 1):
		backoff := rt.Retry.after(n.Attempts)
		n.Status, n.Error, n.NextAt = contract.NotificationPending, err.Error(), now.Add(backoff)
		rec.Status, rec.Error = contract.DeliveryRetrying, err.Error()
		go func() {
			select {
			case <-ctx.Done():
			case <-d.o.Clock.After(backoff):
				select {
				case d.wake <- struct{}{}:
				default:
				}
			}
		}()
	default:
		n.Status, n.Error = contract.NotificationFailed, err.Error()
		rec.Status, rec.Error = contract.DeliveryFailed, err.Error()
		d.m.givenUp.WithLabelValues(n.Notifier).Inc()
		d.o.Log.Error("notification given up", "notifier", n.Notifier, "about", n.Subject, "event", n.Event, "attempts", n.Attempts, "err", err)
	}
	sctx := context.WithoutCancel(ctx)
	if ok, err := d.o.Outbox.SettleNotification(sctx, n, d.owner); err != nil {
		d.o.Log.Warn("notification outcome not kept; it will be tried again", "about", n.Subject, "err", err)
	} else if !ok {
		d.o.Log.Warn("notification taken over by another instance meanwhile", "about", n.Subject, "notifier", n.Notifier)
	}
	to := d.o.Recorder
	if msg.Hazard != nil {
		to = d.o.HazardRecorder
	}
	if to != nil {
		if err := to.RecordDelivery(sctx, n.Subject, rec); err != nil {
			d.o.Log.Warn("delivery status not recorded", "about", n.Subject, "err", err)
		}
	}
}

// after is the wait before the attempt after the given one: the backoff,
// doubled each attempt, up to MaxBackoff.
func (r Retry) after(attempt int) time.Duration {
	b := r.Backoff
	for i := 1; i < attempt; i++ {
		b *= 2
		if r.MaxBackoff > 0 && b >= r.MaxBackoff {
			return r.MaxBackoff
		}
	}
	return b
}

// metrics are the outbox's; each attempt's outcome is counted where it is
// recorded on the incident (firegrid_notifications_total).
type metrics struct {
	pending prometheus.Gauge
	givenUp *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_notifications_pending",
			Help: "Notifications kept and not yet delivered or given up.",
		}),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_notifications_given_up_total",
			Help: "Notifications given up after their last attempt (or refused for good), by notifier; each is listed at /api/v1/notifications?status=failed.",
		}, []string{"notifier"}),
	}
	if reg != nil {
		reg.MustRegister(m.pending, m.givenUp)
	}
	return m
}
