package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/firegrid/firegrid/contract"
)

// Emit puts records in the outbox, in this transaction: they are published
// once it commits, and never if it does not.
func (t *sqlTx) Emit(recs ...contract.Record) error {
	for _, r := range recs {
		b, err := json.Marshal(r.Value)
		if err != nil {
			return fmt.Errorf("outbox: encode %s record: %w", r.Topic, err)
		}
		at := r.Time
		if at.IsZero() {
			at = t.at
		}
		if _, err := t.tx.ExecContext(t.ctx, t.s.q(`INSERT INTO outbox (topic, rkey, value, at) VALUES (?, ?, ?, ?)`),
			r.Topic, r.Key, string(b), at.UnixMilli()); err != nil {
			return t.s.conflict(fmt.Errorf("outbox: %w", err))
		}
	}
	return nil
}

// outboxLock is the advisory lock a relay holds on PostgreSQL while it
// takes records, so that one relay at a time publishes and records leave
// in the order they were put in.
const outboxLock = 7316002

// RelayOutbox takes up to limit records, oldest first, hands them to
// publish and removes them once it returned nil. On PostgreSQL it does so
// in one transaction that holds an advisory lock, so that one alarm
// instance at a time relays and records leave in order; while another
// relays, it returns 0 at once. On SQLite (one process) it reads, then
// publishes holding no transaction - publish may wait until the records
// are handled, and their handlers use the same database - then removes
// what it published. A crash between publishing and removing publishes
// those records again, which consumers absorb (they keep the newest
// version).
func (s *SQL) RelayOutbox(ctx context.Context, limit int, publish func([]contract.Record) error) (int, error) {
	if s.dialect != Postgres {
		ids, recs, err := s.readOutbox(ctx, s.db, limit)
		if err != nil || len(ids) == 0 {
			return 0, err
		}
		if len(recs) > 0 {
			if err := publish(recs); err != nil {
				return 0, err
			}
		}
		if err := s.deleteOutbox(ctx, s.db, ids); err != nil {
			return 0, err
		}
		return len(recs), nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var got bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, outboxLock).Scan(&got); err != nil {
		return 0, fmt.Errorf("outbox: lock: %w", err)
	}
	if !got {
		return 0, nil
	}
	ids, recs, err := s.readOutbox(ctx, tx, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if len(recs) > 0 {
		if err := publish(recs); err != nil {
			return 0, err
		}
	}
	if err := s.deleteOutbox(ctx, tx, ids); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		// Published but still in the outbox: published again next time,
		// which consumers absorb (they keep the newest version).
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return len(recs), nil
}

// readOutbox reads up to limit records, oldest first: the ids of all, and
// the records this firegrid can decode.
func (s *SQL) readOutbox(ctx context.Context, q querier, limit int) ([]any, []contract.Record, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT id, topic, rkey, value, at FROM outbox ORDER BY id LIMIT ?`), limit)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var (
		ids  []any
		recs []contract.Record
	)
	for rows.Next() {
		var (
			id         int64
			topic, key string
			value      string
			at         int64
		)
		if err := rows.Scan(&id, &topic, &key, &value, &at); err != nil {
			return nil, nil, fmt.Errorf("outbox: %w", err)
		}
		ids = append(ids, id)
		v := contract.NewValue(topic)
		if v == nil || json.Unmarshal([]byte(value), v) != nil {
			// Kept by a firegrid that knew more: nothing to publish here,
			// and it must not hold up the rest.
			continue
		}
		recs = append(recs, contract.Record{Topic: topic, Key: key, Value: v, Time: unixMilli(at)})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("outbox: %w", err)
	}
	return ids, recs, nil
}

func (s *SQL) deleteOutbox(ctx context.Context, q querier, ids []any) error {
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	if _, err := q.ExecContext(ctx, s.q(`DELETE FROM outbox WHERE id IN (`+marks+`)`), ids...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// OutboxLen reports how many records wait in the outbox.
func (s *SQL) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n)
	return n, err
}
