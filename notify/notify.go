// Package notify tells people and systems outside the console about
// incidents: webhooks (JSON or CAP 1.2 XML, signed with HMAC-SHA256) for
// provincial and third-party alerting systems, and messages to the
// guardian of a resident in care and the zone's grid worker through an SMS
// gateway's webhook. It also sends the status of hazards to other
// platforms (format hazard): a 12345 work order's progress back to the
// hotline, every hazard to the city operations platform.
//
// It consumes the incidents topic with its own consumer group, so the
// alarm path never waits on it: Handle only queues; workers deliver, retry
// with backoff, and record each delivery's status on its incident.
// Notification must never delay dispatch.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
)

// Notification is one message about an incident change, or a hazard
// change, for one target.
type Notification struct {
	Event    string
	At       time.Time
	Incident *contract.Incident
	// Hazard is set instead of Incident for a hazard change.
	Hazard *contract.Hazard
	// Recipient is set for messages to a person (guardian, grid worker).
	Recipient *Recipient
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

// Dispatcher fans incident changes out to routes.
type Dispatcher struct {
	routes []Route
	rec    Recorder
	// hazards keeps the delivery status of hazard changes.
	hazards Recorder
	clock   clock.Clock
	log     *slog.Logger
	queue   chan job
	// Dropped counts notifications not queued because the queue was full.
	mu      sync.Mutex
	dropped int
}

type job struct {
	route *Route
	n     Notification
}

// NewDispatcher returns a dispatcher with a queue of the given depth.
func NewDispatcher(routes []Route, rec Recorder, clk clock.Clock, log *slog.Logger, depth int) *Dispatcher {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if depth <= 0 {
		depth = 1024
	}
	return &Dispatcher{routes: routes, rec: rec, clock: clk, log: log, queue: make(chan job, depth)}
}

// Handle is the handler of the incidents topic. It only queues, so it
// never holds up the alarm stage that published the change.
func (d *Dispatcher) Handle(_ context.Context, c *contract.IncidentChange) error {
	d.Enqueue(*c)
	return nil
}

// Enqueue queues the notifications a change asks for.
func (d *Dispatcher) Enqueue(c contract.IncidentChange) {
	if c.Incident == nil {
		return
	}
	for i := range d.routes {
		rt := &d.routes[i]
		if rt.Hazards {
			continue
		}
		if (len(rt.Events) > 0 && !slices.Contains(rt.Events, c.Event)) || (len(rt.Types) > 0 && !slices.Contains(rt.Types, c.Incident.Type)) {
			continue
		}
		n := Notification{Event: c.Event, At: c.At, Incident: c.Incident}
		if len(rt.Recipients) == 0 {
			d.push(job{rt, n})
			continue
		}
		for _, who := range recipients(c.Incident, rt.Recipients) {
			n.Recipient = &who
			d.push(job{rt, n})
		}
	}
}

// RecordHazardsWith makes rec keep the delivery status of hazard changes
// (the hazard register).
func (d *Dispatcher) RecordHazardsWith(rec Recorder) { d.hazards = rec }

// HandleHazard is the handler of the hazards topic. It only queues.
func (d *Dispatcher) HandleHazard(_ context.Context, c *contract.HazardChange) error {
	d.EnqueueHazard(*c)
	return nil
}

// EnqueueHazard queues the notifications a hazard change asks for: one per
// hazard route whose events and sources select it.
func (d *Dispatcher) EnqueueHazard(c contract.HazardChange) {
	if c.Hazard == nil {
		return
	}
	for i := range d.routes {
		rt := &d.routes[i]
		if !rt.Hazards || (len(rt.Events) > 0 && !slices.Contains(rt.Events, c.Event)) ||
			(len(rt.Sources) > 0 && !slices.Contains(rt.Sources, c.Hazard.Source)) || (len(rt.Types) > 0 && !slices.Contains(rt.Types, c.Hazard.Category)) {
			continue
		}
		d.push(job{rt, Notification{Event: c.Event, At: c.At, Hazard: c.Hazard}})
	}
}

// subject is the id and version of what a notification is about.
func (n Notification) subject() (string, int) {
	if n.Hazard != nil {
		return n.Hazard.ID, n.Hazard.Version
	}
	return n.Incident.ID, n.Incident.Version
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

func (d *Dispatcher) push(j job) {
	select {
	case d.queue <- j:
	default:
		d.mu.Lock()
		d.dropped++
		d.mu.Unlock()
		id, _ := j.n.subject()
		d.log.Error("notification queue full; dropped", "notifier", j.route.Name, "about", id, "event", j.n.Event)
	}
}

// Dropped reports how many notifications the full queue refused.
func (d *Dispatcher) Dropped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// Run delivers queued notifications with the given number of workers
// until ctx is done.
func (d *Dispatcher) Run(ctx context.Context, workers int) error {
	if workers <= 0 {
		workers = 4
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-d.queue:
					d.deliver(ctx, j)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// deliver tries one notification until it is delivered, cannot be, or
// runs out of attempts, recording its status on the incident.
func (d *Dispatcher) deliver(ctx context.Context, j job) {
	rt, n := j.route, j.n
	target := rt.Target
	if n.Recipient != nil {
		target = n.Recipient.Role + " " + n.Recipient.Phone
	}
	id, version := n.subject()
	rec := contract.Delivery{Notifier: rt.Name, Target: target, Event: n.Event, Version: version}
	attempts := max(rt.Retry.Attempts, 1)
	backoff := rt.Retry.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		retry, err := rt.Notifier.Notify(actx, n)
		cancel()
		rec.Attempts, rec.At = attempt, d.clock.Now()
		switch {
		case err == nil:
			rec.Status, rec.Error = contract.DeliveryDelivered, ""
		case retry && attempt < attempts && ctx.Err() == nil:
			rec.Status, rec.Error = contract.DeliveryRetrying, err.Error()
		default:
			rec.Status, rec.Error = contract.DeliveryFailed, err.Error()
		}
		d.record(ctx, n, rec)
		if rec.Status != contract.DeliveryRetrying {
			if err != nil {
				d.log.Error("notification failed", "notifier", rt.Name, "about", id, "event", n.Event, "attempts", attempt, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(backoff):
		}
		if backoff *= 2; rt.Retry.MaxBackoff > 0 && backoff > rt.Retry.MaxBackoff {
			backoff = rt.Retry.MaxBackoff
		}
	}
}

func (d *Dispatcher) record(ctx context.Context, n Notification, rec contract.Delivery) {
	id, _ := n.subject()
	to := d.rec
	if n.Hazard != nil {
		to = d.hazards
	}
	if to == nil {
		return
	}
	if err := to.RecordDelivery(context.WithoutCancel(ctx), id, rec); err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("delivery status not recorded", "incident", id, "err", err)
	}
}
