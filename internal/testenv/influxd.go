package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// influxdStartTimeout bounds how long influxd may take to start.
const influxdStartTimeout = 60 * time.Second

// Influxd starts a private InfluxDB 1.8 server for the test and returns its
// HTTP URL, "http://127.0.0.1:PORT". Data, meta and WAL live in the test's
// temporary directory; Flux and the v2-compatible API (/api/v2/write with
// bucket "db/rp", /api/v2/query) are enabled; authentication is off, so
// any token, or none, is accepted. The server is killed when the test ends.
//
// The binary is FIREGRID_INFLUXD, else influxd in the bin directory of
// the ./scripts/test.sh cache, else influxd on PATH; it must be 1.8 (2.x
// takes another configuration). Without it the test is skipped, or fails
// when FIREGRID_REQUIRE_SERVICES=1.
//
// With Flux, influxd 1.8 takes 5 to 8 seconds of CPU to start (it prepares
// the Flux standard library); a test that only writes, or reads with
// InfluxQL (POST /query), starts in a tenth of a second with WithoutFlux.
func Influxd(t testing.TB, opts ...InfluxdOption) string {
	t.Helper()
	s := StartInfluxd(t, opts...)
	if s == nil {
		return ""
	}
	return s.URL
}

// InfluxdServer is an influxd started by StartInfluxd, which a test may
// stop and start again (an outage) on the same port and data.
type InfluxdServer struct {
	// URL is "http://127.0.0.1:PORT"; it stays the same across restarts.
	URL string

	t        testing.TB
	bin      string
	conf     string
	dir      string
	p        *process
	restarts int
}

// StartInfluxd is Influxd returning a handle with Stop and Start; nil when
// the test was skipped.
func StartInfluxd(t testing.TB, opts ...InfluxdOption) *InfluxdServer {
	t.Helper()
	cfg := influxdOptions{flux: true}
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := influxdBinary()
	if err != nil {
		unavailable(t, "influxd 1.8", err.Error())
		return nil
	}
	if err := checkInfluxdVersion(bin); err != nil {
		unavailable(t, "influxd 1.8", err.Error())
		return nil
	}

	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		httpPort, rpcPort := FreePort(t), FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("influxd-%d.conf", attempt))
		if err := os.WriteFile(conf, []byte(influxdConfig(dir, httpPort, rpcPort, cfg.flux)), 0o644); err != nil {
			t.Fatalf("testenv: write influxd config: %v", err)
			return nil
		}
		logPath := filepath.Join(dir, fmt.Sprintf("influxd-%d.log", attempt))
		p, err := startProcess(t, "influxd", logPath, bin, "run", "-config", conf)
		if err != nil {
			t.Fatalf("testenv: %v", err)
			return nil
		}
		url := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		poll(influxdStartTimeout, func() bool { return p.exited() || pingInfluxd(url) == nil })
		switch {
		case !p.exited() && pingInfluxd(url) == nil:
			return &InfluxdServer{URL: url, t: t, bin: bin, conf: conf, dir: dir, p: p}
		case p.exited() && p.addrInUse() && attempt < startAttempts:
			t.Logf("testenv: an influxd port (%d or %d) was taken, trying others", httpPort, rpcPort)
			continue
		case p.exited():
			t.Fatalf("testenv: influxd did not start: %v", p.exitError())
			return nil
		default:
			t.Fatalf("testenv: influxd does not answer %s/ping after %v: %v; log:\n%s",
				url, influxdStartTimeout, pingInfluxd(url), p.log())
			return nil
		}
	}
}

// Stop kills the server, as a crash or a pulled cable would; what it had
// acknowledged is in its WAL (fsynced on every write) and survives.
func (s *InfluxdServer) Stop() {
	s.p.stop()
}

