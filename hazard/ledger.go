// Package hazard is the people's half of the closed loop (闭环管理): the
// fire hazards (隐患) grid workers, residents through them, the 12345
// hotline, inspection rounds and device tickets report, worked from report
// to close. The community registers a hazard (立案) and dispatches it to
// whoever must fix it by a deadline (派遣); they rectify it (整改); someone
// else verifies the fix (核查); it is closed (销号), and a look back (回头
// 看) may reopen it. A hazard not dispatched within its response deadline,
// or not rectified by its rectification deadline, goes up the grid for
// supervision (挂牌督办: zone, then community, then sub-district) on timers
// kept as rows, as device tickets' are. It also runs the inspection rounds
// (排查): plans with a frequency and a checklist, check-ins, rounds missed
// and escalated, coverage.
//
// Every change is one store transaction that also puts the change in the
// store's outbox, which the alarm stage's relay publishes to the hazards
// topic: notifiers tell other platforms (a 12345 work order's status) from
// there. A device ticket stays an incident; this package reads the
// incidents topic and keeps a linked hazard of source device for each, so
// that one list shows everything a community must fix.
//
// It knows nothing of HTTP, the bus or SQL: it needs a Store, the registry
// and a clock, and never waits on the alarm path.
package hazard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// ErrNotFound is returned for an unknown hazard, photo, plan or check-in.
var ErrNotFound = errors.New("not found")

// ErrConflict is a lost race with another writer; the transaction runs
// again.
var ErrConflict = errors.New("conflicting write")

// Filter selects hazards to list.
type Filter struct {
	// Status is a status, "open" (neither closed nor rejected), or ""
	// for all.
	Status    string
	Category  string
	Source    string
	Zone      string
	Community string
	Station   string
	// Org keeps the hazards dispatched to an organisation.
	Org string
	// OverdueAt, when set, keeps the hazards with a deadline passed at
	// that time and its step undone.
	OverdueAt time.Time
	// ReportedFrom and ReportedTo keep hazards reported in [from, to).
	ReportedFrom, ReportedTo time.Time
	// Limit caps the result (newest first); 0 means 500, negative none.
	Limit int
}

// Photo is a photo kept with a hazard.
type Photo struct {
	ID          string
	Hazard      string
	ContentType string
	Data        []byte
	At          time.Time
	By          string
	Step        string
}

// Timer is a deadline kept by the store: a hazard's (respond, rectify)
// or the end of a plan's period (ID "plan:" + the plan's, kind round).
type Timer struct {
	ID    string
	Kind  string
	DueAt time.Time
}

// Store persists hazards, their photos and timers, and the inspection
// rounds. Implementations: store.SQL on SQLite or PostgreSQL. Changes go
// through HazardTx, so that the database arbitrates between alarm
// instances.
type Store interface {
	// HazardTx runs f in a transaction and commits when f returns nil;
	// a lost race returns an error wrapping ErrConflict.
	HazardTx(ctx context.Context, f func(Tx) error) error
	Hazard(ctx context.Context, id string) (*contract.Hazard, error)
	Hazards(ctx context.Context, f Filter) ([]*contract.Hazard, error)
	Photo(ctx context.Context, id string) (*Photo, error)
	// NextHazardTimer returns when the earliest timer is due.
	NextHazardTimer(ctx context.Context) (time.Time, bool, error)
	// Plans returns the plans made through the API.
	Plans(ctx context.Context) ([]Plan, error)
	CheckIns(ctx context.Context, f CheckInFilter) ([]CheckIn, error)
	Misses(ctx context.Context, f MissFilter) ([]Miss, error)
}

// Tx is a store transaction. Hazards read through it stay locked until it
// ends.
type Tx interface {
	// Lock returns a hazard for update, or ErrNotFound.
	Lock(id string) (*contract.Hazard, error)
	// Save replaces a hazard read in this transaction or inserts a new
	// one (an id that exists already is ErrConflict).
	Save(h *contract.Hazard) error
	SavePhoto(p Photo) error
	SetTimer(t Timer) error
	// EnsureTimer sets a timer only when none of its id and kind is set.
	EnsureTimer(t Timer) error
	DeleteTimer(id, kind string) error
	// ClaimTimer returns one timer due at now, locked for this
	// transaction, or nil; the caller deletes or moves it.
	ClaimTimer(now time.Time) (*Timer, error)
	// Emit puts records in the outbox, published once the transaction
	// has committed.
	Emit(recs ...contract.Record) error

	// Plan returns a plan made through the API, or ErrNotFound.
	Plan(id string) (*Plan, error)
	SavePlan(p Plan) error
	// CheckIn returns a check-in by id, or ErrNotFound.
	CheckIn(id string) (*CheckIn, error)
	SaveCheckIn(c CheckIn) error
	// CheckedIn reports whether an object of a plan had a check-in in
	// [from, to).
	CheckedIn(plan, object string, from, to time.Time) (bool, error)
	SaveMiss(m Miss) error
	// Missed reports whether an object's round of the period starting at
	// start was missed.
	Missed(plan, object string, start time.Time) (bool, error)
}

