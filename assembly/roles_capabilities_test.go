package assembly

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/notify"
)

// The capabilities serve has, checked one by one in the scale-out roles:
// the tests above and beside these do the same against serve.

// TestAlarmRoleNotifiesAndShowsRecentValues: the alarm role delivers a
// signed webhook about a fire and shows the delivery on the incident, and
// its incident view shows the detector's recent values, which it reads
// from the telemetry topic in a group of its own.
func TestAlarmRoleNotifiesAndShowsRecentValues(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify([]byte("hook-secret"), r.Header.Get(notify.HeaderTimestamp), body, r.Header.Get(notify.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var c contract.IncidentChange
		json.Unmarshal(body, &c)
		mu.Lock()
		got = append(got, c.Event+" "+c.Incident.Type)
		mu.Unlock()
	}))
	defer receiver.Close()
	c := newCluster(t, false)
	c.cfg.Dispatch.Notifiers = []notify.Config{{Name: "province", URL: receiver.URL, Secret: "hook-secret", Types: []string{"fire"}, Events: []string{"opened"}}}
	alarm := c.start(RoleAlarm, "alarm-1")
	c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	st := openStream(t, alarm.HTTPAddr)
	dev := connectDevice(t, c.cfg.MQTT.URL)
	d := c.smokeSites(1)[0]
	now := time.Now()
	dev.publish(contract.UplinkTopic(d.Kind, d.ID, contract.ChannelTelemetry),
		fmt.Sprintf(`{"ts":%q,"seq":1,"values":{"temp_c":23.5,"battery_pct":77}}`, now.UTC().Format(time.RFC3339Nano)))
	dev.publish(contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent), alarmPayload(2, now.Add(time.Second)))
	opened := st.next(t, 20*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Site == d.Site })

	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == "opened fire"
	}, "the webhook of the opened fire")
	testenv.Eventually(t, 20*time.Second, func() bool {
		var in contract.Incident
		getJSON(t, "http://"+alarm.HTTPAddr+"/api/v1/incidents/"+opened.Incident.ID, &in)
		return len(in.Deliveries) > 0 && in.Deliveries[len(in.Deliveries)-1].Status == contract.DeliveryDelivered
	}, "the delivery shown on the incident")
	var ctx console.IncidentContext
	testenv.Eventually(t, 20*time.Second, func() bool {
		getJSON(t, "http://"+alarm.HTTPAddr+"/api/v1/incidents/"+opened.Incident.ID+"/context", &ctx)
		for _, dr := range ctx.Devices {
			// In the device's time order, whatever topic came first.
			if dr.ID == d.ID && len(dr.Recent) == 2 && dr.Recent[0].Values["battery_pct"] == 77 && dr.Recent[1].Event == "alarm" {
				return true
			}
		}
		return false
	}, "the detector's two recent readings in the incident view")
}

