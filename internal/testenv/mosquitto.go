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
func Mosquitto(t testing.TB, opts ...MosquittoOption) string {
	t.Helper()
	s := StartMosquitto(t, opts...)
	if s == nil {
		return ""
	}
	return s.URL
}

// MosquittoServer is a broker started by StartMosquitto, which a test may
// stop and start again on the same port and directory: with persistence
// on (WithMosquittoConfig("persistence true ...")) a graceful restart
// keeps its sessions and the messages queued for them.
type MosquittoServer struct {
	// URL is "tcp://127.0.0.1:PORT"; it stays the same across restarts.
	URL string

	t        testing.TB
	bin      string
	conf     string
	dir      string
	p        *process
	restarts int
}

// StartMosquitto is Mosquitto returning a handle with Stop, Kill and
// Start; nil when the test was skipped.
func StartMosquitto(t testing.TB, opts ...MosquittoOption) *MosquittoServer {
	t.Helper()
	var cfg mosquittoOptions
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := findBinary(EnvMosquitto, "mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
	if err != nil {
		unavailable(t, "mosquitto", err.Error())
		return nil
	}
	dir := t.TempDir()
	for name, content := range cfg.files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatalf("testenv: write %s for mosquitto: %v", name, err)
			return nil
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatalf("testenv: write %s for mosquitto: %v", name, err)
			return nil
		}
	}
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.conf", attempt))
		if err := os.WriteFile(conf, []byte(mosquittoConfig(t, port, cfg.extra)), 0o644); err != nil {
			t.Fatalf("testenv: write mosquitto config: %v", err)
			return nil
		}
		logPath := filepath.Join(dir, fmt.Sprintf("mosquitto-%d.log", attempt))
		p, err := startProcess(t, "mosquitto", logPath, bin, "-c", conf)
		if err != nil {
			t.Fatalf("testenv: %v", err)
			return nil
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		waitMosquitto(p, addr)
		switch {
		case mosquittoUp(p, addr):
			return &MosquittoServer{URL: "tcp://" + addr, t: t, bin: bin, conf: conf, dir: dir, p: p}
		case p.exited() && p.addrInUse() && attempt < startAttempts:
			t.Logf("testenv: mosquitto port %d was taken, trying another", port)
			continue
		case p.exited():
			t.Fatalf("testenv: mosquitto did not start: %v", p.exitError())
			return nil
		default:
			t.Fatalf("testenv: mosquitto not listening on %s after %v; log:\n%s", addr, mosquittoStartTimeout, p.log())
			return nil
		}
	}
}

// Ready means our broker says it runs (so the port is ours, not another
// process's) and the port accepts connections.
func mosquittoUp(p *process, addr string) bool {
	return !p.exited() && strings.Contains(p.log(), " running") && dialTCP(addr) == nil
}

func waitMosquitto(p *process, addr string) {
	poll(mosquittoStartTimeout, func() bool { return p.exited() || mosquittoUp(p, addr) })
}

// Stop stops the broker as an administrator does (SIGTERM): with
// persistence on, it writes its sessions and queued messages to disk
// before it exits.
func (s *MosquittoServer) Stop() { s.p.terminate(mosquittoStartTimeout) }

// Kill kills the broker (SIGKILL): it keeps only what its last autosave
// wrote.
func (s *MosquittoServer) Kill() { s.p.stop() }

// Start starts a stopped broker again with its configuration and
// directory on its port, and waits until it runs; the test fails if it
// does not.
func (s *MosquittoServer) Start() {
	s.t.Helper()
	if !s.p.exited() {
		return
	}
	s.restarts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("mosquitto-restart-%d.log", s.restarts))
	p, err := startProcess(s.t, "mosquitto", logPath, s.bin, "-c", s.conf)
	if err != nil {
		s.t.Fatalf("testenv: %v", err)
		return
	}
	s.p = p
	addr := strings.TrimPrefix(s.URL, "tcp://")
	waitMosquitto(p, addr)
	if !mosquittoUp(p, addr) {
		s.t.Fatalf("testenv: mosquitto did not start again on %s; log:\n%s", addr, p.log())
	}
}

// Log returns the end of the running broker's log.
func (s *MosquittoServer) Log() string { return s.p.log() }

// mosquittoConfig is the broker configuration for tests: one loopback
// listener, anonymous access, no persistence, and limits high enough that
// load tests measure firegrid rather than the broker's defaults (20 QoS 1
// messages in flight and 1000 queued per client). The lines of extra
// replace the generated lines of the same options (mosquitto refuses most
// options twice), except listener and log_dest, which the helper needs.
func mosquittoConfig(t testing.TB, port int, extra string) string {
	generated := []string{
		"per_listener_settings false",
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"allow_anonymous true",
		"persistence false",
		"max_inflight_messages 1000",
		"max_queued_messages 100000",
		"max_packet_size 1048576",
		"set_tcp_nodelay true",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
		"log_type information",
		"connection_messages true",
		"log_timestamp true",
		"log_timestamp_format %Y-%m-%dT%H:%M:%S",
	}
	// Started as root, mosquitto changes to the user mosquitto, which
	// cannot read the files of a test's private directory (a password
	// file, an ACL file): a test broker keeps root's rights.
	if os.Geteuid() == 0 {
		generated = append(generated, "user root")
	}
	kept := map[string]bool{"listener": true, "log_dest": true}
	replaced := map[string]bool{}
	var added []string
	for _, line := range strings.Split(extra, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key := optionKey(line)
		if kept[key] {
			t.Logf("testenv: mosquitto: ignoring %q: the helper sets %s", line, key)
			continue
		}
		replaced[key] = true
		added = append(added, line)
	}
	var b strings.Builder
	b.WriteString("# Generated for one test by internal/testenv.\n")
	for _, line := range generated {
		if !replaced[optionKey(line)] {
			b.WriteString(line + "\n")
		}
	}
	if len(added) > 0 {
		b.WriteString("# From the test.\n")
		b.WriteString(strings.Join(added, "\n") + "\n")
	}
	return b.String()
}

// optionKey is the option name of a mosquitto configuration line.
func optionKey(line string) string {
	key, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return key
}

// MosquittoOption changes the broker Mosquitto starts.
type MosquittoOption func(*mosquittoOptions)

type mosquittoOptions struct {
	extra string
	files map[string][]byte
}

// WithMosquittoFile writes a file (a password file, an ACL file, a
// certificate) into the broker's directory (name may hold
// subdirectories), where configuration lines given with
// WithMosquittoConfig name it by its relative name.
func WithMosquittoFile(name string, content []byte) MosquittoOption {
	return func(o *mosquittoOptions) {
		if o.files == nil {
			o.files = map[string][]byte{}
		}
		o.files[name] = content
	}
}

// WithMosquittoConfig adds configuration lines, for example password_file
// and acl_file for authentication tests. An option given here replaces the
// helper's lines for it (all of them, for a repeated option such as
// log_type), except listener and log_dest, which stay the helper's.
// Relative paths are taken from the test's temporary directory. A line that
// mosquitto does not accept makes the broker exit, and the test fails
// showing why.
func WithMosquittoConfig(lines string) MosquittoOption {
	return func(o *mosquittoOptions) {
		o.extra += lines + "\n"
	}
}
