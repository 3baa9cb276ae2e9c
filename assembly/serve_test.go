package assembly

import (
	"context"

	"fmt"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
)

// elderlyDetector finds a smoke detector in the home of an elderly person
// living alone, with a guardian.
func elderlyDetector(t *testing.T, reg *devices.Registry) *devices.Device {
	t.Helper()
	for _, d := range reg.Devices(contract.KindSmoke) {
		site, _ := reg.Site(d.Site)
		if site.Type == contract.SiteHousehold && site.Flags.ElderlyAlone && site.Guardian.Phone != "" {
			return d
		}
	}
	t.Fatal("the demo territory has no elderly household with a guardian")
	return nil
}

// twoDetectorSite finds a site with two smoke detectors.
func twoDetectorSite(t *testing.T, reg *devices.Registry) (a, b *devices.Device) {
	t.Helper()
	for _, s := range reg.Sites() {
		var smoke []*devices.Device
		for _, d := range reg.SiteDevices(s.ID) {
			if d.Kind == contract.KindSmoke {
				smoke = append(smoke, d)
			}
		}
		if len(smoke) >= 2 {
			return smoke[0], smoke[1]
		}
	}
	t.Fatal("the demo territory has no site with two smoke detectors")
	return nil, nil
}

// twoDetectorSiteFarFrom finds a site with two smoke detectors at least
// metres away from dev.
func twoDetectorSiteFarFrom(t *testing.T, reg *devices.Registry, dev *devices.Device, metres float64) (a, b *devices.Device) {
	t.Helper()
	for _, s := range reg.Sites() {
		var smoke []*devices.Device
		for _, d := range reg.SiteDevices(s.ID) {
			if d.Kind == contract.KindSmoke {
				smoke = append(smoke, d)
			}
		}
		if len(smoke) >= 2 && devices.Distance(smoke[0].Location, dev.Location) >= metres {
			return smoke[0], smoke[1]
		}
	}
	t.Fatalf("the demo territory has no site with two smoke detectors %g m from %s", metres, dev.ID)
	return nil, nil
}

// testAlarmReachesStation is the whole path: an alarm published over MQTT
// becomes a fire incident routed to the zone's station, on the stream and
// in the API; a second detector of the site joins it; a repeat changes
// nothing.
func testAlarmReachesStation(t *testing.T, mqttURL string) {
	s := startServe(t, mqttURL, "")
	st := openStream(t, s.HTTPAddr)
	dev := connectDevices(t, s)
	reg := s.Registry

	d := elderlyDetector(t, reg)
	site, _ := reg.Site(d.Site)
	_, wantStation := reg.Route(site.Location)
	start := time.Now()
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == d.Site })
	t.Logf("alarm to stream: %v", time.Since(start))
	in := c.Incident
	if c.Event != "opened" || in.Type != "fire" || in.Severity != "critical" || in.Status != contract.StatusOpen {
		t.Fatalf("got %s %s/%s/%s, want opened fire/critical/open", c.Event, in.Type, in.Severity, in.Status)
	}
	if in.Station != wantStation.ID || in.Station != d.Station() {
		t.Errorf("station %q, want %q (routed from the zone)", in.Station, wantStation.ID)
	}
	if in.Zone != site.Zone || in.Community != site.Community || in.Location != d.Location {
		t.Errorf("place %s/%s/%v, want %s/%s/%v", in.Zone, in.Community, in.Location, site.Zone, site.Community, d.Location)
	}
	if !in.Resident.ElderlyAlone || in.Guardian.Phone != site.Guardian.Phone || in.Guardian.Phone == "" {
		t.Errorf("resident %+v guardian %+v, want elderly alone with guardian %+v", in.Resident, in.Guardian, site.Guardian)
	}
	if len(in.Devices) != 1 || in.Devices[0] != d.ID {
		t.Errorf("devices %v, want [%s]", in.Devices, d.ID)
	}
	var open struct{ Incidents []contract.Incident }
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/incidents?status=open", &open)
	if len(open.Incidents) != 1 || open.Incidents[0].ID != in.ID {
		t.Fatalf("open incidents %+v, want just %s", open.Incidents, in.ID)
	}

	// A second alarm from another site's pair of detectors, far enough from
	// the first that no radius correlation joins them: the second detector
	// joins the first one's incident.
	a, b := twoDetectorSiteFarFrom(t, reg, d, 200)
	dev.publish("fg/v1/smoke/"+a.ID+"/event", alarmPayload(7, time.Now()))
	first := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == a.Site })
	dev.publish("fg/v1/smoke/"+b.ID+"/event", alarmPayload(9, time.Now()))
	joined := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == a.Site })
	if joined.Incident.ID != first.Incident.ID || len(joined.Incident.Devices) != 2 {
		t.Fatalf("second alarm: incident %s devices %v, want %s with both detectors", joined.Incident.ID, joined.Incident.Devices, first.Incident.ID)
	}

	// The same message again (same device, same seq and ts) changes nothing.
	ts := time.Now()
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(2, ts))
	again := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.ID == in.ID })
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(2, ts))
	dev.publish("fg/v1/smoke/"+a.ID+"/event", alarmPayload(8, time.Now())) // a marker after the repeat
	st.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
		if c.Incident.ID == in.ID {
			t.Errorf("a repeated message changed incident %s (version %d after %d)", in.ID, c.Incident.Version, again.Incident.Version)
		}
		return c.Incident.Site == a.Site
	})
	var got contract.Incident
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/incidents/"+in.ID, &got)
	if got.Version != again.Incident.Version || len(got.Signals) != 2 {
		t.Errorf("after a repeat: version %d with %d signals, want version %d with 2", got.Version, len(got.Signals), again.Incident.Version)
	}
	if metric(t, s.HTTPAddr, `firegrid_incidents_raised_total{severity="critical",type="fire"}`) != 2 {
		t.Errorf("fire incidents counted: %v, want 2", metric(t, s.HTTPAddr, `firegrid_incidents_raised_total{severity="critical",type="fire"}`))
	}
	if n := metric(t, s.HTTPAddr, `firegrid_alarm_latency_seconds_count{type="fire"}`); n < 4 {
		t.Errorf("latency observations %v, want at least 4", n)
	}
}