// Error is a request the loop refuses; Code is the HTTP status.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func refuse(code int, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Ledger is the hazard register (隐患台账) and the inspection rounds.
type Ledger struct {
	store Store
	reg   *devices.Registry
	clock clock.Clock
	log   *slog.Logger
	m     *metrics
	cfg   Config
	loc   *time.Location

	committed func(n int)
	wake      chan struct{}
	// mu serialises this instance's writes; the store arbitrates between
	// instances.
	mu sync.Mutex
}

// Options are the Ledger's collaborators; Registerer may be nil.
type Options struct {
	Store      Store
	Registry   *devices.Registry
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Config nil means DefaultConfig.
	Config *Config
	// Committed, when set, is told after each commit how many records it
	// put in the outbox (the relay's Committed).
	Committed func(n int)
}

// New returns a ledger; it checks the plans against the registry and arms
// the timer of every plan's current period.
func New(ctx context.Context, o Options) (*Ledger, error) {
	if o.Store == nil || o.Registry == nil {
		return nil, errors.New("hazard: store and registry are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Config == nil {
		c := DefaultConfig()
		o.Config = &c
	}
	if o.Committed == nil {
		o.Committed = func(int) {}
	}
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("hazards: %w", err)
	}
	loc, _ := time.LoadLocation(o.Config.TimeZone)
	l := &Ledger{store: o.Store, reg: o.Registry, clock: o.Clock, log: o.Logger, m: newMetrics(o.Registerer), cfg: *o.Config,
		loc: loc, committed: o.Committed, wake: make(chan struct{}, 1)}
	for i, p := range l.cfg.Plans {
		if err := l.checkScope(p.Scope); err != nil {
			return nil, fmt.Errorf("hazards.plans.%d.scope: %w", i, err)
		}
		l.cfg.Plans[i].Active, l.cfg.Plans[i].Source = true, "configuration"
	}
	if err := l.armPlans(ctx); err != nil {
		return nil, fmt.Errorf("hazards: %w", err)
	}
	return l, nil
}

// Config returns the configuration in force (categories, photo limits).
func (l *Ledger) Config() Config { return l.cfg }

// Registry returns the territory the ledger places hazards in.
func (l *Ledger) Registry() *devices.Registry { return l.reg }

// Now is the ledger's time.
func (l *Ledger) Now() time.Time { return l.clock.Now() }

// Location is the territory's time zone.
func (l *Ledger) Location() *time.Location { return l.loc }

