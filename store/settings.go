package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// Rules returns the rules in force: the newest version kept, the name of
// the file it came from and its content; version 0 when none is kept.
func (s *SQL) Rules(ctx context.Context) (int, string, []byte, error) {
	var (
		version int
		name    string
		content []byte
	)
	err := s.db.QueryRowContext(ctx, `SELECT version, name, content FROM rules_versions ORDER BY version DESC LIMIT 1`).
		Scan(&version, &name, &content)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil, nil
	}
	if err != nil {
		return 0, "", nil, fmt.Errorf("rules: %w", err)
	}
	return version, name, content, nil
}

// SaveRules keeps a rules file as the rules in force (a reload), unless
// it is the same as the newest version; it returns the version in force.
func (s *SQL) SaveRules(ctx context.Context, name string, content []byte, by string) (int, error) {
	return s.saveRules(ctx, name, content, by, false)
}

// ImportRules keeps a rules file found at start as the rules in force only
// when it is new: a file that any earlier version holds changes nothing,
// so that a process started with a stale copy does not turn every rules
// instance back to it. It returns the version in force.
func (s *SQL) ImportRules(ctx context.Context, name string, content []byte, by string) (int, error) {
	return s.saveRules(ctx, name, content, by, true)
}

func (s *SQL) saveRules(ctx context.Context, name string, content []byte, by string, onlyNew bool) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316003)`); err != nil {
			return 0, fmt.Errorf("rules: lock: %w", err)
		}
	}
	var (
		newest int
		last   []byte
		lastN  string
	)
	err = tx.QueryRowContext(ctx, `SELECT version, name, content FROM rules_versions ORDER BY version DESC LIMIT 1`).Scan(&newest, &lastN, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("rules: %w", err)
	}
	if newest > 0 && lastN == name && string(last) == string(content) {
		return newest, nil
	}
	if onlyNew && newest > 0 {
		var known int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM rules_versions WHERE name = ? AND content = ?`), name, content).Scan(&known); err != nil {
			return 0, fmt.Errorf("rules: %w", err)
		}
		if known > 0 {
			return newest, nil
		}
	}
	version := newest + 1
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO rules_versions (version, name, content, saved_at, saved_by) VALUES (?, ?, ?, ?, ?)`),
		version, name, content, time.Now().UnixMilli(), by); err != nil {
		return 0, fmt.Errorf("rules: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("rules: %w", err)
	}
	return version, nil
}

const settingPeriod = "period"

// Period returns the period override in force, or nil.
func (s *SQL) Period(ctx context.Context) (*contract.PeriodOverride, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT doc FROM settings WHERE name = ?`), settingPeriod).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("period: %w", err)
	}
	var o contract.PeriodOverride
	if err := json.Unmarshal([]byte(doc), &o); err != nil {
		return nil, fmt.Errorf("period: %w", err)
	}
	if o.Period == "" {
		return nil, nil
	}
	return &o, nil
}

// SetPeriod keeps the period override in force; nil hands back to the
// calendar.
func (s *SQL) SetPeriod(ctx context.Context, o *contract.PeriodOverride) error {
	if o == nil {
		o = &contract.PeriodOverride{}
	}
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO settings (name, doc, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`), settingPeriod, string(b), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("period: %w", err)
	}
	return nil
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
