package store

import (
	"context"
	"fmt"
	"github.com/firegrid/firegrid/access"
	"time"
)

// SaveUser adds a console user, or replaces the one of the same username
// (its name, role, station, area, organisation and password hash; it keeps
// its creation time),
// as `firegrid users add` does in a users file. The user is checked as a
// users file's entries are, without the registry: the caller checks the
// station against the registry it serves.
func (s *SQL) SaveUser(ctx context.Context, u access.User) error {
	if err := (&access.UsersFile{Users: []access.User{u}}).Validate(nil); err != nil {
		return fmt.Errorf("user %q: %w", u.Username, err)
	}
	now := time.Now().UnixMilli()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO users (username, name, role, station, area, org, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET name = excluded.name, role = excluded.role, station = excluded.station,
			area = excluded.area, org = excluded.org, password_hash = excluded.password_hash, updated_at = excluded.updated_at`),
		u.Username, u.Name, string(u.Role), u.Station, u.Area, u.Org, u.PasswordHash, now, now)
	if err != nil {
		return fmt.Errorf("store: save user %s: %w", u.Username, err)
	}
	return nil
}

// Users lists the console users by username.
func (s *SQL) Users(ctx context.Context) ([]access.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username, name, role, station, area, org, password_hash FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []access.User
	for rows.Next() {
		var u access.User
		var role string
		if err := rows.Scan(&u.Username, &u.Name, &role, &u.Station, &u.Area, &u.Org, &u.PasswordHash); err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		u.Role = access.Role(role)
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetUserPassword changes a user's password hash; it reports false when
// there is no such user.
func (s *SQL) SetUserPassword(ctx context.Context, username, hash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?`),
		hash, time.Now().UnixMilli(), username)
	if err != nil {
		return false, fmt.Errorf("store: set password of %s: %w", username, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
