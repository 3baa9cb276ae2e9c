package assembly

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
)

// cluster is the scale-out topology of one test: an in-process Kafka
// (kfake, over TCP), a real Mosquitto, a real PostgreSQL database, and
// optionally a real InfluxDB 1.8; roles are started as separate instances
// with their own configuration, bus clients, stores and ports.
type cluster struct {
	t      testing.TB
	cfg    Config
	influx *testenv.InfluxdServer
	reg    *devices.Registry
}

func newCluster(t testing.TB, withInflux bool) *cluster {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	cfg.MQTT.URL = testenv.Mosquitto(t)
	cfg.Postgres.DSN = testenv.Postgres(t)
	cfg.Kafka.Brokers = testenv.Kafka(t)
	cfg.Kafka.Topics.Telemetry.Partitions = 4
	cfg.Kafka.Topics.Events.Partitions = 4
	cfg.Kafka.Topics.Signals.Partitions = 2
	cfg.Kafka.Topics.Incidents.Partitions = 2
	// Roles that stop leave their groups at once; a member that is only
	// slow (the race detector, a loaded machine) keeps its partitions.
	cfg.Kafka.HeartbeatInterval = 200 * time.Millisecond
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.RebalanceTimeout = 6 * time.Second
	cfg.Kafka.CommitInterval = 20 * time.Millisecond
	cfg.Ingest.ClientID = fmt.Sprintf("fg-ingest-%d", time.Now().UnixNano())
	// As deploy/firegrid/scaleout.yaml: an ingest takes at most workers
	// periodic readings per telemetry batch timeout.
	cfg.Ingest.Workers = 32
	c := &cluster{t: t, cfg: cfg}
	if withInflux {
		c.influx = testenv.StartInfluxd(t, testenv.WithoutFlux())
		resp, err := http.PostForm(c.influx.URL+"/query", url.Values{"q": {"CREATE DATABASE firegrid"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.cfg.Influx.URL = c.influx.URL
		c.cfg.Influx.Bucket = "firegrid/autogen"
		c.cfg.Influx.FlushInterval = 50 * time.Millisecond
		c.cfg.Influx.Timeout = time.Second
		c.cfg.Influx.MaxRetryInterval = time.Second
	}
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	c.reg = reg
	return c
}

// start starts one role instance; stop it with Close (the test's cleanup
// does it too).
func (c *cluster) start(role, instance string) *Process {
	c.t.Helper()
	cfg := c.cfg
	cfg.Instance = instance
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, role, cfg, Options{})
	if err != nil {
		c.t.Fatalf("start %s %s: %v", role, instance, err)
	}
	c.t.Cleanup(func() { p.Close() })
	return p
}

// smokeSites returns n smoke detectors of n different sites.
func (c *cluster) smokeSites(n int) []*devices.Device {
	c.t.Helper()
	return smokeSites(c.t, c.reg, n)
}

// smokeSites returns n smoke detectors of n different sites of reg.
func smokeSites(t testing.TB, reg *devices.Registry, n int) []*devices.Device {
	t.Helper()
	seen := map[string]bool{}
	var out []*devices.Device
	for _, d := range reg.Devices(contract.KindSmoke) {
		if !seen[d.Site] {
			seen[d.Site] = true
			out = append(out, d)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("the territory has %d sites with smoke detectors, want %d", len(out), n)
	return nil
}

// incidents lists every incident in PostgreSQL.
func incidentsIn(t testing.TB, p *Process) []*contract.Incident {
	t.Helper()
	list, err := p.Store.List(context.Background(), alarm.Filter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestScaleOutAlarmToStreamAndInflux: an alarm published over MQTT goes
// through two ingests (shared subscription), rules and one of two alarm
// instances into PostgreSQL; it appears on the console stream of both
// alarm instances, and as points in InfluxDB through the sink; kcat, a
// non-Go Kafka client, reads the change from the incidents topic.
func TestScaleOutAlarmToStreamAndInflux(t *testing.T) {
	t.Parallel()
	c := newCluster(t, true)
	sink := c.start(RoleSink, "sink-1")
	alarmA := c.start(RoleAlarm, "alarm-a")
	alarmB := c.start(RoleAlarm, "alarm-b")
	c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	c.start(RoleIngest, "ingest-2")
	streamA := openStream(t, alarmA.HTTPAddr)
	streamB := openStream(t, alarmB.HTTPAddr)
	dev := connectDevice(t, c.cfg.MQTT.URL)

	d := c.smokeSites(1)[0]
	start := time.Now()
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	ca := streamA.next(t, 20*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Site == d.Site })
	t.Logf("MQTT publish → SSE: %v", time.Since(start))
	cb := streamB.next(t, 10*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Site == d.Site })
	for _, ch := range []contract.IncidentChange{ca, cb} {
		if ch.Event != "opened" || ch.Incident.Type != "fire" || ch.Incident.Station != d.Station() {
			t.Errorf("change %s %s at %s, want opened fire at %s", ch.Event, ch.Incident.Type, ch.Incident.Station, d.Station())
		}
	}
	if ca.Incident.ID != cb.Incident.ID {
		t.Errorf("the two consoles show %s and %s", ca.Incident.ID, cb.Incident.ID)
	}
	// Each console got the change once.
	select {
	case dup := <-streamA.ch:
		t.Errorf("console A got a second change: %s v%d", dup.Event, dup.Incident.Version)
	case dup := <-streamB.ch:
		t.Errorf("console B got a second change: %s v%d", dup.Event, dup.Incident.Version)
	case <-time.After(300 * time.Millisecond):
	}

	testenv.Eventually(t, 20*time.Second, func() bool {
		return len(testenv.InfluxQL(t, c.influx.URL, "firegrid", "SELECT * FROM incident WHERE id = '"+ca.Incident.ID+"'")) == 1 &&
			len(testenv.InfluxQL(t, c.influx.URL, "firegrid", "SELECT * FROM smoke WHERE device = '"+d.ID+"' AND event = 'alarm'")) == 1
	}, "the alarm and its incident in InfluxDB")
	if got := sink.Sink.Dropped("buffer_full"); got != 0 {
		t.Errorf("sink dropped %v points", got)
	}

	// kcat reads the audit log.
	kcat := testenv.Binary(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(c.cfg.Kafka.Brokers, ","), "-t", c.cfg.Kafka.Topics.Incidents.Name,
		"-o", "beginning", "-e", "-J", "-q")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	var found bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			Key     string `json:"key"`
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat line %q: %v", sc.Text(), err)
		}
		var ch contract.IncidentChange
		if err := json.Unmarshal([]byte(m.Payload), &ch); err != nil {
			t.Fatalf("incident record is not a change: %v", err)
		}
		if m.Key == ca.Incident.ID && ch.Event == "opened" && ch.Incident.ID == ca.Incident.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("kcat did not find the opened change of %s on %s:\n%s", ca.Incident.ID, c.cfg.Kafka.Topics.Incidents.Name, out)
	}
}

// TestScaleOutKillRestart: the rules role and the alarm role are stopped
// in the middle of a stream of alarms from distinct sites and new
// instances take over; every alarm makes exactly one incident.
func TestScaleOutKillRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, false)
	alarm1 := c.start(RoleAlarm, "alarm-1")
	rules1 := c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	c.start(RoleIngest, "ingest-2")
	dev := connectDevice(t, c.cfg.MQTT.URL)

	const n = 40
	sites := c.smokeSites(n)
	var wg sync.WaitGroup
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			dev.publish("fg/v1/smoke/"+sites[i].ID+"/event", alarmPayload(i+1, time.Now()))
			time.Sleep(5 * time.Millisecond) // a stream, not a burst
		}
	}
	publish(0, 15)
	// Kill both consumers mid-stream while publishing goes on.
	wg.Add(1)
	go func() { defer wg.Done(); publish(15, 30) }()
	rules1.Close()
	alarm1.Close()
	c.start(RoleRules, "rules-2")
	alarm2 := c.start(RoleAlarm, "alarm-2")
	wg.Wait()
	publish(30, n)

	testenv.Eventually(t, 30*time.Second, func() bool { return len(incidentsIn(t, alarm2)) >= n },
		"%d incidents", n)
	time.Sleep(500 * time.Millisecond) // redeliveries, if any, have landed
	list := incidentsIn(t, alarm2)
	bySite := map[string]int{}
	for _, in := range list {
		bySite[in.Site]++
	}
	for _, d := range sites {
		if bySite[d.Site] != 1 {
			t.Errorf("site %s has %d incidents, want 1", d.Site, bySite[d.Site])
		}
	}
	if len(list) != n {
		t.Errorf("%d incidents, want %d", len(list), n)
	}
}

