package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// timerTable is a table of due times, one for each owner and kind: the
// incidents' 1-3-5 timers and the hazards' and rounds' deadlines share its
// shape and how it is set, claimed and read.
type timerTable struct{ table, owner string }

var (
	incidentTimers = timerTable{table: "timers", owner: "incident"}
	hazardTimers   = timerTable{table: "hazard_timers", owner: "id"}
)

// set upserts a timer; with keep, a timer already set stays as it is.
func (tt timerTable) set(t *sqlTx, owner, kind string, due time.Time, keep bool) error {
	conflict := `DO UPDATE SET due_at = excluded.due_at`
	if keep {
		conflict = `DO NOTHING`
	}
	_, err := t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO `+tt.table+` (`+tt.owner+`, kind, due_at) VALUES (?, ?, ?)
		ON CONFLICT (`+tt.owner+`, kind) `+conflict), owner, kind, ceilMilli(due))
	if err != nil {
		return t.s.conflict(fmt.Errorf("set timer %s/%s: %w", owner, kind, err))
	}
	return nil
}

// ceilMilli is t in Unix milliseconds, rounded up: a timer kept in whole
// milliseconds and claimed at a time truncated to them must not fire
// before it is due (rounded down, a 3 s deadline fired after 2.9997 s).
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}

// remove deletes an owner's timer of a kind.
func (tt timerTable) remove(t *sqlTx, owner, kind string) error {
	if _, err := t.tx.ExecContext(t.ctx, t.s.q(`DELETE FROM `+tt.table+` WHERE `+tt.owner+` = ? AND kind = ?`), owner, kind); err != nil {
		return t.s.conflict(fmt.Errorf("delete timer %s/%s: %w", owner, kind, err))
	}
	return nil
}

// claim returns the earliest timer due at now, locked; ok is false when
// none is. On PostgreSQL, SKIP LOCKED lets instances claim different
// timers at once and never the same one; on SQLite the transaction holds
// the one write lock, so the transaction itself is the claim.
func (tt timerTable) claim(t *sqlTx, now time.Time) (owner, kind string, due time.Time, ok bool, err error) {
	q := `SELECT ` + tt.owner + `, kind, due_at FROM ` + tt.table + ` WHERE due_at <= ? ORDER BY due_at, ` + tt.owner + `, kind LIMIT 1`
	if t.s.dialect == Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	var ms int64
	err = t.tx.QueryRowContext(t.ctx, t.s.q(q), now.UnixMilli()).Scan(&owner, &kind, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", time.Time{}, false, nil
	}
	if err != nil {
		return "", "", time.Time{}, false, t.s.conflict(fmt.Errorf("claim timer: %w", err))
	}
	return owner, kind, unixMilli(ms), true, nil
}

// next returns when the earliest timer is due.
func (tt timerTable) next(ctx context.Context, s *SQL) (time.Time, bool, error) {
	var due sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(due_at) FROM `+tt.table).Scan(&due); err != nil {
		return time.Time{}, false, err
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return unixMilli(due.Int64), true, nil
}
