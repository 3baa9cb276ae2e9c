// Package alarm turns the rule engine's signals into incidents a duty crew
// works: it groups signals of one site into one incident, drops repeats,
// routes the incident to the micro fire station responsible, persists every
// step, and pushes each change to the consoles (Server-Sent Events).
//
// The alarm path must never wait on the cold path: persistence is the only
// I/O between a signal and the console, and notifications or the time-series
// sink hang off the bus, not off this package's locks.
package alarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/rules"
)

// Status is open until a person resolves the incident.
type Status string

// Statuses.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
)

// Stage is where the crew is with an incident.
type Stage string

// Stages of the 1-3-5 response (1 minute to respond, 3 to be on scene, 5 to
// have it handled).
const (
	StageNew          Stage = "new"
	StageAcknowledged Stage = "acknowledged"
	StageOnScene      Stage = "on_scene"
	StageResolved     Stage = "resolved"
)

// Outcomes a crew may resolve an incident with.
var Outcomes = []string{"fire", "false_alarm", "test", "nuisance", "fault_fixed", "other"}

// Step is one timestamped thing that happened to an incident.
type Step struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"`
	Device string    `json:"device,omitempty"`
	Signal string    `json:"signal,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// SignalRef says which rule and which message made an incident what it is.
type SignalRef struct {
	ID      string       `json:"id"`
	Rule    string       `json:"rule"`
	Action  rules.Action `json:"action"`
	Device  string       `json:"device"`
	Message string       `json:"message,omitempty"`
	At      time.Time    `json:"at"`
	Detail  string       `json:"detail,omitempty"`
	// Related lists the other messages a correlation joined.
	Related []string `json:"related,omitempty"`
	// Suppressed says why the signal was recorded only (test, maintenance).
	Suppressed string `json:"suppressed,omitempty"`
}

// Incident is what a duty crew works.
type Incident struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Severity     rules.Severity `json:"severity"`
	Status       Status         `json:"status"`
	Stage        Stage          `json:"stage"`
	Dispatchable bool           `json:"dispatchable"`
	// Cleared is set when the condition has gone away (a pressure back to
	// normal, a device back online); a person still closes the incident.
	Cleared bool `json:"cleared,omitempty"`
	// Period is the period (daily, holiday, major_event, emergency) in
	// force when the incident opened.
	Period rules.Period `json:"period,omitempty"`
	// Confirmed is set when a correlation rule confirmed the incident
	// (several detectors agree): its type becomes ConfirmedType of the
	// original, e.g. confirmed_fire.
	Confirmed bool `json:"confirmed,omitempty"`
	// Notify119 marks the incident for the 119 command centre.
	Notify119 bool `json:"notify_119,omitempty"`
	// Flapping is set when the condition raised and cleared too often: the
	// incident stays open, later raises fold into it.
	Flapping bool `json:"flapping,omitempty"`

	Site        string                `json:"site"`
	SiteName    string                `json:"site_name,omitempty"`
	SiteType    devices.SiteType      `json:"site_type,omitempty"`
	Address     string                `json:"address,omitempty"`
	Devices     []string              `json:"devices"`
	Location    devices.Point         `json:"location"`
	Zone        string                `json:"zone"`
	Community   string                `json:"community"`
	Station     string                `json:"station"`
	StationName string                `json:"station_name,omitempty"`
	Resident    devices.ResidentFlags `json:"resident_flags"`
	Guardian    devices.Contact       `json:"guardian,omitempty"`
	GridWorker  devices.Contact       `json:"grid_worker,omitempty"`

	OpenedAt   time.Time  `json:"opened_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	ArrivedAt  *time.Time `json:"arrived_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Note       string     `json:"note,omitempty"`

	Signals []SignalRef `json:"signals"`
	Steps   []Step      `json:"steps"`
	// Dispatch holds deadlines, escalation and notifications (timers.go).
	Dispatch
	// Version grows with every change; consoles keep the highest.
	Version int `json:"version"`
}