// Start starts a stopped server again with its configuration and data, and
// waits until it answers; the test fails if it does not (for example when
// another process took its port meanwhile).
func (s *InfluxdServer) Start() {
	s.t.Helper()
	if !s.p.exited() {
		return
	}
	s.restarts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("influxd-restart-%d.log", s.restarts))
	p, err := startProcess(s.t, "influxd", logPath, s.bin, "run", "-config", s.conf)
	if err != nil {
		s.t.Fatalf("testenv: %v", err)
		return
	}
	s.p = p
	poll(influxdStartTimeout, func() bool { return p.exited() || pingInfluxd(s.URL) == nil })
	if p.exited() || pingInfluxd(s.URL) != nil {
		s.t.Fatalf("testenv: influxd did not start again on %s: %v; log:\n%s", s.URL, pingInfluxd(s.URL), p.log())
	}
}

// pingInfluxd returns nil once GET /ping answers 204 No Content.
func pingInfluxd(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("GET /ping: %s", resp.Status)
	}
	return nil
}

// checkInfluxdVersion refuses an influxd that is not 1.x: 2.x ignores
// the configuration Influxd writes. A 1.x build without version stamps
// says "vunknown" and is accepted.
func checkInfluxdVersion(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	v := strings.TrimSpace(string(out))
	if !strings.HasPrefix(v, "InfluxDB v1.") && !strings.HasPrefix(v, "InfluxDB vunknown") {
		return fmt.Errorf("%s is %q, want InfluxDB v1.8", bin, v)
	}
	return nil
}

// influxdConfig is the server configuration for tests: everything in dir,
// loopback only, no background services that tests do not need, and only
// warnings logged (to the log file shown when a test fails).
func influxdConfig(dir string, httpPort, rpcPort int, flux bool) string {
	return fmt.Sprintf(`# Generated for one test by internal/testenv.
reporting-disabled = true
bind-address = "127.0.0.1:%[3]d"

[meta]
  dir = %[1]q
  logging-enabled = false

[data]
  dir = %[4]q
  wal-dir = %[5]q
  wal-fsync-delay = "0s"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%[2]d"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  write-tracing = false
  flux-enabled = %[6]t
  flux-log-enabled = false
  pprof-enabled = false

[logging]
  format = "logfmt"
  level = "warn"
  suppress-logo = true
`, filepath.Join(dir, "meta"), httpPort, rpcPort, filepath.Join(dir, "data"), filepath.Join(dir, "wal"), flux)
}

// InfluxdOption changes the server Influxd starts.
type InfluxdOption func(*influxdOptions)

type influxdOptions struct {
	flux bool
}

// WithoutFlux starts influxd with Flux, and so /api/v2/query, disabled,
// which makes it start in a fraction of a second instead of several.
// Writes through /api/v2/write and InfluxQL through /query still work.
func WithoutFlux() InfluxdOption {
	return func(o *influxdOptions) { o.flux = false }
}

// influxdBinary finds influxd: FIREGRID_INFLUXD if set, else the one
// ./scripts/test.sh built into its cache (preferred to PATH, which may hold
// another major version), else PATH.
func influxdBinary() (string, error) {
	if os.Getenv(EnvInfluxd) == "" {
		if dir := cacheDir(); dir != "" {
			if p := filepath.Join(dir, "bin", "influxd"); isExecutable(p) {
				return p, nil
			}
		}
	}
	return findBinary(EnvInfluxd, "influxd")
}

// InfluxQL runs an InfluxQL statement (POST /query) against database db
// of an InfluxDB 1.8 server and returns the rows of every series as maps
// from column (and tag, with GROUP BY) to value; the test fails on an
// error.
func InfluxQL(t testing.TB, url, db, q string) []map[string]any {
	t.Helper()
	resp, err := http.PostForm(url+"/query", neturl.Values{"db": {db}, "q": {q}})
	if err != nil {
		t.Fatalf("testenv: influxql %s: %v", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("testenv: influxql %s: %s: %v", q, resp.Status, err)
	}
	if out.Error != "" {
		t.Fatalf("testenv: influxql %s: %s", q, out.Error)
	}
	var rows []map[string]any
	for _, r := range out.Results {
		if r.Error != "" {
			t.Fatalf("testenv: influxql %s: %s", q, r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				row := map[string]any{}
				for k, tv := range s.Tags {
					row[k] = tv
				}
				for i, c := range s.Columns {
					row[c] = v[i]
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}