func TestAlarmReachesStationEmbeddedBroker(t *testing.T) { testAlarmReachesStation(t, "") }

func TestAlarmReachesStationMosquitto(t *testing.T) {
	testAlarmReachesStation(t, testenv.Mosquitto(t))
}

// TestBadInput sends every kind of bad message a device may send: each is
// counted under its reason and dead-lettered, and the next good alarm
// still arrives. What a device may not send at all (another device's
// topic, a topic of the wrong kind, not a contract topic) the embedded
// broker refuses before ingest: see TestBrokerRefusesOthersTopics.
func TestBadInput(t *testing.T) {
	s := startServe(t, "", "")
	st := openStream(t, s.HTTPAddr)
	dev := connectDevices(t, s)
	smoke := elderlyDetector(t, s.Registry)
	hydrant := s.Registry.Devices(contract.KindHydrant)[0]
	now := time.Now().UTC().Format(time.RFC3339Nano)
	cases := []struct {
		name, topic, payload string
		reason               contract.Reason
	}{
		{"malformed JSON", "fg/v1/smoke/" + smoke.ID + "/event", `{"ts":`, contract.ReasonMalformed},
		{"missing seq", "fg/v1/smoke/" + smoke.ID + "/event", `{"ts":"` + now + `","event":"alarm"}`, contract.ReasonMissingField},
		{"missing event", "fg/v1/smoke/" + smoke.ID + "/event", `{"ts":"` + now + `","seq":3}`, contract.ReasonMissingField},
		{"unknown event", "fg/v1/smoke/" + smoke.ID + "/event", `{"ts":"` + now + `","seq":3,"event":"party"}`, contract.ReasonInvalidField},
		{"value not a number", "fg/v1/hydrant/" + hydrant.ID + "/telemetry", `{"ts":"` + now + `","seq":3,"values":{"pressure_mpa":"low"}}`, contract.ReasonInvalidField},
		{"absurd value", "fg/v1/hydrant/" + hydrant.ID + "/telemetry", `{"ts":"` + now + `","seq":3,"values":{"pressure_mpa":80}}`, contract.ReasonInvalidField},
		{"bad timestamp", "fg/v1/smoke/" + smoke.ID + "/event", `{"ts":"yesterday","seq":3,"event":"alarm"}`, contract.ReasonInvalidField},
		{"far future", "fg/v1/smoke/" + smoke.ID + "/telemetry", fmt.Sprintf(`{"ts":%d,"seq":3,"values":{"temp_c":21}}`, time.Now().Add(48*time.Hour).UnixMilli()), contract.ReasonFutureTimestamp},
		{"oversized", "fg/v1/smoke/" + smoke.ID + "/telemetry", `{"ts":"` + now + `","seq":3,"values":{},"pad":"` + strings.Repeat("x", 20000) + `"}`, contract.ReasonOversized},
	}
	// The devices' connections first: they are not what is measured.
	dev.conn("fg/v1/smoke/" + smoke.ID + "/event")
	dev.conn("fg/v1/hydrant/" + hydrant.ID + "/telemetry")
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			series := fmt.Sprintf(`firegrid_ingest_messages_rejected_total{reason=%q}`, tc.reason)
			was := metric(t, s.HTTPAddr, series)
			dev.publish(tc.topic, tc.payload)
			testenv.Eventually(t, 5*time.Second, func() bool { return metric(t, s.HTTPAddr, series) == was+1 },
				"counter %s did not move", series)
			var dl struct {
				Deadletters []contract.DeadLetter
				Total       int
			}
			// The dead letter reaches the store through the bus, a moment
			// after the counter moved.
			testenv.Eventually(t, 5*time.Second, func() bool {
				getJSON(t, "http://"+s.HTTPAddr+"/api/v1/deadletters", &dl)
				return dl.Total >= i+1
			}, "dead letter %d not listed", i+1)
			if dl.Total != i+1 || dl.Deadletters[0].Reason != tc.reason || dl.Deadletters[0].Topic != tc.topic || dl.Deadletters[0].Detail == "" {
				t.Fatalf("dead letters total %d, newest %+v; want %d with reason %s for %s", dl.Total, dl.Deadletters[0], i+1, tc.reason, tc.topic)
			}
			// The pipeline goes on: the next good alarm arrives.
			dev.publish("fg/v1/smoke/"+smoke.ID+"/event", alarmPayload(100+i, time.Now()))
			want := fmt.Sprintf("smoke/%s/%d/", smoke.ID, 100+i)
			st.next(t, 5*time.Second, func(c contract.IncidentChange) bool {
				last := c.Incident.Signals[len(c.Incident.Signals)-1]
				return c.Incident.Site == smoke.Site && strings.HasPrefix(last.Message, want)
			})
		})
	}
	// Bad input leaves no goroutine behind.
	testenv.Eventually(t, 5*time.Second, func() bool {
		http.DefaultClient.CloseIdleConnections()
		return runtime.NumGoroutine() <= before
	},
		"goroutines grew from %d to %d", before, runtime.NumGoroutine())
}