// rulesFile writes the shipped rules, with edit applied, to a file.
func rulesFile(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := fs.ReadFile(configs.FS, "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if edit != nil {
		s = edit(s)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRulesReloadReachesEveryRulesInstance: a reload asked of the alarm
// role's console, and a period set there, are in force in every rules
// instance within seconds; a file with errors is refused and changes
// nothing anywhere.
func TestRulesReloadReachesEveryRulesInstance(t *testing.T) {
	t.Parallel()
	c := newCluster(t, false)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	rulesFile(t, path, nil)
	c.cfg.Rules = path
	alarm := c.start(RoleAlarm, "alarm-1")
	r1 := c.start(RoleRules, "rules-1")
	r2 := c.start(RoleRules, "rules-2")
	base := "http://" + alarm.HTTPAddr
	if r1.Stage.RulesVersion() != 1 || r2.Stage.RulesVersion() != 1 {
		t.Fatalf("rules versions at start: %d and %d, want 1", r1.Stage.RulesVersion(), r2.Stage.RulesVersion())
	}
	rulesFile(t, path, func(s string) string { return strings.Replace(s, "    for: 30s\n", "    for: 20s\n", 1) })
	var rep struct{ Version int }
	if code := postJSON(t, base+"/api/v1/rules/reload", "", &rep); code != 200 || rep.Version != 2 {
		t.Fatalf("reload: HTTP %d, version %d", code, rep.Version)
	}
	start := time.Now()
	testenv.Eventually(t, 10*time.Second, func() bool { return r1.Stage.RulesVersion() == 2 && r2.Stage.RulesVersion() == 2 },
		"version 2 in both rules instances")
	t.Logf("the reload reached both rules instances in %v", time.Since(start))
	for _, r := range []*Process{r1, r2} {
		if !strings.Contains(ruleFor(r, "hydrant-low-pressure"), "20s") {
			t.Errorf("%s runs %s", r.Instance, ruleFor(r, "hydrant-low-pressure"))
		}
	}
	// A broken file: refused, nothing changes.
	rulesFile(t, path, func(s string) string { return s + "\n  - id: broken\n    kind: lamp\n" })
	if code := postJSON(t, base+"/api/v1/rules/reload", "", nil); code != http.StatusUnprocessableEntity {
		t.Errorf("a broken file: HTTP %d, want 422", code)
	}
	// The period.
	req, _ := http.NewRequest(http.MethodPut, base+"/api/v1/period", strings.NewReader(`{"period":"emergency","reason":"typhoon"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set the period: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	testenv.Eventually(t, 10*time.Second, func() bool {
		return r1.Stage.Engine.Period(time.Now()).Period == contract.PeriodEmergency && r2.Stage.Engine.Period(time.Now()).Period == contract.PeriodEmergency
	}, "the emergency period in both rules instances")
	if r1.Stage.RulesVersion() != 2 || r2.Stage.RulesVersion() != 2 {
		t.Errorf("after a refused reload: versions %d and %d, want 2", r1.Stage.RulesVersion(), r2.Stage.RulesVersion())
	}
	// A rules instance started now, with the file of version 1 (a host
	// that was not updated), runs what the others run.
	rulesFile(t, path, nil)
	r3 := c.start(RoleRules, "rules-3")
	if r3.Stage.RulesVersion() != 2 || r3.Stage.Engine.Period(time.Now()).Period != contract.PeriodEmergency {
		t.Errorf("a new instance runs version %d in period %s", r3.Stage.RulesVersion(), r3.Stage.Engine.Period(time.Now()).Period)
	}
}

// ruleFor describes a rule of the engine in force.
func ruleFor(p *Process, id string) string {
	for _, r := range p.Stage.Engine.Config().Rules {
		if r.ID == id {
			return fmt.Sprintf("%+v", r)
		}
	}
	return "no rule " + id
}

// TestRuleStateMovesWithItsPartition: a hydrant's low pressure is pending
// in one rules instance (it must hold for 3 s); that instance stops, and
// the one that takes its partitions restores their snapshot and raises
// the incident on time, with no further reading from the hydrant.
func TestRuleStateMovesWithItsPartition(t *testing.T) {
	t.Parallel()
	c := newCluster(t, false)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	rulesFile(t, path, func(s string) string { return strings.Replace(s, "    for: 30s\n", "    for: 3s\n", 1) })
	c.cfg.Rules = path
	c.cfg.RuleEngine.SnapshotEvery = 200 * time.Millisecond
	alarm := c.start(RoleAlarm, "alarm-1")
	r1 := c.start(RoleRules, "rules-1")
	c.start(RoleIngest, "ingest-1")
	st := openStream(t, alarm.HTTPAddr)
	dev := connectDevice(t, c.cfg.MQTT.URL)
	hy, _ := c.reg.Device("HY-001")
	low := time.Now()
	dev.publish(contract.UplinkTopic(hy.Kind, hy.ID, contract.ChannelTelemetry),
		fmt.Sprintf(`{"ts":%q,"seq":1,"values":{"pressure_mpa":0.05}}`, low.UTC().Format(time.RFC3339Nano)))
	testenv.Eventually(t, 10*time.Second, func() bool { return metric(t, r1.HTTPAddr, "firegrid_rules_readings_evaluated_total") >= 1 },
		"rules-1 evaluated the low reading")
	time.Sleep(500 * time.Millisecond) // a snapshot of its partition is saved
	r2 := c.start(RoleRules, "rules-2")
	r1.Close()
	ch := st.next(t, 20*time.Second, func(ch contract.IncidentChange) bool { return ch.Incident.Type == "low_pressure" })
	if ch.Incident.Site != hy.Site {
		t.Fatalf("low_pressure at %s", ch.Incident.Site)
	}
	if d := time.Since(low); d > 10*time.Second {
		t.Errorf("raised %v after the low reading: the pending condition was lost with rules-1", d)
	}
	if metric(t, r2.HTTPAddr, "firegrid_rules_readings_evaluated_total") != 0 {
		t.Log("rules-2 saw the reading again (redelivered past the committed offset)")
	}
}
