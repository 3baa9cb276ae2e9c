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

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
)

// HazardTx runs f in a transaction of the hazard register.
func (s *SQL) HazardTx(ctx context.Context, f func(hazard.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	base := &sqlTx{s: s, tx: tx, ctx: ctx, loaded: map[string]bool{}, at: time.Now()}
	if err := f(&hazardTx{sqlTx: base, loaded: map[string]bool{}}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return hazardConflict(s.conflict(err))
	}
	return nil
}

// hazardConflict turns the incident core's conflict into the hazard
// register's.
func hazardConflict(err error) error {
	if errors.Is(err, alarm.ErrConflict) {
		return fmt.Errorf("%w: %v", hazard.ErrConflict, err)
	}
	return err
}

// hazardTx is a transaction of the hazard register; it shares the
// incident core's outbox.
type hazardTx struct {
	*sqlTx
	loaded map[string]bool
}

func decodeHazard(doc string) (*contract.Hazard, error) {
	var h contract.Hazard
	if err := json.Unmarshal([]byte(doc), &h); err != nil {
		return nil, fmt.Errorf("decode hazard: %w", err)
	}
	return &h, nil
}

// Lock returns a hazard, locked.
func (t *hazardTx) Lock(id string) (*contract.Hazard, error) {
	var doc string
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT doc FROM hazards WHERE id = ?`+t.forUpdate()), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hazard.ErrNotFound
	}
	if err != nil {
		return nil, hazardConflict(t.s.conflict(err))
	}
	h, err := decodeHazard(doc)
	if err == nil {
		t.loaded[h.ID] = true
	}
	return h, err
}

// pendingDeadline is the deadline a hazard waits on now, or 0.
func pendingDeadline(h *contract.Hazard) int64 {
	switch {
	case !h.Open():
	case h.DispatchedAt == nil && h.RespondBy != nil:
		return h.RespondBy.UnixMilli()
	case h.Status == contract.HazardDispatched && h.RectifyBy != nil:
		return h.RectifyBy.UnixMilli()
	}
	return 0
}

// Save upserts a hazard read in this transaction, or inserts a new one.
func (t *hazardTx) Save(h *contract.Hazard) error {
	doc, err := json.Marshal(h)
	if err != nil {
		return err
	}
	query := `INSERT INTO hazards (id, status, category, source, zone, community, station, org, reported_at, updated_at, due_at, version, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if t.loaded[h.ID] {
		query += ` ON CONFLICT (id) DO UPDATE SET status = excluded.status, category = excluded.category, source = excluded.source,
			zone = excluded.zone, community = excluded.community, station = excluded.station, org = excluded.org,
			updated_at = excluded.updated_at, due_at = excluded.due_at, version = excluded.version, doc = excluded.doc`
	}
	_, err = t.tx.ExecContext(t.ctx, t.s.q(query), h.ID, string(h.Status), h.Category, h.Source, h.Zone, h.Community, h.Station,
		h.Responsible.OrgName(), h.ReportedAt.UnixMilli(), h.UpdatedAt.UnixMilli(), pendingDeadline(h), h.Version, string(doc))
	if err != nil {
		return hazardConflict(t.s.conflict(fmt.Errorf("save hazard %s: %w", h.ID, err)))
	}
	t.loaded[h.ID] = true
	return nil
}

// SavePhoto keeps a photo; the same photo again changes nothing.
func (t *hazardTx) SavePhoto(p hazard.Photo) error {
	_, err := t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO hazard_photos (id, hazard, content_type, size, at, by_user, step, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		p.ID, p.Hazard, p.ContentType, len(p.Data), p.At.UnixMilli(), p.By, p.Step, p.Data)
	if err != nil {
		return hazardConflict(t.s.conflict(fmt.Errorf("save photo %s: %w", p.ID, err)))
	}
	return nil
}

// SetTimer upserts a timer.
func (t *hazardTx) SetTimer(tm hazard.Timer) error {
	return hazardConflict(hazardTimers.set(t.sqlTx, tm.ID, tm.Kind, tm.DueAt, false))
}

// EnsureTimer sets a timer that is not set yet.
func (t *hazardTx) EnsureTimer(tm hazard.Timer) error {
	return hazardConflict(hazardTimers.set(t.sqlTx, tm.ID, tm.Kind, tm.DueAt, true))
}

// DeleteTimer removes a timer.
func (t *hazardTx) DeleteTimer(id, kind string) error {
	return hazardConflict(hazardTimers.remove(t.sqlTx, id, kind))
}

// ClaimTimer returns the earliest due timer, locked (see timerTable.claim).
func (t *hazardTx) ClaimTimer(now time.Time) (*hazard.Timer, error) {
	id, kind, due, ok, err := hazardTimers.claim(t.sqlTx, now)
	if !ok || err != nil {
		return nil, hazardConflict(err)
	}
	return &hazard.Timer{ID: id, Kind: kind, DueAt: due}, nil
}

// Plan returns a plan made through the API.
func (t *hazardTx) Plan(id string) (*hazard.Plan, error) {
	var doc string
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT doc FROM inspection_plans WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hazard.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var p hazard.Plan
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode plan %s: %w", id, err)
	}
	return &p, nil
}

// SavePlan upserts a plan.
func (t *hazardTx) SavePlan(p hazard.Plan) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	active := 0
	if p.Active {
		active = 1
	}
	_, err = t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO inspection_plans (id, active, updated_at, doc) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET active = excluded.active, updated_at = excluded.updated_at, doc = excluded.doc`),
		p.ID, active, p.UpdatedAt.UnixMilli(), string(doc))
	if err != nil {
		return hazardConflict(t.s.conflict(fmt.Errorf("save plan %s: %w", p.ID, err)))
	}
	return nil
}

// CheckIn returns a check-in.
func (t *hazardTx) CheckIn(id string) (*hazard.CheckIn, error) {
	var doc string
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT doc FROM inspection_checkins WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hazard.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var c hazard.CheckIn
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return nil, fmt.Errorf("decode check-in %s: %w", id, err)
	}
	return &c, nil
}

// SaveCheckIn inserts a check-in.
func (t *hazardTx) SaveCheckIn(c hazard.CheckIn) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO inspection_checkins (id, plan, object, zone, community, at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Plan, c.Object, c.Zone, c.Community, c.At.UnixMilli(), string(doc))
	if err != nil {
		return hazardConflict(t.s.conflict(fmt.Errorf("save check-in %s: %w", c.ID, err)))
	}
	return nil
}

// CheckedIn reports whether an object had a check-in of the plan in
// [from, to).
func (t *hazardTx) CheckedIn(plan, object string, from, to time.Time) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT COUNT(*) FROM inspection_checkins WHERE plan = ? AND object = ? AND at >= ? AND at < ?`),
		plan, object, from.UnixMilli(), to.UnixMilli()).Scan(&n)
	return n > 0, err
}

