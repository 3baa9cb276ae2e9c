package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mosquittoStartTimeout bounds how long a broker may take to start.
const mosquittoStartTimeout = 15 * time.Second

// Mosquitto starts a private mosquitto broker for the test on a free
// 127.0.0.1 port and returns its URL, "tcp://127.0.0.1:PORT", which paho and
// firegrid's --mqtt-url accept. The broker allows anonymous clients, keeps
// nothing on disk, and is killed when the test ends.
//
// The binary is FIREGRID_MOSQUITTO, else mosquitto on PATH or in
// /usr/sbin or /usr/local/sbin. Without it the test is skipped, or fails
// when FIREGRID_REQUIRE_SERVICES=1.
func Mosquitto(t testing.TB) string {
	t.Helper()
	bin, err := findBinary(EnvMosquitto, "mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
	if err != nil {
		unavailable(t, "mosquitto", err.Error())
	}
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", attempt))
		if err := os.WriteFile(conf, []byte(mosquittoConfig(port)), 0o644); err != nil {
			t.Fatalf("testenv: write mosquitto config: %v", err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.log", attempt))
		p, err := startProcess(t, "mosquitto", logPath, bin, "-c", conf)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		// Ready means our broker says it runs (so the port is ours, not
		// another process's) and the port accepts connections.
		poll(mosquittoStartTimeout, func() bool {
			return p.exited() || (strings.Contains(p.log(), " running") && dialTCP(addr) == nil)
		})
		switch {
		case !p.exited() && strings.Contains(p.log(), " running") && dialTCP(addr) == nil:
			return "tcp://" + addr
		case p.exited() && p.addrInUse() && attempt < startAttempts:
			t.Logf("testenv: mosquitto port %d was taken, trying another", port)
			continue
		case p.exited():
			t.Fatalf("testenv: mosquitto did not start: %v", p.exitError())
		default:
			t.Fatalf("testenv: mosquitto not listening on %s after %v; log:\n%s", addr, mosquittoStartTimeout, p.log())
		}
	}
}

// mosquittoConfig is the broker configuration for tests: one loopback
// listener, anonymous access, no persistence, and limits high enough that
// load tests measure firegrid rather than the broker's defaults (20 QoS 1
// messages in flight and 1000 queued per client).
func mosquittoConfig(port int) string {
	return fmt.Sprintf(`# Generated for one test by internal/testenv.
per_listener_settings false
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 100000
max_packet_size 1048576
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp true
log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S
`, port)
}