// ConfirmedType is the type an incident of type typ takes once a
// correlation rule confirmed it: fire becomes confirmed_fire.
func ConfirmedType(typ string) string { return "confirmed_" + typ }

// IncidentID derives an incident's id from the signal that opened it, so a
// redelivered signal finds the incident it made the first time.
func IncidentID(signalID string) string {
	h := sha256.Sum256([]byte(signalID))
	return "INC-" + hex.EncodeToString(h[:8])
}

func (in *Incident) hasSignal(id string) bool {
	for _, s := range in.Signals {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (in *Incident) hasDevice(id string) bool {
	for _, d := range in.Devices {
		if d == id {
			return true
		}
	}
	return false
}

// clone returns a deep copy that the caller may hand out.
func (in *Incident) clone() *Incident {
	c := *in
	c.Devices = append([]string(nil), in.Devices...)
	c.Signals = append([]SignalRef(nil), in.Signals...)
	c.Steps = append([]Step(nil), in.Steps...)
	c.Dispatch = in.Dispatch.clone()
	return &c
}

// Filter selects incidents to list.
type Filter struct {
	// Status "open", "resolved" or "" for all.
	Status Status
	// Station, when set, keeps one station's incidents.
	Station string
	// Limit caps the result (newest first); 0 means 500.
	Limit int
	// OpenedFrom and OpenedTo, when set, keep incidents opened in
	// [OpenedFrom, OpenedTo).
	OpenedFrom, OpenedTo time.Time
}

// ErrNotFound is returned for an unknown incident.
var ErrNotFound = errors.New("incident not found")

// Store persists incidents. Implementations: store.SQL on SQLite or
// PostgreSQL. Every change goes through Tx, so that the database arbitrates
// between alarm instances: one open incident per site and type (a unique
// index), and an incident changed by one transaction at a time (a row lock).
type Store interface {
	// Tx runs f in a transaction and commits when f returns nil. When two
	// writers race to open the same incident, Tx returns an error wrapping
	// ErrConflict and the caller runs f again.
	Tx(ctx context.Context, f func(Tx) error) error
	// Get returns one incident or ErrNotFound.
	Get(ctx context.Context, id string) (*Incident, error)
	// List returns incidents, newest first.
	List(ctx context.Context, f Filter) ([]*Incident, error)
	// NextTimer returns when the earliest timer is due; ok is false when
	// none is set.
	NextTimer(ctx context.Context) (due time.Time, ok bool, err error)
	// Audit records an access decision; Audits lists them, newest first.
	Audit(ctx context.Context, e AuditEntry) error
	Audits(ctx context.Context, limit int) ([]AuditEntry, error)
	Close() error
}

// Tx is a store transaction. Incidents read through it stay locked until it
// ends.
type Tx interface {
	// OpenFor returns the open incident of a site and type, or nil.
	OpenFor(site, typ string) (*Incident, error)
	// Lock returns an incident for update, or ErrNotFound.
	Lock(id string) (*Incident, error)
	// HasSignal reports whether a signal was already applied (a repeat must
	// change nothing).
	HasSignal(id string) (bool, error)
	// Save replaces an incident read in this transaction, or inserts a new
	// one (an id that exists already is ErrConflict), and records the ids
	// of the signals that changed it.
	Save(in *Incident, signals ...string) error
	// SetTimer sets (or moves) an incident's timer of a kind.
	SetTimer(t Timer) error
	// DeleteTimer removes an incident's timer of a kind.
	DeleteTimer(incident, kind string) error
	// ClaimTimer returns one timer due at now, locked for this
	// transaction so that no other instance acts on it, or nil. The
	// caller deletes or moves it before committing.
	ClaimTimer(now time.Time) (*Timer, error)
}

// ErrConflict is a lost race with another writer; run the transaction again.
var ErrConflict = errors.New("conflicting write")
