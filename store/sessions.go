package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// What every alarm instance must agree on about console log-ins
// (access.SessionStore): revoked sessions and failed log-ins.

// RevokeSession records at now that a session token no longer counts
// (log-out), until it would have expired anyway; records expired at now
// are dropped.
func (s *SQL) RevokeSession(ctx context.Context, session, username string, expires, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO session_revocations (session, username, revoked_at, expires_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (session) DO NOTHING`), session, username, now.UnixMilli(), expires.UnixMilli()); err != nil {
		return fmt.Errorf("store: revoke session: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM session_revocations WHERE expires_at < ?`), now.UnixMilli()); err != nil {
		return fmt.Errorf("store: drop expired revocations: %w", err)
	}
	return nil
}

// RevokedSessions lists the revoked sessions that have not expired at now.
func (s *SQL) RevokedSessions(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT session FROM session_revocations WHERE expires_at > ?`), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: revoked sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: revoked sessions: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// LoginLockedUntil returns until when log-ins under any of keys are
// refused (zero when none is).
func (s *SQL) LoginLockedUntil(ctx context.Context, keys ...string) (time.Time, error) {
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	var until int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(locked_until), 0) FROM login_throttle WHERE key IN (?`+
		strings.Repeat(", ?", len(keys)-1)+`)`), args...).Scan(&until)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: login throttle: %w", err)
	}
	if until == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(until), nil
}

// LoginFailed counts a failed log-in under key and returns the failures
// within the window that started with the first of them; a failure after
// the window starts a new one. Several instances counting at once lose
// none: the count is one statement.
func (s *SQL) LoginFailed(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	at, since := now.UnixMilli(), now.Add(-window).UnixMilli()
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO login_throttle (key, failures, first_at, locked_until) VALUES (?, 1, ?, 0)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_throttle.first_at < ? THEN 1 ELSE login_throttle.failures + 1 END,
			first_at = CASE WHEN login_throttle.first_at < ? THEN excluded.first_at ELSE login_throttle.first_at END
		RETURNING failures`), key, at, since, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: login throttle: %w", err)
	}
	return n, nil
}

// LockLogin refuses log-ins under key until until (a later lock stays).
func (s *SQL) LockLogin(ctx context.Context, key string, until time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE login_throttle SET locked_until = ? WHERE key = ? AND locked_until < ?`),
		until.UnixMilli(), key, until.UnixMilli()); err != nil {
		return fmt.Errorf("store: login throttle: %w", err)
	}
	return nil
}

// LoginSucceeded forgets the failures under key.
func (s *SQL) LoginSucceeded(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM login_throttle WHERE key = ?`), key); err != nil {
		return fmt.Errorf("store: login throttle: %w", err)
	}
	return nil
}
