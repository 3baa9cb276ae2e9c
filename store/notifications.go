package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// KeepNotifications stores, in one transaction, the notifications not
// kept yet: one whose key is already there (the change was taken before)
// is left as it is.
func (s *SQL) KeepNotifications(ctx context.Context, ns []contract.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	defer tx.Rollback()
	for _, n := range ns {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications (nkey, notifier, target, subject, event, version, body, status,
			attempts, next_at, error, lease_owner, lease_until, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', '', 0, ?, ?) ON CONFLICT (nkey) DO NOTHING`),
			n.Key, n.Notifier, n.Target, n.Subject, n.Event, n.Version, n.Body, contract.NotificationPending,
			n.NextAt.UnixMilli(), n.CreatedAt.UnixMilli(), n.CreatedAt.UnixMilli()); err != nil {
			return fmt.Errorf("notifications: keep %s: %w", n.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	return nil
}

const notificationColumns = `id, nkey, notifier, target, subject, event, version, body, status, attempts, next_at, error, created_at, updated_at`

// ClaimNotifications leases to owner, until now+lease, up to limit pending
// notifications due at now, oldest first; one waits while an older one of
// the same notifier about the same incident or hazard is pending, so that
// a receiver gets a subject's changes in order, a retry included. A
// notification is free when no
// lease holds it, or when its lease is a former process's of the same
// instance (owner is instance/boot): that process is gone, so its
// notifications are tried again at once rather than when the lease ends.
func (s *SQL) ClaimNotifications(ctx context.Context, instance, owner string, now time.Time, lease time.Duration, limit int) ([]contract.Notification, error) {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	prefix := instance + "/"
	rows, err := s.db.QueryContext(ctx, s.q(`UPDATE notifications SET lease_owner = ?, lease_until = ? WHERE id IN (
		SELECT id FROM notifications n WHERE status = ? AND next_at <= ?
		AND (lease_until < ? OR (substr(lease_owner, 1, ?) = ? AND lease_owner <> ?))
		AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.subject = n.subject AND o.notifier = n.notifier
			AND o.status = ? AND o.id < n.id)
		ORDER BY id LIMIT ?`+lock+`) RETURNING `+notificationColumns),
		owner, now.Add(lease).UnixMilli(), contract.NotificationPending, now.UnixMilli(), now.UnixMilli(), len(prefix), prefix, owner,
		contract.NotificationPending, limit)
	if err != nil {
		return nil, fmt.Errorf("notifications: claim: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("notifications: claim: %w", err)
	}
	slices.SortFunc(out, func(a, b contract.Notification) int { return int(a.ID - b.ID) })
	return out, nil
}

// SettleNotification records an attempt on a notification owner holds:
// its status, attempts, next try and error; the lease ends. It reports
// false when owner no longer holds it (another instance took it over).
func (s *SQL) SettleNotification(ctx context.Context, n *contract.Notification, owner string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE notifications SET status = ?, attempts = ?, next_at = ?, error = ?, lease_owner = '',
		lease_until = 0, updated_at = ? WHERE id = ? AND lease_owner = ?`),
		n.Status, n.Attempts, n.NextAt.UnixMilli(), n.Error, n.UpdatedAt.UnixMilli(), n.ID, owner)
	if err != nil {
		return false, fmt.Errorf("notifications: settle %d: %w", n.ID, err)
	}
	k, err := res.RowsAffected()
	return k == 1, err
}

// Notifications lists notifications with a status (any when empty), newest
// first, at most limit.
func (s *SQL) Notifications(ctx context.Context, status string, limit int) ([]contract.Notification, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+notificationColumns+` FROM notifications
		WHERE (? = '' OR status = ?) ORDER BY id DESC LIMIT ?`), status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return scanNotifications(rows)
}

// NotificationCounts counts notifications by status.
func (s *SQL) NotificationCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM notifications GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// PruneNotifications removes delivered and given-up notifications last
// changed before t, and reports how many.
func (s *SQL) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM notifications WHERE status <> ? AND updated_at < ?`),
		contract.NotificationPending, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("notifications: prune: %w", err)
	}
	return res.RowsAffected()
}

type rowScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}

func scanNotifications(rows rowScanner) ([]contract.Notification, error) {
	defer rows.Close()
	var out []contract.Notification
	for rows.Next() {
		var n contract.Notification
		var next, created, updated int64
		if err := rows.Scan(&n.ID, &n.Key, &n.Notifier, &n.Target, &n.Subject, &n.Event, &n.Version, &n.Body, &n.Status,
			&n.Attempts, &next, &n.Error, &created, &updated); err != nil {
			return nil, err
		}
		n.NextAt, n.CreatedAt, n.UpdatedAt = unixMilli(next), unixMilli(created), unixMilli(updated)
		out = append(out, n)
	}
	return out, rows.Err()
}