// SaveMiss records a missed round; the same miss again changes nothing.
func (t *hazardTx) SaveMiss(m hazard.Miss) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO inspection_misses (plan, object, period_start, due_at, zone, community, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (plan, object, period_start) DO NOTHING`),
		m.Plan, m.Object, m.PeriodStart.UnixMilli(), m.Due.UnixMilli(), m.Zone, m.Community, string(doc))
	if err != nil {
		return hazardConflict(t.s.conflict(fmt.Errorf("save missed round %s/%s: %w", m.Plan, m.Object, err)))
	}
	return nil
}

// Missed reports whether the object's round of the period starting at
// start was missed.
func (t *hazardTx) Missed(plan, object string, start time.Time) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, t.s.q(`SELECT COUNT(*) FROM inspection_misses WHERE plan = ? AND object = ? AND period_start = ?`),
		plan, object, start.UnixMilli()).Scan(&n)
	return n > 0, err
}

// Hazard returns one hazard.
func (s *SQL) Hazard(ctx context.Context, id string) (*contract.Hazard, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT doc FROM hazards WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hazard.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeHazard(doc)
}

// Hazards lists hazards, newest first.
func (s *SQL) Hazards(ctx context.Context, f hazard.Filter) ([]*contract.Hazard, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	switch f.Status {
	case "":
	case "open":
		where = append(where, "status NOT IN ('closed', 'rejected')")
	default:
		eq("status", f.Status)
	}
	eq("category", f.Category)
	eq("source", f.Source)
	eq("zone", f.Zone)
	eq("community", f.Community)
	eq("station", f.Station)
	eq("org", f.Org)
	if !f.OverdueAt.IsZero() {
		where = append(where, "due_at > 0 AND due_at < ?")
		args = append(args, f.OverdueAt.UnixMilli())
	}
	if !f.ReportedFrom.IsZero() {
		where = append(where, "reported_at >= ?")
		args = append(args, f.ReportedFrom.UnixMilli())
	}
	if !f.ReportedTo.IsZero() {
		where = append(where, "reported_at < ?")
		args = append(args, f.ReportedTo.UnixMilli())
	}
	q := `SELECT doc FROM hazards`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY reported_at DESC, id" + limitClause(f.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*contract.Hazard{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		h, err := decodeHazard(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// limitClause is a LIMIT: 0 means 500, negative none.
func limitClause(limit int) string {
	if limit == 0 {
		limit = 500
	}
	if limit < 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(limit)
}

// Photo returns a photo with its bytes.
func (s *SQL) Photo(ctx context.Context, id string) (*hazard.Photo, error) {
	p := hazard.Photo{ID: id}
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT hazard, content_type, at, by_user, step, data FROM hazard_photos WHERE id = ?`), id).
		Scan(&p.Hazard, &p.ContentType, &at, &p.By, &p.Step, &p.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hazard.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	p.At = unixMilli(at)
	return &p, nil
}

// NextHazardTimer returns when the earliest hazard or round timer is due.
func (s *SQL) NextHazardTimer(ctx context.Context) (time.Time, bool, error) {
	return hazardTimers.next(ctx, s)
}

// Plans returns the plans made through the API, by id.
func (s *SQL) Plans(ctx context.Context) ([]hazard.Plan, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT doc FROM inspection_plans ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hazard.Plan
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var p hazard.Plan
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			return nil, fmt.Errorf("decode plan: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CheckIns lists check-ins, newest first.
func (s *SQL) CheckIns(ctx context.Context, f hazard.CheckInFilter) ([]hazard.CheckIn, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"plan", f.Plan}, {"object", f.Object}, {"zone", f.Zone}, {"community", f.Community}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.To.UnixMilli())
	}
	q := `SELECT doc FROM inspection_checkins`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id" + limitClause(f.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hazard.CheckIn{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var c hazard.CheckIn
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, fmt.Errorf("decode check-in: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Misses lists missed rounds, newest first.
func (s *SQL) Misses(ctx context.Context, f hazard.MissFilter) ([]hazard.Miss, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"plan", f.Plan}, {"zone", f.Zone}, {"community", f.Community}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.From.IsZero() {
		where = append(where, "due_at >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "due_at < ?")
		args = append(args, f.To.UnixMilli())
	}
	q := `SELECT doc FROM inspection_misses`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY due_at DESC, plan, object" + limitClause(f.Limit)
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hazard.Miss{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var m hazard.Miss
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("decode missed round: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
