package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresClusterOutage: a cluster of the test's own answers, stops
// (and then refuses connections), and starts again on the same DSN with
// what was committed before the stop.
func TestPostgresClusterOutage(t *testing.T) {
	t.Parallel()
	c := StartPostgresCluster(t)
	exec := func(sql string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TABLE kept (n int)")
	exec("INSERT INTO kept VALUES (42)")
	c.Stop()
	if err := c.Ping(); err == nil {
		t.Fatal("the stopped cluster answers")
	}
	c.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 42 {
		t.Errorf("after the restart: %d, %v; want the row committed before the stop", n, err)
	}
}
