// Package alarm is the incident core: it turns the rule engine's signals
// into incidents a duty crew works. It groups signals of one site into one
// incident, drops repeats, routes the incident to the micro fire station
// responsible, applies crew actions, keeps the 1-3-5 deadlines as timers
// and escalates what nobody answered (the next station and the 119 centre,
// or up the grid for hazards), and records notification deliveries.
//
// Every change is one store transaction that also puts the change (and any
// command to a device) in the store's outbox; the Relay publishes the outbox
// to the incidents and commands topics, so a change is never committed
// without being announced, nor announced without being committed. The
// consoles, notifiers and the time-series sink consume those topics.
//
// The alarm path must never wait on the cold path: persistence is the only
// I/O between a signal and the console. This package knows nothing of HTTP,
// of the bus or of SQL: it needs a Store and a contract.Publisher.
package alarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// IncidentID derives an incident's id from the signal that opened it, so a
// redelivered signal finds the incident it made the first time.
func IncidentID(signalID string) string {
	h := sha256.Sum256([]byte(signalID))
	return "INC-" + hex.EncodeToString(h[:8])
}

// Filter selects incidents to list.
type Filter struct {
	// Status "open", "resolved" or "" for all.
	Status contract.Status
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
	Get(ctx context.Context, id string) (*contract.Incident, error)
	// List returns incidents, newest first.
	List(ctx context.Context, f Filter) ([]*contract.Incident, error)
	// NextTimer returns when the earliest timer is due; ok is false when
	// none is set.
	NextTimer(ctx context.Context) (due time.Time, ok bool, err error)
	// RelayOutbox takes up to limit records from the outbox, oldest
	// first, hands them to publish, and removes them once publish returns
	// nil, all in one transaction: a record leaves the outbox only once it
	// is published, and one relay at a time takes records, so they are
	// published in the order they were put in. It returns how many it
	// published.
	RelayOutbox(ctx context.Context, limit int, publish func([]contract.Record) error) (int, error)
}

// Tx is a store transaction. Incidents read through it stay locked until it
// ends.
type Tx interface {
	// OpenFor returns the open incident of a site and type, or nil.
	OpenFor(site, typ string) (*contract.Incident, error)
	// Lock returns an incident for update, or ErrNotFound.
	Lock(id string) (*contract.Incident, error)
	// HasSignal reports whether a signal was already applied (a repeat must
	// change nothing).
	HasSignal(id string) (bool, error)
	// Save replaces an incident read in this transaction, or inserts a new
	// one (an id that exists already is ErrConflict), and records the ids
	// of the signals that changed it.
	Save(in *contract.Incident, signals ...string) error
	// SetTimer sets (or moves) an incident's timer of a kind.
	SetTimer(t Timer) error
	// DeleteTimer removes an incident's timer of a kind.
	DeleteTimer(incident, kind string) error
	// ClaimTimer returns one timer due at now, locked for this
	// transaction so that no other instance acts on it, or nil. The
	// caller deletes or moves it before committing.
	ClaimTimer(now time.Time) (*Timer, error)
	// Emit puts records in the outbox: they are published once the
	// transaction has committed, and never if it does not.
	Emit(recs ...contract.Record) error
}

// ErrConflict is a lost race with another writer; run the transaction again.
var ErrConflict = errors.New("conflicting write")
