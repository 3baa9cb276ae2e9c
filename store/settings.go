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

// SaveRules keeps a rules file as the rules in force, unless it is the
// same as the newest version; it returns the version in force.
func (s *SQL) SaveRules(ctx context.Context, name string, content []byte, by string) (int, error) {
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
		version int
		last    []byte
		lastN   string
	)
	err = tx.QueryRowContext(ctx, `SELECT version, name, content FROM rules_versions ORDER BY version DESC LIMIT 1`).Scan(&version, &lastN, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("rules: %w", err)
	}
	if version > 0 && lastN == name && string(last) == string(content) {
		return version, nil
	}
	version++
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
