package assembly

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
)

// TestMain removes the binaries the tests built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// builds are the commands the tests built, once per test binary run, for
// the tests that run them as separate processes.
var builds struct {
	mu   sync.Mutex
	dir  string
	path map[string]string
}

// binary builds the command of package pkg (relative to the module, e.g.
// ./cmd/firegrid) once and returns its path.
func binary(t testing.TB, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if p := builds.path[pkg]; p != "" {
		return p
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	if builds.dir == "" {
		if builds.dir, err = os.MkdirTemp("", "firegrid-bin-"); err != nil {
			t.Fatal(err)
		}
		builds.path = map[string]string{}
	}
	out := filepath.Join(builds.dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	builds.path[pkg] = out
	return out
}

// firegridBinary builds cmd/firegrid (once) and returns its path.
func firegridBinary(t testing.TB) string { return binary(t, "./cmd/firegrid") }

// procCluster runs the scale-out roles as separate firegrid processes on
// an in-process Kafka (kfake, which the roles reach over TCP), a real
// Mosquitto and a real PostgreSQL database.
type procCluster struct {
	t       *testing.T
	bin     string
	mqtt    string
	brokers []string
	pg      string
	dir     string
}

// Partitions of the topics in procCluster's configuration.
const (
	procTelemetryPartitions = 4
	procSignalsPartitions   = 2
)

func newProcCluster(t *testing.T) *procCluster {
	t.Helper()
	c := &procCluster{t: t, mqtt: testenv.Mosquitto(t), pg: testenv.Postgres(t), brokers: testenv.Kafka(t), dir: t.TempDir()}
	c.bin = firegridBinary(t)
	return c
}

// config writes a configuration file for the roles and returns its path.
// A member that stops heartbeating is out of its group within two
// seconds; handled offsets are committed every commitInterval.
func (c *procCluster) config(name string, commitInterval time.Duration) string {
	c.t.Helper()
	yaml := fmt.Sprintf(`log:
  level: info
  format: json
kafka:
  topics:
    telemetry: {partitions: %d}
    events: {partitions: %[1]d}
    signals: {partitions: %d}
    incidents: {partitions: 2}
  heartbeat_interval: 200ms
  session_timeout: 2s
  rebalance_timeout: 2s
  commit_interval: %s
`, procTelemetryPartitions, procSignalsPartitions, commitInterval)
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// roleProc is one role instance running as its own process.
type roleProc struct {
	t        *testing.T
	instance string
	prog     *testenv.Program
	http     string
}

// start starts a role instance with a configuration file; the services'
// addresses and the instance name are flags, as a deployment gives them.
func (c *procCluster) start(role, instance, config string) *roleProc {
	c.t.Helper()
	prog := testenv.StartProgram(c.t, instance, c.bin, role, "--config", config, "--http", "127.0.0.1:0",
		"--instance", instance, "--kafka", strings.Join(c.brokers, ","), "--postgres", c.pg, "--mqtt-url", c.mqtt)
	return &roleProc{t: c.t, instance: instance, prog: prog}
}

// logEntries returns the JSON log lines the instance has written so far.
func (r *roleProc) logEntries() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.prog.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// alive fails the test if the instance has exited.
func (r *roleProc) alive() {
	r.t.Helper()
	if r.prog.Exited() {
		r.t.Fatalf("%s: %v", r.instance, r.prog.ExitError())
	}
}

// waitUp waits until the instance says it is up and answers /healthz.
func (r *roleProc) waitUp(timeout time.Duration) {
	r.t.Helper()
	testenv.Eventually(r.t, timeout, func() bool {
		r.alive()
		for _, e := range r.logEntries() {
			if e["msg"] == "firegrid role is up" {
				r.http, _ = e["http"].(string)
			}
		}
		return r.http != "" && getJSON(r.t, "http://"+r.http+"/healthz", nil) == 200
	}, "%s up and healthy", r.instance)
}

// assigned returns the partitions of the instance's last assignment in
// consumer group group.
func (r *roleProc) assigned(group string) int {
	n := 0
	for _, e := range r.logEntries() {
		if e["msg"] == "partitions assigned" && e["group"] == group {
			ps, _ := e["partitions"].([]any)
			n = len(ps)
		}
	}
	return n
}

// waitAssigned waits until the instance owns all n partitions of group.
func (r *roleProc) waitAssigned(group string, n int, timeout time.Duration) {
	r.t.Helper()
	testenv.Eventually(r.t, timeout, func() bool {
		r.alive()
		return r.assigned(group) == n
	}, "%s owns the %d partitions of %s", r.instance, n, group)
}

// incidents lists every incident through the alarm role's API (with no
// users configured it is open).
func (r *roleProc) incidents() []*contract.Incident {
	r.t.Helper()
	var resp struct {
		Incidents []*contract.Incident `json:"incidents"`
	}
	if code := getJSON(r.t, "http://"+r.http+"/api/v1/incidents?status=all&limit=1000", &resp); code != 200 {
		r.t.Fatalf("%s: list incidents: HTTP %d", r.instance, code)
	}
	return resp.Incidents
}

// lag returns how many records of topic group has not committed yet:
// zero once every record has been handled and its offset committed.
func (c *procCluster) lag(group, topic string, partitions int) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.brokers...), Timeout: 5 * time.Second}
	ids := make([]int, partitions)
	ends := make([]kafka.OffsetRequest, partitions)
	for p := range ids {
		ids[p], ends[p] = p, kafka.LastOffsetOf(p)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		c.t.Fatalf("offsets of %s: %v", group, err)
	}
	end, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ends}})
	if err != nil {
		c.t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var lag int64
	for _, po := range end.Topics[topic] {
		lag += po.LastOffset
	}
	for _, o := range committed.Topics[topic] {
		lag -= max(o.CommittedOffset, 0)
	}
	return lag
}