// tx runs f in a transaction, again when it lost a race, and tells the
// relay what the commit put in the outbox.
func (l *Ledger) tx(ctx context.Context, f func(Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		n := 0
		err = l.store.HazardTx(ctx, func(tx Tx) error { return f(countingTx{tx, &n}) })
		if err == nil {
			l.committed(n)
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

type countingTx struct {
	Tx
	n *int
}

func (t countingTx) Emit(recs ...contract.Record) error {
	if err := t.Tx.Emit(recs...); err != nil {
		return err
	}
	*t.n += len(recs)
	return nil
}

// emit puts a hazard's change in the outbox.
func emit(tx Tx, event string, at time.Time, h *contract.Hazard) error {
	c := &contract.HazardChange{Event: event, At: at, Hazard: h.Clone()}
	return tx.Emit(c.Record())
}

// Report is a hazard as someone reports it.
type Report struct {
	Category    string `json:"category"`
	Description string `json:"description"`
	// The place: a site of the registry, or a point (and an address).
	Site     string          `json:"site,omitempty"`
	Location *contract.Point `json:"location,omitempty"`
	Address  string          `json:"address,omitempty"`
	// Reporter is the person who found it (a resident a grid worker
	// reports for, a 12345 caller).
	Reporter contract.Contact `json:"reporter,omitzero"`
	// Source is grid_worker (the default) or resident through the API;
	// 12345, inspection and device are set by firegrid.
	Source string   `json:"source,omitempty"`
	Photos []Upload `json:"photos,omitempty"`
	// Ref, when set, is the reporter's own reference: reporting the same
	// Ref again (a phone retrying on a bad network) returns the hazard
	// made the first time.
	Ref string `json:"ref,omitempty"`

	// By and Role are who entered it (set by the caller, not the body).
	By   string `json:"-"`
	Role string `json:"-"`
	// Order, Inspection, Incident and Devices are set by firegrid.
	Order      *contract.WorkOrder     `json:"-"`
	Inspection *contract.InspectionRef `json:"-"`
	Incident   string                  `json:"-"`
	Devices    []string                `json:"-"`
}

// hazardID is an id derived from what identifies a report, so that the
// same report made twice finds the first hazard.
func hazardID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "HZ-" + strings.ToUpper(hex.EncodeToString(h[:5]))
}

func randomID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "HZ-" + strings.ToUpper(hex.EncodeToString(b))
}

// idOf is the id a report's hazard gets.
func idOf(r *Report) string {
	switch {
	case r.Order != nil:
		return hazardID("order", r.Order.Channel, r.Order.ID)
	case r.Incident != "":
		return hazardID("incident", r.Incident)
	case r.Inspection != nil:
		return hazardID("inspection", r.Inspection.CheckIn, r.Inspection.Item)
	case r.Ref != "":
		return hazardID("ref", r.By, r.Ref)
	}
	return randomID()
}

// Report records a new hazard. When the same report was made before (the
// same work order, device ticket, check-in item or reference), it returns
// the hazard made then and created false.
func (l *Ledger) Report(ctx context.Context, r Report) (h *contract.Hazard, created bool, err error) {
	h, photos, err := l.newHazard(&r, l.clock.Now())
	if err != nil {
		return nil, false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out *contract.Hazard
	err = l.tx(ctx, func(tx Tx) error {
		var err error
		out, created, err = l.insert(tx, h, photos)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if created {
		l.reported(out)
	}
	return out.Clone(), created, nil
}

// newHazard checks a report and makes its hazard and photos.
func (l *Ledger) newHazard(r *Report, now time.Time) (*contract.Hazard, []Photo, error) {
	if r.Source == "" {
		r.Source = contract.SourceGridWorker
	}
	if !slices.Contains(contract.HazardSources, r.Source) {
		return nil, nil, refuse(400, "source %q: want grid_worker or resident", r.Source)
	}
	cat, ok := l.cfg.Category(strings.TrimSpace(r.Category))
	if !ok {
		if r.Order == nil {
			return nil, nil, refuse(400, "category %q: want one of %s", r.Category, l.cfg.categoryIDs())
		}
		// Another platform's words for it: kept in the description.
		if cat, ok = l.cfg.Category("other"); !ok {
			cat = &l.cfg.Categories[len(l.cfg.Categories)-1]
		}
		if r.Category != "" {
			r.Description = "[" + r.Category + "] " + r.Description
		}
	}
	r.Description = strings.TrimSpace(r.Description)
	if r.Description == "" {
		return nil, nil, refuse(400, "description: required: say what is wrong")
	}
	if len(r.Description) > 4000 {
		return nil, nil, refuse(400, "description: at most 4000 bytes")
	}
	h := &contract.Hazard{ID: idOf(r), Category: cat.ID, CategoryName: cat.Name, Serious: cat.Serious, Source: r.Source,
		Status: contract.HazardReported, Description: r.Description, Reporter: r.Reporter, ReportedBy: r.By,
		Order: r.Order, Incident: r.Incident, Devices: r.Devices, Inspection: r.Inspection, ReportedAt: now, UpdatedAt: now, Version: 1}
	if err := l.place(h, r.Site, r.Location, r.Address); err != nil {
		return nil, nil, err
	}
	respond := now.Add(cat.Respond)
	h.RespondBy = &respond
	photos, err := l.photos(h, r.Photos, contract.HazardEventReported, r.By, now)
	if err != nil {
		return nil, nil, err
	}
	step := contract.HazardStep{At: now, Action: contract.HazardEventReported, By: r.By, Role: r.Role, Photos: photoIDs(photos)}
	switch {
	case r.Order != nil:
		step.Note = "work order " + r.Order.ID + " of " + r.Order.Channel
	case r.Inspection != nil:
		step.Note = "inspection " + r.Inspection.Plan + ", item " + r.Inspection.Item
	case r.Reporter.Name != "" || r.Reporter.Phone != "":
		step.Note = strings.TrimSpace("reported by " + r.Reporter.Name + " " + r.Reporter.Phone)
	}
	h.Steps = []contract.HazardStep{step}
	return h, photos, nil
}

// insert keeps a new hazard, its photos and its response deadline, in tx;
// a hazard of the same id already there is returned instead.
func (l *Ledger) insert(tx Tx, h *contract.Hazard, photos []Photo) (*contract.Hazard, bool, error) {
	cur, err := tx.Lock(h.ID)
	if err == nil {
		return cur, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	for _, p := range photos {
		if err := tx.SavePhoto(p); err != nil {
			return nil, false, err
		}
	}
	if err := tx.Save(h); err != nil {
		return nil, false, err
	}
	if ownTimers(h) {
		if err := tx.SetTimer(Timer{ID: h.ID, Kind: contract.DeadlineRespond, DueAt: *h.RespondBy}); err != nil {
			return nil, false, err
		}
	}
	return h, true, emit(tx, contract.HazardEventReported, h.ReportedAt, h)
}

// reported counts and logs a new hazard once it is committed.
func (l *Ledger) reported(h *contract.Hazard) {
	l.m.reported.WithLabelValues(h.Source, h.Category).Inc()
	l.log.Info("hazard reported", "id", h.ID, "category", h.Category, "source", h.Source, "zone", h.Zone, "by", h.ReportedBy)
	l.wakeTimers()
}

// place puts a hazard at a site of the registry, or at a point in a
// responsibility zone.
func (l *Ledger) place(h *contract.Hazard, site string, at *contract.Point, address string) error {
	switch {
	case site != "":
		s, ok := l.reg.Site(site)
		if !ok {
			return refuse(400, "site %q is not in the registry", site)
		}
		h.Site, h.SiteName, h.SiteType, h.Address, h.Location = s.ID, s.Name, s.Type, s.Address, s.Location
		h.Zone, h.Community, h.Station = s.Zone, s.Community, s.Station
	case at != nil:
		zone, st := l.reg.Route(*at)
		if zone == nil {
			return refuse(422, "location %.6f,%.6f is outside every responsibility zone of the territory", at.Lon, at.Lat)
		}
		h.Location, h.Zone, h.Community = *at, zone.ID, zone.Parent
		if st != nil {
			h.Station = st.ID
		}
	default:
		return refuse(400, "place: give a site of the registry or a location {\"lon\", \"lat\"}")
	}
	if address = strings.TrimSpace(address); address != "" {
		h.Address = address
	}
	if z, ok := l.reg.Area(h.Zone); ok {
		h.GridWorker = z.GridWorker
	}
	return nil
}

// ownTimers reports whether the hazard's deadlines run on its own timers:
// a device ticket's hazard follows its incident's deadlines and
// escalation until a look back reopens it.
func ownTimers(h *contract.Hazard) bool { return h.Source != contract.SourceDevice || h.Reopened > 0 }

// Get returns one hazard.
func (l *Ledger) Get(ctx context.Context, id string) (*contract.Hazard, error) {
	return l.store.Hazard(ctx, id)
}

// List returns hazards: open ones by urgency (overdue first, then serious,
// then the nearest deadline), the others newest first.
func (l *Ledger) List(ctx context.Context, f Filter) ([]*contract.Hazard, error) {
	out, err := l.store.Hazards(ctx, f)
	if err != nil || f.Status != "open" {
		return out, err
	}
	now := l.clock.Now()
	next := func(h *contract.Hazard) time.Time {
		switch {
		case h.DispatchedAt == nil && h.RespondBy != nil:
			return *h.RespondBy
		case h.Status == contract.HazardDispatched && h.RectifyBy != nil:
			return *h.RectifyBy
		}
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	slices.SortStableFunc(out, func(a, b *contract.Hazard) int {
		if oa, ob := a.IsOverdue(now), b.IsOverdue(now); oa != ob {
			return map[bool]int{true: -1, false: 1}[oa]
		}
		if a.Serious != b.Serious {
			return map[bool]int{true: -1, false: 1}[a.Serious]
		}
		return next(a).Compare(next(b))
	})
	return out, nil
}

// Photo returns a photo.
func (l *Ledger) Photo(ctx context.Context, id string) (*Photo, error) { return l.store.Photo(ctx, id) }

// maxDeliveries bounds the deliveries kept on a hazard.
const maxDeliveries = 100

// RecordDelivery sets a notification's status on its hazard (the entry of
// the same notifier, target, event and version is replaced). Notifiers
// call it; it never runs on the alarm path.
func (l *Ledger) RecordDelivery(ctx context.Context, id string, d contract.Delivery) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tx(ctx, func(tx Tx) error {
		cur, err := tx.Lock(id)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(cur.Deliveries, func(x contract.Delivery) bool {
			return x.Notifier == d.Notifier && x.Target == d.Target && x.Event == d.Event && x.Version == d.Version
		})
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
		return emit(tx, contract.HazardEventDelivery, d.At, cur)
	})
}