// TestScaleOutInfluxOutage: InfluxDB is down for 30 seconds while alarms
// and telemetry keep coming. Every alarm reaches the console as fast as
// with InfluxDB up; once it is back, the sink writes what it buffered, and
// what it did not write its drop counter says.
func TestScaleOutInfluxOutage(t *testing.T) {
	t.Parallel()
	outage := 30 * time.Second
	c := newCluster(t, true)
	sink := c.start(RoleSink, "sink-1")
	alarmA := c.start(RoleAlarm, "alarm-a")
	c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	stream := openStream(t, alarmA.HTTPAddr)
	dev := connectDevice(t, c.cfg.MQTT.URL)
	hydrants := c.reg.Devices(contract.KindHydrant)
	sites := c.smokeSites(12)

	// Background telemetry: every hydrant reports twice a second.
	tctx, stopTelemetry := context.WithCancel(context.Background())
	var telemetry sync.WaitGroup
	var sent int
	telemetry.Add(1)
	go func() {
		defer telemetry.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for seq := 1; ; seq++ {
			for _, h := range hydrants {
				p := fmt.Sprintf(`{"ts":%q,"seq":%d,"values":{"pressure_mpa":0.32,"flow_lpm":0,"battery_pct":90}}`,
					time.Now().UTC().Format(time.RFC3339Nano), seq)
				tok := dev.client.Publish("fg/v1/hydrant/"+h.ID+"/telemetry", 1, false, p)
				tok.Wait()
				sent++
			}
			select {
			case <-tctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	alarmAt := func(i int) time.Duration {
		start := time.Now()
		dev.publish("fg/v1/smoke/"+sites[i].ID+"/event", alarmPayload(i+1, time.Now()))
		stream.next(t, 10*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Site == sites[i].Site })
		return time.Since(start)
	}
	before := alarmAt(0)
	t.Logf("alarm → console with InfluxDB up: %v", before)

	c.influx.Stop()
	outageStart := time.Now()
	var worst time.Duration
	for i := 1; i <= 10; i++ {
		worst = max(worst, alarmAt(i))
		time.Sleep(time.Until(outageStart.Add(time.Duration(i) * outage / 10)))
	}
	t.Logf("worst alarm → console during the %v outage: %v (buffered %d points)", outage, worst, sink.Sink.Buffered())
	if worst > time.Second {
		t.Errorf("an alarm took %v to reach the console while InfluxDB was down", worst)
	}
	if sink.Sink.Buffered() == 0 {
		t.Error("nothing buffered during the outage: was InfluxDB really down?")
	}
	c.influx.Start()
	stopTelemetry()
	telemetry.Wait()
	last := alarmAt(11)
	t.Logf("alarm → console after the outage: %v", last)

	want := sent // every hydrant reading is one point
	count := func() int {
		rows := testenv.InfluxQL(t, c.influx.URL, "firegrid", "SELECT count(seq) FROM hydrant")
		got := 0.0
		if len(rows) == 1 {
			got, _ = rows[0]["count"].(float64)
		}
		return int(got)
	}
	deadline := time.Now().Add(60 * time.Second)
	for count()+int(sink.Sink.Dropped("buffer_full")) != want && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := count(); got+int(sink.Sink.Dropped("buffer_full")) != want {
		t.Fatalf("%d hydrant readings sent; %d in InfluxDB, dropped: buffer_full %v, rejected %v, undecodable %v, buffered %d",
			want, got, sink.Sink.Dropped("buffer_full"), sink.Sink.Dropped("rejected"), sink.Sink.Dropped("undecodable"), sink.Sink.Buffered())
	}
	if d := sink.Sink.Dropped("buffer_full"); d != 0 {
		t.Errorf("dropped %v points with a buffer of %d", d, c.cfg.Influx.Buffer)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		return len(testenv.InfluxQL(t, c.influx.URL, "firegrid", "SELECT * FROM incident WHERE event = 'opened'")) == 12
	}, "the 12 incidents in InfluxDB")
}

// TestScaleOutTwoAlarmInstancesOneIncident: two alarm instances on one
// PostgreSQL apply the same signal, and different signals of one site and
// type, at the same moment; the database lets exactly one incident open,
// and each signal counts once.
func TestScaleOutTwoAlarmInstancesOneIncident(t *testing.T) {
	t.Parallel()
	c := newCluster(t, false)
	a := c.start(RoleAlarm, "alarm-a")
	b := c.start(RoleAlarm, "alarm-b")
	devs := c.smokeSites(20)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := map[string]int{}
	for round, d := range devs {
		for i := range 8 {
			m := []*alarm.Manager{a.Manager, b.Manager}[i%2]
			// Signals 0-3 are one signal delivered four times; 4-7 are
			// four different signals of the same site and type.
			id := fmt.Sprintf("%s/alarm/%d", d.ID, round)
			if i >= 4 {
				id = fmt.Sprintf("%s/alarm/%d-%d", d.ID, round, i)
			}
			s := contract.Signal{ID: id, Rule: "smoke-alarm", Action: contract.ActionRaise, Type: "fire", Severity: contract.SeverityCritical,
				Dispatchable: true, Kind: contract.KindSmoke, Device: d.ID, Site: d.Site, At: time.Now(), ReceivedAt: time.Now()}
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, err := m.Apply(ctx, &s)
				if err != nil {
					t.Errorf("apply %s: %v", s.ID, err)
					return
				}
				if in != nil && in.Version == 1 {
					mu.Lock()
					opened[d.Site]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	list := incidentsIn(t, a)
	if len(list) != len(devs) {
		t.Errorf("%d incidents, want %d (one per site)", len(list), len(devs))
	}
	for _, in := range list {
		if opened[in.Site] != 1 {
			t.Errorf("site %s: opened %d times", in.Site, opened[in.Site])
		}
		if len(in.Signals) != 5 {
			t.Errorf("incident %s has %d signals, want 5 (one repeated, four distinct)", in.ID, len(in.Signals))
		}
	}
}