// TestScaleOutSIGKILLRolesLoseNothing: the rules and alarm roles run as
// separate processes and are killed with SIGKILL in the middle of a
// stream of alarms from distinct sites: no shutdown, no offset commit.
// New instances take over the consumer groups while the stream goes on;
// the records the killed ones had handled are delivered again. Every
// alarm makes exactly one incident, opened once, and every signal, the
// neighbours' confirmations too, is applied once.
//
// The killed instances commit offsets only every minute, so the kill
// surely leaves handled records uncommitted; the new ones commit every
// 100 ms, as by default, so that the test can see the stream drained.
func TestScaleOutSIGKILLRolesLoseNothing(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := newProcCluster(t)
	t.Logf("binary ready in %v", time.Since(begin).Round(time.Millisecond))
	config := c.config("firegrid.yaml", 100*time.Millisecond)
	lateCommit := c.config("late-commit.yaml", time.Minute)
	const (
		rulesGroup = "firegrid-rules"
		alarmGroup = "firegrid-alarm"
	)

	alarm1 := c.start(RoleAlarm, "alarm-1", lateCommit)
	rules1 := c.start(RoleRules, "rules-1", lateCommit)
	ingest := c.start(RoleIngest, "ingest-1", config)
	for _, r := range []*roleProc{alarm1, rules1, ingest} {
		r.waitUp(30 * time.Second)
	}
	rules1.waitAssigned(rulesGroup, procTelemetryPartitions, 20*time.Second)
	alarm1.waitAssigned(alarmGroup, procSignalsPartitions, 20*time.Second)
	t.Logf("roles up and assigned in %v", time.Since(begin).Round(time.Millisecond))

	dev := connectDevice(t, c.mqtt)
	const n, pace = 60, 100 * time.Millisecond
	sites := smokeSites(t, mustRegistry(t), n)
	var rules2, alarm2 *roleProc
	var killedAt time.Time
	var before, killedAfter int // incidents seen before the kill; alarms published by then
	streamStart := time.Now()
	for i := range n {
		dev.publish("fg/v1/smoke/"+sites[i].ID+"/event", alarmPayload(i+1, time.Now()))
		// Kill once the first instances have made some incidents, right
		// after a publish, so that records are on their way.
		if alarm2 == nil && i >= n/3 {
			if before = len(alarm1.incidents()); before >= n/4 {
				rules1.prog.Kill()
				alarm1.prog.Kill()
				killedAt, killedAfter = time.Now(), i+1
				rules2 = c.start(RoleRules, "rules-2", config)
				alarm2 = c.start(RoleAlarm, "alarm-2", config)
			}
		}
		time.Sleep(time.Until(streamStart.Add(time.Duration(i+1) * pace)))
	}
	if alarm2 == nil {
		t.Fatalf("the first alarm instance made only %d incidents while %d alarms were published: the kill never came", before, n)
	}
	t.Logf("killed rules-1 and alarm-1 after %d of %d alarms, with %d incidents made", killedAfter, n, before)
	rules2.waitUp(30 * time.Second)
	alarm2.waitUp(30 * time.Second)
	rules2.waitAssigned(rulesGroup, procTelemetryPartitions, 20*time.Second)
	alarm2.waitAssigned(alarmGroup, procSignalsPartitions, 20*time.Second)
	t.Logf("new instances own their groups %v after the kill", time.Since(killedAt).Round(time.Millisecond))

	// Drained: every reading and every signal handled and committed.
	testenv.Eventually(t, 30*time.Second, func() bool {
		rules2.alive()
		alarm2.alive()
		return c.lag(rulesGroup, "firegrid.telemetry", procTelemetryPartitions) == 0 &&
			c.lag(alarmGroup, "firegrid.signals", procSignalsPartitions) == 0 &&
			len(alarm2.incidents()) >= n
	}, "the stream drained with %d incidents", n)
	t.Logf("drained %v after the last alarm", time.Since(streamStart.Add(n*pace)).Round(time.Millisecond))

	list := alarm2.incidents()
	bySite := map[string][]*contract.Incident{}
	for _, in := range list {
		bySite[in.Site] = append(bySite[in.Site], in)
	}
	for _, d := range sites {
		got := bySite[d.Site]
		if len(got) != 1 {
			t.Errorf("site %s has %d incidents, want 1", d.Site, len(got))
			continue
		}
		// One opened step, and each rule's signal applied once: the
		// alarm, and the confirmation by neighbours within 15 m.
		in, opened := got[0], 0
		for _, s := range in.Steps {
			if s.Action == "opened" {
				opened++
			}
		}
		byRule := map[string][]string{}
		for _, s := range in.Signals {
			byRule[s.Rule] = append(byRule[s.Rule], s.ID)
		}
		if opened != 1 || len(byRule["smoke-alarm"]) != 1 || len(byRule["smoke-confirmed"]) > 1 || len(byRule) > 2 {
			t.Errorf("incident %s of site %s: %d opened steps, signals %v; want one opened step, one smoke-alarm and at most one smoke-confirmed",
				in.ID, d.Site, opened, byRule)
		}
	}
	if len(list) != n {
		t.Errorf("%d incidents, want %d", len(list), n)
	}

	// The killed instances had committed nothing: what they handled came
	// again, and the alarm role recognised every signal it had applied.
	repeated := metric(t, alarm2.http, "firegrid_signals_repeated_total")
	evaluated := metric(t, rules2.http, "firegrid_rules_readings_evaluated_total")
	t.Logf("rules-2 evaluated %v readings; alarm-2 dropped %v repeated signals", evaluated, repeated)
	if repeated < float64(before) {
		t.Errorf("alarm-2 dropped %v repeated signals; want at least the %d that alarm-1 had applied", repeated, before)
	}
	if evaluated < n {
		t.Errorf("rules-2 evaluated %v readings; want all %d again", evaluated, n)
	}
}

// mustRegistry loads the embedded demo territory.
func mustRegistry(t testing.TB) *devices.Registry {
	t.Helper()
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
