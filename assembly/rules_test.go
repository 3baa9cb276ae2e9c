package assembly

import (
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/rules"
)

// testTwoDetectorsConfirmFire publishes alarms from two detectors of one
// household over MQTT to a running serve: the fire incident becomes a
// confirmed_fire marked for 119, and the incident lists the rule and the
// message behind every signal.
func testTwoDetectorsConfirmFire(t *testing.T, mqttURL string) {
	s := startServe(t, mqttURL, "")
	st := openStream(t, s.HTTPAddr)
	dev := connectDevices(t, s)
	a, b := twoDetectorSite(t, s.Registry)
	dev.publish("fg/v1/smoke/"+a.ID+"/event", alarmPayload(1, time.Now()))
	opened := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == a.Site })
	if opened.Event != "opened" || opened.Incident.Type != "fire" || opened.Incident.Confirmed {
		t.Fatalf("first alarm: %s %s confirmed=%v, want an unconfirmed fire", opened.Event, opened.Incident.Type, opened.Incident.Confirmed)
	}
	dev.publish("fg/v1/smoke/"+b.ID+"/event", alarmPayload(1, time.Now()))
	c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
		return c.Incident.Site == a.Site && c.Incident.Type == "confirmed_fire"
	})
	in := c.Incident
	if c.Event != "confirmed" || in.ID != opened.Incident.ID || !in.Confirmed || !in.Notify119 || in.Period != contract.PeriodDaily ||
		len(in.Devices) != 2 || in.Status != contract.StatusOpen {
		t.Fatalf("confirmed: %s %+v", c.Event, in)
	}
	var got contract.Incident
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/incidents/"+in.ID, &got)
	var why []string
	for _, sg := range got.Signals {
		if sg.Rule == "" || sg.Message == "" {
			t.Errorf("signal without its rule or message: %+v", sg)
		}
		why = append(why, sg.Rule)
	}
	if strings.Join(why, ",") != "smoke-alarm,smoke-alarm,smoke-confirmed" || len(got.Signals[2].Related) != 2 {
		t.Errorf("signals %+v", got.Signals)
	}
	var open struct{ Incidents []contract.Incident }
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/incidents?status=open", &open)
	if len(open.Incidents) != 1 || open.Incidents[0].Type != "confirmed_fire" {
		t.Errorf("open incidents %+v, want the one confirmed fire", open.Incidents)
	}
}

func TestTwoDetectorsConfirmFireEmbeddedBroker(t *testing.T) { testTwoDetectorsConfirmFire(t, "") }

func TestTwoDetectorsConfirmFireMosquitto(t *testing.T) {
	testTwoDetectorsConfirmFire(t, testenv.Mosquitto(t))
}

// TestRulesReloadAndPeriod: a bad rules file is refused with its errors
// while the old rules keep running; SIGHUP and the API reload a good one;
// the period set over the API is recorded on the next incident.
func TestRulesReloadAndPeriod(t *testing.T) {
	shipped, err := fs.ReadFile(configs.FS, "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "", "", func(c *Config) { c.Rules = path })
	base := "http://" + s.HTTPAddr + "/api/v1"
	var list struct{ Count int }
	getJSON(t, base+"/rules", &list)
	want := list.Count

	// A broken file: refused, with file, line, rule and field.
	bad := strings.Replace(string(shipped), "    severity: critical\n", "    severity: urgent\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/rules/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var refused struct{ Errors []string }
	decode(t, resp, &refused)
	if resp.StatusCode != http.StatusUnprocessableEntity || len(refused.Errors) != 1 ||
		!strings.Contains(refused.Errors[0], path+":") || !strings.Contains(refused.Errors[0], `rules.0.severity (id "smoke-alarm"): "urgent"`) {
		t.Fatalf("bad file: %d %q", resp.StatusCode, refused.Errors)
	}
	// The old rules still run.
	st := openStream(t, s.HTTPAddr)
	dev := connectDevices(t, s)
	d := elderlyDetector(t, s.Registry)
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	if c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == d.Site }); c.Incident.Severity != contract.SeverityCritical {
		t.Fatalf("after a refused reload: %+v", c.Incident)
	}

	// A good file with one rule less, by SIGHUP.
	good := strings.Replace(string(shipped), "  - id: smoke-low-battery\n", "  - id: smoke-low-battery-renamed\n", 1)
	good = strings.Replace(good, "  - id: charger-fault\n    kind: charger\n    type: event\n    events: [fault]\n    incident: device_fault\n    severity: minor\n", "", 1)
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx := t.Context()
	go s.ReloadOn(ctx, hup)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		getJSON(t, base+"/rules", &list)
		return list.Count == want-1
	}, "SIGHUP: %d rules, want %d", list.Count, want-1)
	var rep rules.ReloadReport
	if code := postJSON(t, base+"/rules/reload", "", &rep); code != 200 || rep.Rules != want-1 || len(rep.Changed) != 0 || len(rep.Added) != 0 {
		t.Fatalf("API reload of the same file: %d %+v", code, rep)
	}

	// The period.
	var ps rules.PeriodStatus
	if code := putJSON(t, base+"/period", `{"period":"emergency","reason":"typhoon"}`, &ps); code != 200 || ps.Period != contract.PeriodEmergency || ps.Source != "override" {
		t.Fatalf("PUT period: %d %+v", code, ps)
	}
	if code := putJSON(t, base+"/period", `{"period":"wartime"}`, nil); code != 400 {
		t.Errorf("unknown period: %d, want 400", code)
	}
	a, _ := twoDetectorSite(t, s.Registry)
	dev.publish("fg/v1/smoke/"+a.ID+"/event", alarmPayload(3, time.Now()))
	if c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == a.Site }); c.Incident.Period != contract.PeriodEmergency {
		t.Fatalf("incident period %q, want emergency", c.Incident.Period)
	}
	getJSON(t, base+"/period", &ps)
	if ps.Period != contract.PeriodEmergency {
		t.Errorf("GET period: %+v", ps)
	}
}

// TestEngineStateAcrossRestart: a detector heard before a restart is not
// counted as never heard after it, and an open correlation survives: one
// alarm before the restart, one after, confirm the fire.
func TestEngineStateAcrossRestart(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "", data)
	dev := connectDevices(t, s)
	a, b := twoDetectorSite(t, s.Registry)
	st := openStream(t, s.HTTPAddr)
	dev.publish("fg/v1/smoke/"+a.ID+"/event", alarmPayload(1, time.Now()))
	st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == a.Site })
	dev.close() // no client left reconnecting to the stopped broker
	s.Close()   // saves the engine's snapshot

	s2 := startServe(t, "", data)
	st2 := openStream(t, s2.HTTPAddr)
	dev2 := connectDevices(t, s2)
	dev2.publish("fg/v1/smoke/"+b.ID+"/event", alarmPayload(1, time.Now()))
	c := st2.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
		return c.Incident.Site == a.Site && c.Incident.Type == "confirmed_fire"
	})
	if len(c.Incident.Devices) != 2 {
		t.Fatalf("after restart: %+v", c.Incident)
	}
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := jsonDecode(resp, v); err != nil {
		t.Fatalf("decode: %v", err)
	}
}

func putJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := jsonDecode(resp, v); err != nil {
			t.Fatalf("PUT %s: %v", url, err)
		}
	}
	return resp.StatusCode
}