// TestBrokerRefusesOthersTopics: what ingest would dead-letter as an
// unknown device, a kind that is not the device's or a topic outside the
// contract, a device cannot even publish on the embedded broker: no
// PUBACK, the connection closes, the refusal is counted, nothing reaches
// ingest.
func TestBrokerRefusesOthersTopics(t *testing.T) {
	s := startServe(t, "", "")
	smoke := elderlyDetector(t, s.Registry)
	c := credentials(t, s, smoke.ID)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i, topic := range []string{"fg/v1/smoke/SD-NOPE/event", "fg/v1/hydrant/" + smoke.ID + "/event", "fg/v1/lamp/L-1/event",
		"fg/v1/smoke/" + smoke.ID + "/cmd"} {
		cl := dialAs(t, s.MQTTURL, c)
		tok := cl.Publish(topic, 1, false, `{"ts":"`+now+`","seq":1,"event":"alarm"}`)
		if tok.WaitTimeout(time.Second) && tok.Error() == nil {
			t.Errorf("%s: acknowledged", topic)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return !cl.IsConnectionOpen() }, "%s: still connected", topic)
		cl.Disconnect(10)
		if got := metric(t, s.HTTPAddr, `firegrid_broker_refused_total{reason="publish_denied"}`); got != float64(i+1) {
			t.Errorf("after %s: refused{publish_denied} = %v, want %d", topic, got, i+1)
		}
	}
	if got := metric(t, s.HTTPAddr, `firegrid_ingest_messages_received_total{kind="smoke"}`); got != 0 {
		t.Errorf("ingest received %v messages", got)
	}
}

