package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresTimeout bounds each administrative step (connect, create, drop).
const postgresTimeout = 30 * time.Second

// Postgres creates a fresh, uniquely named database for the test on the
// PostgreSQL server named by FIREGRID_TEST_PG_DSN, drops it when the test
// ends, and returns a DSN for it: the server DSN with the database replaced.
// Tests may therefore create tables freely and run in parallel.
//
// The server DSN needs a role allowed to create databases; ./scripts/test.sh
// starts a throwaway cluster and sets the variable. Without it the test is
// skipped, or fails when FIREGRID_REQUIRE_SERVICES=1; a DSN that is set but
// does not work always fails the test.
func Postgres(t testing.TB) string {
	t.Helper()
	serverDSN := os.Getenv(EnvPostgresDSN)
	if serverDSN == "" {
		unavailable(t, "PostgreSQL", EnvPostgresDSN+" is not set")
		return ""
	}
	name, err := databaseName(t.Name())
	if err != nil {
		t.Fatalf("testenv: %v", err)
		return ""
	}
	dsn, err := withDatabase(serverDSN, name)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgresDSN, err)
		return ""
	}
	if err := adminExec(serverDSN, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create test database on %s: %v", redact(serverDSN), err)
		return ""
	}
	t.Cleanup(func() {
		// FORCE ends connections a test left open (PostgreSQL 13+).
		ident := pgx.Identifier{name}.Sanitize()
		err := adminExec(serverDSN, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
		if err != nil {
			err = adminExec(serverDSN, "DROP DATABASE IF EXISTS "+ident)
		}
		if err != nil {
			t.Errorf("testenv: drop test database %s: %v", name, err)
		}
	})
	return dsn
}

// adminExec runs one statement on its own connection to the server.
func adminExec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// databaseName derives a database name from the test name, readable in
// the server's logs and unique thanks to a random suffix. It stays within
// PostgreSQL's 63-byte limit and needs no quoting.
func databaseName(testName string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() == 40 {
			break
		}
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	return "fgtest_" + b.String() + "_" + hex.EncodeToString(suffix[:]), nil
}

// withDatabase returns dsn, in URL or key=value form, pointed at database.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path = "/" + database
		u.RawPath = ""
		return u.String(), nil
	}
	// In key=value form a later key overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + database, nil
}

// redact hides the password of a DSN in URL form for error messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "password") {
			return "(DSN with password)"
		}
		return dsn
	}
	return u.Redacted()
}
