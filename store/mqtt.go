package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
)

const settingMQTTAccounts = "mqtt_accounts"

// SaveMQTTAccounts adds MQTT accounts, or replaces those of the same user
// name (a rotated secret), in one transaction, and counts the change.
func (s *SQL) SaveMQTTAccounts(ctx context.Context, accounts ...access.MQTTAccount) error {
	for _, a := range accounts {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	return s.changeMQTTAccounts(ctx, func(tx *sql.Tx) error {
		for _, a := range accounts {
			at := a.IssuedAt
			if at.IsZero() {
				at = time.Now()
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO mqtt_accounts (username, role, kind, device, hash, issued_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (username) DO UPDATE SET role = excluded.role, kind = excluded.kind, device = excluded.device,
					hash = excluded.hash, issued_at = excluded.issued_at`),
				a.Username, string(a.Role), string(a.Kind), a.Device, a.Hash, at.UnixMilli()); err != nil {
				return fmt.Errorf("store: save MQTT account %s: %w", a.Username, err)
			}
		}
		return nil
	})
}

// DeleteMQTTAccounts removes accounts by user name and returns how many
// there were.
func (s *SQL) DeleteMQTTAccounts(ctx context.Context, usernames ...string) (int, error) {
	n := 0
	err := s.changeMQTTAccounts(ctx, func(tx *sql.Tx) error {
		for _, u := range usernames {
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM mqtt_accounts WHERE username = ?`), u)
			if err != nil {
				return fmt.Errorf("store: delete MQTT account %s: %w", u, err)
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// changeMQTTAccounts runs f and counts one more change of the accounts,
// in one transaction.
func (s *SQL) changeMQTTAccounts(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO settings (name, doc, updated_at) VALUES (?, '1', ?)
		ON CONFLICT (name) DO UPDATE SET doc = CAST(CAST(settings.doc AS BIGINT) + 1 AS TEXT), updated_at = excluded.updated_at`),
		settingMQTTAccounts, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("store: count the MQTT accounts' change: %w", err)
	}
	return tx.Commit()
}

// MQTTAccountsRevision counts the changes of the MQTT accounts: a broker
// reads the accounts again when it moved.
func (s *SQL) MQTTAccountsRevision(ctx context.Context) (int64, error) {
	return s.mqttRevision(ctx, s.db)
}

func (s *SQL) mqttRevision(ctx context.Context, db querier) (int64, error) {
	rows, err := db.QueryContext(ctx, s.q(`SELECT doc FROM settings WHERE name = ?`), settingMQTTAccounts)
	if err != nil {
		return 0, fmt.Errorf("store: MQTT accounts: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, rows.Err()
	}
	var doc string
	if err := rows.Scan(&doc); err != nil {
		return 0, fmt.Errorf("store: MQTT accounts: %w", err)
	}
	return strconv.ParseInt(doc, 10, 64)
}

// MQTTAccounts returns every MQTT account by user name, and the revision
// they are at.
func (s *SQL) MQTTAccounts(ctx context.Context) ([]access.MQTTAccount, int64, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.dialect == Postgres})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	rev, err := s.mqttRevision(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT username, role, kind, device, hash, issued_at FROM mqtt_accounts ORDER BY username`)
	if err != nil {
		return nil, 0, fmt.Errorf("store: MQTT accounts: %w", err)
	}
	defer rows.Close()
	var out []access.MQTTAccount
	for rows.Next() {
		var a access.MQTTAccount
		var role, kind string
		var at int64
		if err := rows.Scan(&a.Username, &role, &kind, &a.Device, &a.Hash, &at); err != nil {
			return nil, 0, fmt.Errorf("store: MQTT accounts: %w", err)
		}
		a.Role, a.Kind, a.IssuedAt = access.MQTTRole(role), contract.Kind(kind), time.UnixMilli(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: MQTT accounts: %w", err)
	}
	return out, rev, nil
}
