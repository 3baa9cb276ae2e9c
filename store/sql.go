// Package store persists incidents in SQL: SQLite (pure Go, one file in the
// data directory) for `firegrid serve`, PostgreSQL for the scale-out roles.
// Both run the same statements; only placeholders differ.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/contract"
)

// Dialect is the SQL flavour.
type Dialect int

// Dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// SQL is an alarm.Store on database/sql.
type SQL struct {
	db      *sql.DB
	dialect Dialect
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates its schema.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	// WAL lets reads run beside the one write SQLite allows at a time:
	// the outbox relay and the console read while an alarm's transaction
	// commits, rather than queueing behind it on one connection. Every
	// transaction takes the write lock when it begins (_txlock=immediate),
	// waiting up to busy_timeout for it, so that two never deadlock
	// upgrading a read to a write.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &SQL{db: db, dialect: SQLite}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// New wraps an open database (for PostgreSQL: the pgx stdlib driver) and
// migrates its schema.
func New(ctx context.Context, db *sql.DB, d Dialect) (*SQL, error) {
	s := &SQL{db: db, dialect: d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB returns the underlying database.
func (s *SQL) DB() *sql.DB { return s.db }

// migrations are applied in order, each once; append, never edit.
var migrations = []string{
	`CREATE TABLE incidents (
		id TEXT PRIMARY KEY,
		status TEXT NOT NULL,
		type TEXT NOT NULL,
		severity TEXT NOT NULL,
		site TEXT NOT NULL,
		station TEXT NOT NULL,
		community TEXT NOT NULL,
		opened_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		version INTEGER NOT NULL,
		doc TEXT NOT NULL
	);
	CREATE INDEX incidents_status ON incidents (status, opened_at);
	CREATE INDEX incidents_site ON incidents (site, type);
	CREATE UNIQUE INDEX incidents_one_open ON incidents (site, type) WHERE status = 'open';
	CREATE TABLE signals (
		id TEXT PRIMARY KEY,
		incident TEXT NOT NULL,
		at BIGINT NOT NULL
	);`,
	// The rule engine's snapshot (rules.StateStore): one document per name.
	`CREATE TABLE engine_state (
		name TEXT PRIMARY KEY,
		saved_at BIGINT NOT NULL,
		doc TEXT NOT NULL
	);`,
	// Timers (deadlines of the 1-3-5 promise and of hazard tickets) are
	// rows, so that they survive restarts and one instance claims each.
	// The audit table records access decisions.
	`CREATE TABLE timers (
		incident TEXT NOT NULL,
		kind TEXT NOT NULL,
		due_at BIGINT NOT NULL,
		PRIMARY KEY (incident, kind)
	);
	CREATE INDEX timers_due ON timers (due_at);
	CREATE TABLE audit (
		at BIGINT NOT NULL,
		username TEXT NOT NULL,
		role TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		allowed INTEGER NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_at ON audit (at);`,
	// The registry as the files a person edits, one set per version; the
	// latest is the registry in force. BLOB is BYTEA on PostgreSQL.
	`CREATE TABLE registry_versions (
		version INTEGER PRIMARY KEY,
		loaded_at BIGINT NOT NULL,
		note TEXT NOT NULL
	);
	CREATE TABLE registry_files (
		version INTEGER NOT NULL REFERENCES registry_versions (version),
		name TEXT NOT NULL,
		content BLOB NOT NULL,
		PRIMARY KEY (version, name)
	);`,
	// Console users, as in the users file: passwords as bcrypt hashes only.
	`CREATE TABLE users (
		username TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		role TEXT NOT NULL,
		station TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);`,
	// The outbox: records a transaction of the alarm stage emits (incident
	// changes, commands), published by the relay once it committed.
	`CREATE TABLE outbox (
		id AUTOID,
		topic TEXT NOT NULL,
		rkey TEXT NOT NULL,
		value TEXT NOT NULL,
		at BIGINT NOT NULL
	);`,
	// The rules in force, one row per version, and settings such as the
	// period override: every rules instance runs what is kept here.
	`CREATE TABLE rules_versions (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		content BLOB NOT NULL,
		saved_at BIGINT NOT NULL,
		saved_by TEXT NOT NULL
	);
	CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		doc TEXT NOT NULL,
		updated_at BIGINT NOT NULL
	);`,
	// MQTT accounts: who may connect to the broker (devices, firegrid's
	// own components), their secrets as Mosquitto $7$ hashes only. The
	// settings row mqtt_accounts counts changes, so that a broker sees
	// one with a single-row read.
	`CREATE TABLE mqtt_accounts (
		username TEXT PRIMARY KEY,
		role TEXT NOT NULL,
		kind TEXT NOT NULL,
		device TEXT NOT NULL,
		hash TEXT NOT NULL,
		issued_at BIGINT NOT NULL
	);`,
	// Console sessions every alarm instance must agree on: revoked
	// session tokens (kept until they would have expired anyway) and
	// failed log-ins per user and per address.
	`CREATE TABLE session_revocations (
		session TEXT PRIMARY KEY,
		username TEXT NOT NULL,
		revoked_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX session_revocations_expires ON session_revocations (expires_at);
	CREATE TABLE login_throttle (
		key TEXT PRIMARY KEY,
		failures INTEGER NOT NULL,
		first_at BIGINT NOT NULL,
		locked_until BIGINT NOT NULL
	);`,
	// Notifications, kept from the moment the incident or hazard change is taken
	// until they are delivered or given up: key makes a change taken twice
	// one notification; a lease lets one alarm instance at a time try one.
	`CREATE TABLE notifications (
		id AUTOID,
		nkey TEXT NOT NULL UNIQUE,
		notifier TEXT NOT NULL,
		target TEXT NOT NULL,
		subject TEXT NOT NULL,
		event TEXT NOT NULL,
		version INTEGER NOT NULL,
		body BLOB NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL,
		next_at BIGINT NOT NULL,
		error TEXT NOT NULL,
		lease_owner TEXT NOT NULL,
		lease_until BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE INDEX notifications_due ON notifications (status, next_at);
	CREATE INDEX notifications_subject ON notifications (subject);`,
	// The people's half of the loop: a grid worker's zone or a community
	// user's community (area) and a property company (org) bound what a
	// user sees of hazards and rounds.
	`ALTER TABLE users ADD COLUMN area TEXT NOT NULL DEFAULT '';
	ALTER TABLE users ADD COLUMN org TEXT NOT NULL DEFAULT ''`,
	// Hazards (the hazard register), their photos (kept here so that every
	// alarm instance serves them) and deadlines, and the inspection rounds:
	// plans made through the API, check-ins, and rounds missed. A hazard's
	// due_at is its pending deadline (0: none), for the overdue list.
	`CREATE TABLE hazards (
		id TEXT PRIMARY KEY,
		status TEXT NOT NULL,
		category TEXT NOT NULL,
		source TEXT NOT NULL,
		zone TEXT NOT NULL,
		community TEXT NOT NULL,
		station TEXT NOT NULL,
		org TEXT NOT NULL,
		reported_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		due_at BIGINT NOT NULL,
		version INTEGER NOT NULL,
		doc TEXT NOT NULL
	);
	CREATE INDEX hazards_reported ON hazards (reported_at);
	CREATE INDEX hazards_status ON hazards (status, community, zone);
	CREATE TABLE hazard_photos (
		id TEXT PRIMARY KEY,
		hazard TEXT NOT NULL,
		content_type TEXT NOT NULL,
		size INTEGER NOT NULL,
		at BIGINT NOT NULL,
		by_user TEXT NOT NULL,
		step TEXT NOT NULL,
		data BLOB NOT NULL
	);
	CREATE INDEX hazard_photos_hazard ON hazard_photos (hazard);
	CREATE TABLE hazard_timers (
		id TEXT NOT NULL,
		kind TEXT NOT NULL,
		due_at BIGINT NOT NULL,
		PRIMARY KEY (id, kind)
	);
	CREATE INDEX hazard_timers_due ON hazard_timers (due_at);
	CREATE TABLE inspection_plans (
		id TEXT PRIMARY KEY,
		active INTEGER NOT NULL,
		updated_at BIGINT NOT NULL,
		doc TEXT NOT NULL
	);
	CREATE TABLE inspection_checkins (
		id TEXT PRIMARY KEY,
		plan TEXT NOT NULL,
		object TEXT NOT NULL,
		zone TEXT NOT NULL,
		community TEXT NOT NULL,
		at BIGINT NOT NULL,
		doc TEXT NOT NULL
	);
	CREATE INDEX inspection_checkins_plan ON inspection_checkins (plan, object, at);
	CREATE INDEX inspection_checkins_at ON inspection_checkins (at);
	CREATE TABLE inspection_misses (
		plan TEXT NOT NULL,
		object TEXT NOT NULL,
		period_start BIGINT NOT NULL,
		due_at BIGINT NOT NULL,
		zone TEXT NOT NULL,
		community TEXT NOT NULL,
		doc TEXT NOT NULL,
		PRIMARY KEY (plan, object, period_start)
	);
	CREATE INDEX inspection_misses_due ON inspection_misses (due_at);`,
}

// dialectDDL adapts a migration statement's types to the dialect.
func (s *SQL) dialectDDL(stmt string) string {
	if s.dialect == Postgres {
		stmt = strings.ReplaceAll(stmt, " AUTOID", " BIGSERIAL PRIMARY KEY")
		return strings.ReplaceAll(stmt, " BLOB ", " BYTEA ")
	}
	return strings.ReplaceAll(stmt, " AUTOID", " INTEGER PRIMARY KEY AUTOINCREMENT")
}

func (s *SQL) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for i, m := range migrations {
		v := i + 1
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if s.dialect == Postgres {
			// Serialise concurrent starters of several roles.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316001)`); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate: lock: %w", err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), v).Scan(&n); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			tx.Rollback()
			continue
		}
		for _, stmt := range strings.Split(m, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.dialectDDL(stmt)); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// q rewrites ? placeholders for the dialect.
func (s *SQL) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Tx runs f in a transaction.
func (s *SQL) Tx(ctx context.Context, f func(alarm.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(&sqlTx{s: s, tx: tx, ctx: ctx, loaded: map[string]bool{}, at: time.Now()}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.conflict(err)
	}
	return nil
}

// conflict maps a unique violation (two writers opening one incident) to
// alarm.ErrConflict.
func (s *SQL) conflict(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") ||
		strings.Contains(msg, "SQLSTATE 40001") || strings.Contains(msg, "SQLSTATE 40P01") {
		return fmt.Errorf("%w: %v", alarm.ErrConflict, err)
	}
	return err
}

type sqlTx struct {
	s   *SQL
	tx  *sql.Tx
	ctx context.Context
	// loaded holds the ids of the incidents read (and locked) in this
	// transaction; Save replaces those and only inserts others.
	loaded map[string]bool
	at     time.Time
}

func (t *sqlTx) forUpdate() string {
	if t.s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func (t *sqlTx) one(query string, args ...any) (*contract.Incident, error) {
	var doc string
	err := t.tx.QueryRowContext(t.ctx, t.s.q(query+t.forUpdate()), args...).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alarm.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	in, err := decode(doc)
	if err == nil {
		t.loaded[in.ID] = true
	}
	return in, err
}

// OpenFor returns the open incident of a site and type, locked, or nil.
func (t *sqlTx) OpenFor(site, typ string) (*contract.Incident, error) {
	in, err := t.one(`SELECT doc FROM incidents WHERE site = ? AND type = ? AND status = 'open'`, site, typ)
	if errors.Is(err, alarm.ErrNotFound) {
		return nil, nil
	}
	return in, err
}

// Lock returns an incident, locked.
func (t *sqlTx) Lock(id string) (*contract.Incident, error) {
	return t.one(`SELECT doc FROM incidents WHERE id = ?`, id)
}

// HasSignal reports whether a signal id was recorded.
func (t *sqlTx) HasSignal(id string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT COUNT(*) FROM signals WHERE id = ?`), id).Scan(&n)
	return n > 0, err
}

// Save upserts an incident and records signal ids.
func (t *sqlTx) Save(in *contract.Incident, signals ...string) error {
	doc, err := json.Marshal(in)
	if err != nil {
		return err
	}
	query := `INSERT INTO incidents (id, status, type, severity, site, station, community, opened_at, updated_at, version, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if t.loaded[in.ID] {
		query += ` ON CONFLICT (id) DO UPDATE SET status = excluded.status, type = excluded.type, severity = excluded.severity,
			site = excluded.site, station = excluded.station, community = excluded.community,
			updated_at = excluded.updated_at, version = excluded.version, doc = excluded.doc`
	}
	// An incident this transaction did not read is new: if another writer
	// inserted the same id meanwhile (two alarm instances applying one
	// signal), the insert fails as a conflict and the caller's retry finds
	// the incident, instead of both opening (and dispatching) it.
	_, err = t.tx.ExecContext(t.ctx, t.s.q(query),
		in.ID, string(in.Status), in.Type, string(in.Severity), in.Site, in.Station, in.Community,
		in.OpenedAt.UnixMilli(), in.UpdatedAt.UnixMilli(), in.Version, string(doc))
	if err != nil {
		return t.s.conflict(fmt.Errorf("save incident %s: %w", in.ID, err))
	}
	for _, id := range signals {
		if _, err := t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO signals (id, incident, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`),
			id, in.ID, in.UpdatedAt.UnixMilli()); err != nil {
			return fmt.Errorf("record signal %s: %w", id, err)
		}
	}
	return nil
}

// SetTimer upserts an incident's timer of a kind.
func (t *sqlTx) SetTimer(tm alarm.Timer) error {
	return incidentTimers.set(t, tm.Incident, tm.Kind, tm.DueAt, false)
}

// DeleteTimer removes an incident's timer of a kind.
func (t *sqlTx) DeleteTimer(incident, kind string) error {
	return incidentTimers.remove(t, incident, kind)
}

// ClaimTimer returns the earliest due timer, locked (see timerTable.claim).
func (t *sqlTx) ClaimTimer(now time.Time) (*alarm.Timer, error) {
	incident, kind, due, ok, err := incidentTimers.claim(t, now)
	if !ok || err != nil {
		return nil, err
	}
	return &alarm.Timer{Incident: incident, Kind: kind, DueAt: due}, nil
}

// NextTimer returns when the earliest timer is due.
func (s *SQL) NextTimer(ctx context.Context) (time.Time, bool, error) {
	return incidentTimers.next(ctx, s)
}

// Audit records an access decision.
func (s *SQL) Audit(ctx context.Context, e access.AuditEntry) error {
	allowed := 0
	if e.Allowed {
		allowed = 1
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit (at, username, role, action, target, allowed, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		e.At.UnixMilli(), e.Username, e.Role, e.Action, e.Target, allowed, e.Detail)
	return err
}

// Audits lists access decisions, newest first.
func (s *SQL) Audits(ctx context.Context, limit int) ([]access.AuditEntry, error) {
	if limit <= 0 {
		limit = 500
	}
	rows, err := s.db.QueryContext(ctx, `SELECT at, username, role, action, target, allowed, detail FROM audit ORDER BY at DESC LIMIT `+strconv.Itoa(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []access.AuditEntry
	for rows.Next() {
		var e access.AuditEntry
		var at int64
		var allowed int
		if err := rows.Scan(&at, &e.Username, &e.Role, &e.Action, &e.Target, &allowed, &e.Detail); err != nil {
			return nil, err
		}
		e.At, e.Allowed = time.UnixMilli(at).UTC(), allowed != 0
		out = append(out, e)
	}
	return out, rows.Err()
}

// Get returns one incident.
func (s *SQL) Get(ctx context.Context, id string) (*contract.Incident, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT doc FROM incidents WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alarm.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode(doc)
}

func decode(doc string) (*contract.Incident, error) {
	var in contract.Incident
	if err := json.Unmarshal([]byte(doc), &in); err != nil {
		return nil, fmt.Errorf("decode incident: %w", err)
	}
	return &in, nil
}

// List returns incidents, newest first. A negative limit means no limit.
func (s *SQL) List(ctx context.Context, f alarm.Filter) ([]*contract.Incident, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Station != "" {
		where = append(where, "station = ?")
		args = append(args, f.Station)
	}
	if !f.OpenedFrom.IsZero() {
		where = append(where, "opened_at >= ?")
		args = append(args, f.OpenedFrom.UnixMilli())
	}
	if !f.OpenedTo.IsZero() {
		where = append(where, "opened_at < ?")
		args = append(args, f.OpenedTo.UnixMilli())
	}
	q := `SELECT doc FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id"
	limit := f.Limit
	if limit == 0 {
		limit = 500
	}
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*contract.Incident
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		in, err := decode(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// LoadState returns the engine snapshot saved under name, or nil.
func (s *SQL) LoadState(ctx context.Context, name string) ([]byte, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT doc FROM engine_state WHERE name = ?`), name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: load engine state %s: %w", name, err)
	}
	return []byte(doc), nil
}

// SaveState replaces the engine snapshot saved under name.
func (s *SQL) SaveState(ctx context.Context, name string, b []byte) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO engine_state (name, saved_at, doc) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET saved_at = excluded.saved_at, doc = excluded.doc`), name, time.Now().UnixMilli(), string(b))
	if err != nil {
		return fmt.Errorf("store: save engine state %s: %w", name, err)
	}
	return nil
}

// Close closes the database.
func (s *SQL) Close() error { return s.db.Close() }