// TestCrewWorksIncidentAcrossRestart acknowledges, and after a restart on
// the same data directory the open incident is still there; then arrives
// and resolves it, each step timestamped and on the stream.
func TestCrewWorksIncidentAcrossRestart(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "", data)
	dev := connectDevices(t, s)
	d := elderlyDetector(t, s.Registry)
	st := openStream(t, s.HTTPAddr)
	dev.publish("fg/v1/smoke/"+d.ID+"/event", alarmPayload(1, time.Now()))
	in := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Event == "opened" }).Incident
	base := "http://" + s.HTTPAddr + "/api/v1/incidents/" + in.ID
	var acked contract.Incident
	if code := postJSON(t, base+"/ack", `{"note":"on our way"}`, &acked); code != 200 || acked.AckedAt == nil || acked.Stage != contract.StageAcknowledged {
		t.Fatalf("ack: %d %+v", code, acked)
	}
	if c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.ID == in.ID }); c.Event != "acknowledged" {
		t.Fatalf("stream after ack: %s", c.Event)
	}
	if code := postJSON(t, base+"/ack", `{}`, nil); code != 409 {
		t.Errorf("second ack: %d, want 409", code)
	}
	s.Close()

	s2 := startServe(t, "", data)
	var open struct{ Incidents []contract.Incident }
	getJSON(t, "http://"+s2.HTTPAddr+"/api/v1/incidents?status=open", &open)
	if len(open.Incidents) != 1 || open.Incidents[0].ID != in.ID || open.Incidents[0].AckedAt == nil ||
		!open.Incidents[0].AckedAt.Equal(*acked.AckedAt) {
		t.Fatalf("after restart: %+v, want %s acknowledged at %v", open.Incidents, in.ID, acked.AckedAt)
	}
	base = "http://" + s2.HTTPAddr + "/api/v1/incidents/" + in.ID
	st2 := openStream(t, s2.HTTPAddr)
	var arrived, resolved contract.Incident
	if code := postJSON(t, base+"/arrive", ``, &arrived); code != 200 || arrived.ArrivedAt == nil {
		t.Fatalf("arrive: %d", code)
	}
	if code := postJSON(t, base+"/resolve", `{"outcome":"maybe"}`, nil); code != 400 {
		t.Errorf("resolve with a bad outcome: %d, want 400", code)
	}
	if code := postJSON(t, base+"/resolve", `{"outcome":"false_alarm","note":"burnt toast"}`, &resolved); code != 200 ||
		resolved.Status != contract.StatusResolved || resolved.Outcome != "false_alarm" || resolved.ResolvedAt == nil {
		t.Fatalf("resolve: %d %+v", code, resolved)
	}
	st2.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Event == "resolved" && c.Incident.ID == in.ID })
	var actions []string
	for _, s := range resolved.Steps {
		actions = append(actions, s.Action)
	}
	if got := strings.Join(actions, ","); got != "opened,acknowledged,arrived,resolved" {
		t.Errorf("steps %s", got)
	}
	getJSON(t, "http://"+s2.HTTPAddr+"/api/v1/incidents?status=open", &open)
	if len(open.Incidents) != 0 {
		t.Errorf("still open after resolve: %d", len(open.Incidents))
	}
	if code := postJSON(t, base+"/ack", `{}`, nil); code != 409 {
		t.Errorf("ack after resolve: %d, want 409", code)
	}
	if code := postJSON(t, "http://"+s2.HTTPAddr+"/api/v1/incidents/INC-nope/ack", `{}`, nil); code != 404 {
		t.Errorf("ack of an unknown incident: %d, want 404", code)
	}
}

