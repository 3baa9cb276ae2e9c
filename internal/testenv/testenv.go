// Package testenv gives firegrid's tests the real servers they run against
// (Mosquitto, PostgreSQL, InfluxDB 1.8) and the small helpers that go with
// them: free loopback ports and a polling helper instead of sleeps.
//
// It is imported by tests only. Each server helper starts (or, for
// PostgreSQL, carves out) a private instance for one test on a free
// 127.0.0.1 port, waits until it answers, and removes it in t.Cleanup; on
// failure the test's log shows the server's own log.
//
// A helper whose server is not available skips the test with a message
// pointing at ./scripts/test.sh, which installs and starts everything; when
// FIREGRID_REQUIRE_SERVICES=1 (as the script and CI set it) it fails the
// test instead, so a missing service can never pass unnoticed.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvRequireServices, set to 1, turns every "service not available"
	// skip into a failure.
	EnvRequireServices = "FIREGRID_REQUIRE_SERVICES"
	// EnvMosquitto names the mosquitto binary; otherwise PATH and the
	// usual sbin directories are searched.
	EnvMosquitto = "FIREGRID_MOSQUITTO"
	// EnvInfluxd names the InfluxDB 1.8 influxd binary; otherwise the
	// cache ./scripts/test.sh builds into, then PATH, are searched.
	EnvInfluxd = "FIREGRID_INFLUXD"
	// EnvPostgresDSN is the DSN of a PostgreSQL server on which tests may
	// create and drop databases.
	EnvPostgresDSN = "FIREGRID_TEST_PG_DSN"
	// EnvCache is the cache directory of ./scripts/test.sh (default
	// $HOME/.cache/firegrid); influxd is looked for in its bin directory.
	EnvCache = "FIREGRID_CACHE"
)

// pollInterval bounds the wait between two polls of a condition.
const (
	minPollInterval = 2 * time.Millisecond
	maxPollInterval = 100 * time.Millisecond
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the caller binds it; the server
// helpers of this package retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	return port
}

// FreeAddr returns "127.0.0.1:PORT" for a port from FreePort.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Eventually calls cond until it returns true, and fails the test with
// msgAndArgs (a format string and its arguments) if that has not happened
// within timeout. cond is always called at least once, and once more at the
// deadline. The wait between calls starts at a few milliseconds and grows to
// 100 ms, so a fast condition costs little and a slow one does not spin.
// The arguments are evaluated when Eventually is called, so a value that
// the wait changes shows there as it was before it; say what was expected.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	if poll(timeout, cond) {
		return
	}
	t.Fatalf("testenv: condition not met within %v: %s", timeout, message(msgAndArgs))
}

// poll reports whether cond became true within timeout.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := minPollInterval
	for {
		if cond() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(wait, left))
		wait = min(wait*2, maxPollInterval)
	}
}

func message(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return "(no message)"
	}
	if format, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(format, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

// WaitTCP waits until addr accepts TCP connections, and fails the test if it
// does not within timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	var last error
	ok := poll(timeout, func() bool {
		last = dialTCP(addr)
		return last == nil
	})
	if !ok {
		t.Fatalf("testenv: %s does not accept connections after %v: %v", addr, timeout, last)
	}
}

func dialTCP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// servicesRequired reports whether a missing service must fail the test.
func servicesRequired() bool {
	return os.Getenv(EnvRequireServices) == "1"
}

// unavailable skips the test, or fails it when services are required,
// saying why the service is missing and how to get it.
func unavailable(t testing.TB, service, why string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s not available: %s (run ./scripts/test.sh, which installs and starts the test services)", service, why)
	if servicesRequired() {
		t.Fatalf("%s; %s=1 makes this a failure", msg, EnvRequireServices)
		return
	}
	t.Skip(msg)
}

// findBinary returns the path of a binary: the one named by the environment
// variable env if that is set (and then it must exist), else name on PATH,
// else the first of the fallback paths that is an executable file.
func findBinary(env, name string, fallbacks ...string) (string, error) {
	if p := os.Getenv(env); env != "" && p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s is not an executable file", env, p)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if isExecutable(p) {
			return p, nil
		}
	}
	if env == "" {
		return "", fmt.Errorf("%s not found on PATH", name)
	}
	return "", fmt.Errorf("%s not found (set %s or put it on PATH)", name, env)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// cacheDir returns the cache directory of ./scripts/test.sh, or "" if it
// cannot be known.
func cacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "firegrid")
}

// Binary returns the path of a command-line tool a test needs (for example
// mosquitto_sub, kcat or chromium), looked for on PATH and in /usr/sbin and
// /usr/local/sbin. Without it the test is skipped, or fails when
// FIREGRID_REQUIRE_SERVICES=1; ./scripts/test.sh installs the tools the
// tests use.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := findBinary("", name, "/usr/sbin/"+name, "/usr/local/sbin/"+name)
	if err != nil {
		unavailable(t, name, "not on PATH")
		return ""
	}
	return p
}
