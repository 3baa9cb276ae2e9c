package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/firegrid/firegrid/devices"
)

// ErrNoRegistry means the database holds no registry yet.
var ErrNoRegistry = errors.New("no registry in the database; import one with `firegrid registry import`")

// RegistryVersion describes one saved registry.
type RegistryVersion struct {
	Version  int
	LoadedAt time.Time
	Note     string
}

// SaveRegistry validates a registry's files (file name → content, as
// devices.ReadFiles returns them) with the loader devices.Load runs, and
// saves them as a new version, which becomes the registry in force. A
// registry the loader refuses is not saved: the error is the loader's,
// naming file, line and field. Files identical to the latest version's are
// not saved again; their version is returned, and the note is dropped.
func (s *SQL) SaveRegistry(ctx context.Context, files map[string][]byte, note string) (int, error) {
	if _, err := devices.LoadFiles(files); err != nil {
		return 0, fmt.Errorf("registry refused: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: save registry: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		// Two imports at once number their versions one after the other.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316002)`); err != nil {
			return 0, fmt.Errorf("store: save registry: lock: %w", err)
		}
	}
	var latest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM registry_versions`).Scan(&latest); err != nil {
		return 0, fmt.Errorf("store: save registry: %w", err)
	}
	if latest.Valid {
		old, err := s.registryFiles(ctx, tx, int(latest.Int64))
		if err != nil {
			return 0, err
		}
		if maps.EqualFunc(old, files, bytes.Equal) {
			return int(latest.Int64), nil
		}
	}
	v := int(latest.Int64) + 1
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO registry_versions (version, loaded_at, note) VALUES (?, ?, ?)`),
		v, time.Now().UnixMilli(), note); err != nil {
		return 0, fmt.Errorf("store: save registry version %d: %w", v, err)
	}
	for name, content := range files {
		if content == nil {
			content = []byte{} // an empty file, not a NULL
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO registry_files (version, name, content) VALUES (?, ?, ?)`),
			v, name, content); err != nil {
			return 0, fmt.Errorf("store: save registry version %d, %s: %w", v, name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: save registry version %d: %w", v, err)
	}
	return v, nil
}

// LoadRegistry loads the latest registry through the validating loader
// and returns it with its version; ErrNoRegistry when there is none.
func (s *SQL) LoadRegistry(ctx context.Context) (*devices.Registry, int, error) {
	files, v, err := s.RegistryFiles(ctx, 0)
	if err != nil {
		return nil, 0, err
	}
	reg, err := devices.LoadFiles(files)
	if err != nil {
		return nil, v, fmt.Errorf("registry version %d in the database: %w", v, err)
	}
	return reg, v, nil
}

// RegistryFiles returns the files of a registry version, 0 meaning the
// latest, and the version; ErrNoRegistry when there is none.
func (s *SQL) RegistryFiles(ctx context.Context, version int) (map[string][]byte, int, error) {
	if version <= 0 {
		var latest sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM registry_versions`).Scan(&latest); err != nil {
			return nil, 0, fmt.Errorf("store: load registry: %w", err)
		}
		if !latest.Valid {
			return nil, 0, ErrNoRegistry
		}
		version = int(latest.Int64)
	} else {
		var n int
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM registry_versions WHERE version = ?`), version).Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("store: load registry: %w", err)
		}
		if n == 0 {
			return nil, 0, fmt.Errorf("store: no registry version %d in the database", version)
		}
	}
	files, err := s.registryFiles(ctx, s.db, version)
	return files, version, err
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *SQL) registryFiles(ctx context.Context, db querier, version int) (map[string][]byte, error) {
	rows, err := db.QueryContext(ctx, s.q(`SELECT name, content FROM registry_files WHERE version = ?`), version)
	if err != nil {
		return nil, fmt.Errorf("store: load registry version %d: %w", version, err)
	}
	defer rows.Close()
	files := map[string][]byte{}
	for rows.Next() {
		var name string
		var content []byte
		if err := rows.Scan(&name, &content); err != nil {
			return nil, fmt.Errorf("store: load registry version %d: %w", version, err)
		}
		if content == nil {
			content = []byte{}
		}
		files[name] = content
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load registry version %d: %w", version, err)
	}
	return files, nil
}

// RegistryVersions lists the saved registries, newest first.
func (s *SQL) RegistryVersions(ctx context.Context) ([]RegistryVersion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version, loaded_at, note FROM registry_versions ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: registry versions: %w", err)
	}
	defer rows.Close()
	var out []RegistryVersion
	for rows.Next() {
		var v RegistryVersion
		var at int64
		if err := rows.Scan(&v.Version, &at, &v.Note); err != nil {
			return nil, fmt.Errorf("store: registry versions: %w", err)
		}
		v.LoadedAt = time.UnixMilli(at).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}