// TestChargerOverheatCutsPort: a port above the threshold raises
// charger_overheat and a port_off downlink for that port.
func TestChargerOverheatCutsPort(t *testing.T) {
	s := startServe(t, "", "")
	st := openStream(t, s.HTTPAddr)
	dev := connectDevices(t, s)
	ch := s.Registry.Devices(contract.KindCharger)[0]
	cmds := make(chan string, 4)
	dev.subscribe("fg/v1/charger/"+ch.ID+"/cmd", func(_ mqtt.Client, m mqtt.Message) { cmds <- string(m.Payload()) })
	dev.publish("fg/v1/charger/"+ch.ID+"/telemetry", fmt.Sprintf(
		`{"ts":%d,"seq":5,"values":{"voltage_v":221,"ports":[{"port":2,"current_a":2.0,"power_w":440,"temp_c":35,"state":"charging"},{"port":3,"current_a":3.1,"power_w":680,"temp_c":78.5,"state":"charging"}]}}`,
		time.Now().UnixMilli()))
	c := st.next(t, 5*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Site == ch.Site })
	if c.Incident.Type != "charger_overheat" || c.Incident.Severity != "critical" {
		t.Fatalf("incident %s/%s, want charger_overheat/critical", c.Incident.Type, c.Incident.Severity)
	}
	select {
	case cmd := <-cmds:
		if !strings.Contains(cmd, `"cmd":"port_off"`) || !strings.Contains(cmd, `"port":3`) || !strings.Contains(cmd, c.Incident.ID) {
			t.Errorf("downlink %s, want port_off for port 3 naming %s", cmd, c.Incident.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no port_off downlink")
	}
}

// TestRegistryAPI lists devices by kind and the stations.
func TestRegistryAPI(t *testing.T) {
	s := startServe(t, "", "")
	// As a console reads it: the device with its site's attributes.
	var smoke struct {
		Devices []struct {
			Kind                  contract.Kind
			Site, Zone, Community string
			Station               string
			Location              contract.Point
			Flags                 contract.ResidentFlags `json:"resident_flags"`
		}
		Count int
	}
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/devices?kind=smoke", &smoke)
	if smoke.Count < 200 || smoke.Count != len(s.Registry.Devices(contract.KindSmoke)) {
		t.Errorf("smoke detectors listed: %d", smoke.Count)
	}
	for _, d := range smoke.Devices {
		if d.Kind != contract.KindSmoke || d.Site == "" || d.Zone == "" || d.Community == "" || d.Station == "" || d.Location.Lon == 0 {
			t.Fatalf("incomplete device %+v", d)
		}
	}
	var hyd struct{ Count int }
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/devices?kind=hydrant", &hyd)
	if hyd.Count != 20 {
		t.Errorf("hydrants: %d, want 20", hyd.Count)
	}
	if code := getJSON(t, "http://"+s.HTTPAddr+"/api/v1/devices?kind=toaster", nil); code != 400 {
		t.Errorf("unknown kind: %d, want 400", code)
	}
	var stations struct{ Stations []devices.Station }
	getJSON(t, "http://"+s.HTTPAddr+"/api/v1/stations", &stations)
	if len(stations.Stations) != 3 {
		t.Errorf("stations: %d, want 3", len(stations.Stations))
	}
}

// TestPortInUseNamesTheFlag: a taken port fails the start with the flag
// that moves it.
func TestPortInUseNamesTheFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		set  func(*Config)
		flag string
	}{
		{func(c *Config) { c.HTTP = ln.Addr().String() }, "--http"},
		{func(c *Config) { c.MQTT.Listen = ln.Addr().String() }, "--mqtt-listen"},
	} {
		cfg := DefaultConfig()
		cfg.HTTP, cfg.MQTT.Listen, cfg.Data = "127.0.0.1:0", testenv.FreeAddr(t), t.TempDir()
		tc.set(&cfg)
		s, err := Start(context.Background(), Serve, cfg, Options{})
		if err == nil {
			s.Close()
			t.Fatalf("%s: started on a port in use", tc.flag)
		}
		if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("error %q does not name %s", err, tc.flag)
		}
	}
}

// TestConfigErrorsNameFileLineField checks a wrong configuration file.
func TestConfigErrorsNameFileLineField(t *testing.T) {
	cfg := DefaultConfig()
	err := ParseConfig("firegrid.yaml", []byte("http: 127.0.0.1:8080\ningest:\n  workers: 0\nlog:\n  level: loud\n"), &cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"firegrid.yaml:3:3: ingest.workers", "firegrid.yaml:5:3: log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	cfg = DefaultConfig()
	err = ParseConfig("firegrid.yaml", []byte("htp: x\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "firegrid.yaml:1:1: htp: unknown field") {
		t.Errorf("unknown key: %v", err)
	}
}
