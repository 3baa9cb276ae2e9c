package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresBin names the directory of initdb and pg_ctl; otherwise the
// newest /usr/lib/postgresql/N/bin, then PATH, are searched (as
// ./scripts/test.sh does).
const EnvPostgresBin = "FIREGRID_PG_BIN"

// pgStartTimeout bounds how long the cluster may take to start or stop.
const pgStartTimeout = 60 * time.Second

// PostgresCluster is a PostgreSQL cluster of one test's own, which the test
// may stop and start again (an outage) on the same port and data: unlike
// Postgres, which carves a database out of the server other tests share.
type PostgresCluster struct {
	// DSN reaches the cluster's postgres database as the superuser
	// postgres; it stays the same across restarts.
	DSN string

	t    testing.TB
	bin  string
	dir  string // the cluster's directory: data, log, socket
	port int
	run  []string // the command prefix that runs as postgres
}

// StartPostgresCluster makes a cluster with initdb in the test's temporary
// directory and starts it with pg_ctl on a free 127.0.0.1 port, the way
// ./scripts/test.sh starts the shared one: as root, through runuser -u
// postgres (PostgreSQL refuses to run as root). Unlike that one it keeps
// fsync on, so that a stop loses nothing it committed. The cluster is
// stopped and removed when the test ends. Without the server binaries the
// test is skipped, or fails when FIREGRID_REQUIRE_SERVICES=1.
func StartPostgresCluster(t testing.TB) *PostgresCluster {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		unavailable(t, "PostgreSQL server (initdb, pg_ctl)", err.Error())
		return nil
	}
	c := &PostgresCluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			unavailable(t, "PostgreSQL server", "running as root and there is no user postgres to run it as")
			return nil
		}
		runuser, err := findBinary("", "runuser", "/usr/sbin/runuser", "/sbin/runuser")
		if err != nil {
			unavailable(t, "PostgreSQL server", "running as root and runuser is missing: "+err.Error())
			return nil
		}
		c.run = []string{runuser, "-u", "postgres", "--"}
	}
	// Not t.TempDir: postgres must be able to enter every directory on
	// the way, and the test's directories are root's.
	c.dir, err = os.MkdirTemp("", "firegrid-pgcluster-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
		return nil
	}
	t.Cleanup(func() { os.RemoveAll(c.dir) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres:", c.dir).CombinedOutput(); err != nil {
			t.Fatalf("testenv: chown the cluster's directory to postgres: %v: %s", err, out)
			return nil
		}
	}
	if out, err := c.command("initdb", "--pgdata="+c.data(), "--username=postgres", "--auth=trust",
		"--encoding=UTF8", "--no-locale").CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
		return nil
	}
	for attempt := 1; ; attempt++ {
		// Below the kernel's ephemeral range, where FreePort (port 0)
		// does not hand it out while the cluster is stopped.
		c.port = 20000 + rand.IntN(12000)
		if dialTCP(fmt.Sprintf("127.0.0.1:%d", c.port)) == nil {
			continue
		}
		err := c.start()
		if err == nil {
			break
		}
		if attempt == startAttempts {
			t.Fatalf("testenv: %v", err)
			return nil
		}
		t.Logf("testenv: PostgreSQL did not start on port %d, trying another: %v", c.port, err)
	}
	c.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath())
			if len(b) > logTail {
				b = b[len(b)-logTail:]
			}
			t.Logf("testenv: PostgreSQL cluster log (%s):\n%s", c.logPath(), b)
		}
		_ = c.command("pg_ctl", "--pgdata="+c.data(), "--mode=immediate", "--wait", "--silent", "stop").Run()
	})
	return c
}

func (c *PostgresCluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *PostgresCluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// command runs one of the server's programs, as postgres when we are root.
func (c *PostgresCluster) command(program string, args ...string) *exec.Cmd {
	argv := append(slices.Clone(c.run), filepath.Join(c.bin, program))
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *PostgresCluster) start() error {
	opts := "-p " + strconv.Itoa(c.port) + " -c listen_addresses=127.0.0.1 -k " + c.dir + " -c max_connections=200"
	out, err := c.command("pg_ctl", "--pgdata="+c.data(), "--log="+c.logPath(), "--wait",
		"--timeout="+strconv.Itoa(int(pgStartTimeout/time.Second)), "--silent", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(c.logPath())
		if len(log) > 2048 {
			log = log[len(log)-2048:]
		}
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	return nil
}

// Stop shuts the cluster down (pg_ctl stop, fast mode: connections are
// ended, what was committed is on the disk), as an administrator does.
func (c *PostgresCluster) Stop() {
	c.t.Helper()
	out, err := c.command("pg_ctl", "--pgdata="+c.data(), "--mode=fast", "--wait",
		"--timeout="+strconv.Itoa(int(pgStartTimeout/time.Second)), "--silent", "stop").CombinedOutput()
	if err != nil {
		c.t.Fatalf("testenv: pg_ctl stop: %v: %s", err, out)
	}
}

// Start starts a stopped cluster again on its port and waits until it
// takes connections; the test fails if it does not.
func (c *PostgresCluster) Start() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatalf("testenv: start PostgreSQL again on port %d: %v", c.port, err)
	}
}

// Ping reports whether the cluster takes a connection and a query now.
func (c *PostgresCluster) Ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// postgresBinDir finds initdb and pg_ctl: FIREGRID_PG_BIN, else the newest
// /usr/lib/postgresql/N/bin, else the directory of pg_ctl on PATH.
func postgresBinDir() (string, error) {
	if d := os.Getenv(EnvPostgresBin); d != "" {
		if !isExecutable(filepath.Join(d, "pg_ctl")) {
			return "", fmt.Errorf("%s=%s holds no pg_ctl", EnvPostgresBin, d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestVersion && isExecutable(filepath.Join(d, "initdb")) {
			best, bestVersion = d, v
		}
	}
	if best != "" {
		return best, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no /usr/lib/postgresql/N/bin and no pg_ctl on PATH (set %s)", EnvPostgresBin)
}
