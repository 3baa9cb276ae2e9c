package testenv

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recordingTB stands in for a test so that a helper's failure can be
// observed instead of ending the real test.
type recordingTB struct {
	testing.TB
	fatal string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

func TestFreePortIsBindable(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d, want a TCP port", port)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("FreeAddr() = %q, want 127.0.0.1:PORT", addr)
	}
}

func TestEventuallyPollsUntilTrue(t *testing.T) {
	var calls atomic.Int32
	Eventually(t, 5*time.Second, func() bool { return calls.Add(1) >= 3 }, "three calls")
	if got := calls.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3", got)
	}
}

func TestEventuallyFailsWithMessage(t *testing.T) {
	rec := &recordingTB{TB: t}
	start := time.Now()
	var calls int
	Eventually(rec, 50*time.Millisecond, func() bool { calls++; return false }, "device %s never seen", "smk-1")
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("Eventually gave up after %v, want about 50ms", elapsed)
	}
	if calls < 2 {
		t.Errorf("cond called %d times, want at least 2 (first and at the deadline)", calls)
	}
	if !strings.Contains(rec.fatal, "device smk-1 never seen") || !strings.Contains(rec.fatal, "50ms") {
		t.Errorf("failure message = %q, want the formatted message and the timeout", rec.fatal)
	}
}

func TestEventuallyZeroTimeoutCallsOnce(t *testing.T) {
	rec := &recordingTB{TB: t}
	var calls int
	Eventually(rec, 0, func() bool { calls++; return true })
	if calls != 1 || rec.fatal != "" {
		t.Fatalf("calls = %d, failure = %q; want one call and no failure", calls, rec.fatal)
	}
}

func TestWaitTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	WaitTCP(t, l.Addr().String(), 5*time.Second)
}

func TestWaitTCPFailsOnClosedPort(t *testing.T) {
	rec := &recordingTB{TB: t}
	addr := FreeAddr(t)
	WaitTCP(rec, addr, 30*time.Millisecond)
	if !strings.Contains(rec.fatal, addr) {
		t.Fatalf("failure message = %q, want it to name %s", rec.fatal, addr)
	}
}

func TestUnavailableSkipsUnlessRequired(t *testing.T) {
	t.Run("skip", func(t *testing.T) {
		t.Setenv(EnvRequireServices, "")
		ran := make(chan bool, 1)
		// Run the helper in a subtest, whose Skipped says what it did.
		t.Run("inner", func(t *testing.T) {
			defer func() { ran <- t.Skipped() }()
			unavailable(t, "thing", "not installed")
		})
		if !<-ran {
			t.Fatal("unavailable did not skip without " + EnvRequireServices)
		}
	})
	t.Run("fatal", func(t *testing.T) {
		t.Setenv(EnvRequireServices, "1")
		rec := &recordingTB{TB: t}
		unavailable(rec, "thing", "not installed")
		if !strings.Contains(rec.fatal, "not installed") || !strings.Contains(rec.fatal, "./scripts/test.sh") {
			t.Fatalf("failure message = %q, want the reason and the script", rec.fatal)
		}
	})
}

func TestFindBinary(t *testing.T) {
	t.Setenv("FIREGRID_TESTENV_NOPE", "")
	if _, err := findBinary("FIREGRID_TESTENV_NOPE", "firegrid-no-such-binary"); err == nil {
		t.Error("findBinary found a binary that does not exist")
	}
	t.Setenv("FIREGRID_TESTENV_NOPE", "/nonexistent/bin/thing")
	if _, err := findBinary("FIREGRID_TESTENV_NOPE", "sh"); err == nil {
		t.Error("findBinary ignored a configured path that does not exist")
	}
	t.Setenv("FIREGRID_TESTENV_NOPE", "")
	if p, err := findBinary("FIREGRID_TESTENV_NOPE", "sh"); err != nil || p == "" {
		t.Errorf("findBinary(sh) = %q, %v; want it found on PATH", p, err)
	}
}
