package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresFreshDatabase(t *testing.T) {
	t.Parallel()
	dsn := Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", dsn, err)
	}
	defer conn.Close(context.Background())

	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(db, "fgtest_testpostgresfreshdatabase_") {
		t.Errorf("database %q is not named after the test", db)
	}
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("fresh database has %d tables", tables)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE incidents (id text PRIMARY KEY, opened timestamptz NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO incidents VALUES ('inc-1', now())"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM incidents").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
}

func TestPostgresDropsDatabaseAtCleanup(t *testing.T) {
	t.Parallel()
	var dsn string
	t.Run("user", func(t *testing.T) {
		dsn = Postgres(t)
		// An open connection must not keep the database from being dropped.
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn // left open on purpose
	})
	if dsn == "" {
		t.Skip("no database was created")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv(EnvPostgresDSN))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", cfg.Database).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", cfg.Database)
	}
}

func TestDatabaseName(t *testing.T) {
	a, err := databaseName("TestStore/Open incidents, by site (PostgreSQL)/" + strings.Repeat("x", 100))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := databaseName("TestStore/Open incidents, by site (PostgreSQL)/" + strings.Repeat("x", 100))
	if a == b {
		t.Errorf("two calls gave the same name %q", a)
	}
	if len(a) > 63 {
		t.Errorf("name %q is %d bytes, PostgreSQL allows 63", a, len(a))
	}
	if strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("name %q needs quoting", a)
	}
	if !strings.HasPrefix(a, "fgtest_teststore_open_incidents") {
		t.Errorf("name %q does not start with the test name", a)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5433/fgtest_x?sslmode=disable"},
		{"postgresql://u:p%40ss@db:5432?sslmode=disable", "postgresql://u:p%40ss@db:5432/fgtest_x?sslmode=disable"},
		{"host=127.0.0.1 port=5433 user=postgres dbname=postgres", "host=127.0.0.1 port=5433 user=postgres dbname=postgres dbname=fgtest_x"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.dsn, "fgtest_x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			continue
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil {
			t.Errorf("pgx cannot read %q: %v", got, err)
		} else if cfg.Database != "fgtest_x" {
			t.Errorf("pgx reads %q as database %q, want fgtest_x", got, cfg.Database)
		}
	}
}
