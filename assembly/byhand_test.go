package assembly

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

// TestByHandAlarmRoleEscalates is the scale-out deployment as an operator
// starts it by hand: Kafka from the development command (kfake on a port),
// Mosquitto, PostgreSQL, and firegrid ingest, rules and alarm, each its
// own process from the firegrid binary, with console users in the
// database and a fire timer whose ack deadline is 3 seconds. A smoke alarm
// nobody acknowledges shows up as escalated on the alarm role's stream,
// and the next station's crew, who could not see it before, can.
func TestByHandAlarmRoleEscalates(t *testing.T) {
	fg := firegridBinary(t)
	kf := binary(t, "./internal/cmd/kfake")
	kafkaPort := testenv.FreePort(t)
	kfake := testenv.StartProgram(t, "kfake", kf, "--port", fmt.Sprint(kafkaPort))
	testenv.Eventually(t, 20*time.Second, func() bool { return strings.Contains(kfake.Output(), "kfake is up") }, "kfake up")
	kafkaAddr := fmt.Sprintf("127.0.0.1:%d", kafkaPort)
	mqttURL := testenv.Mosquitto(t)
	pg := testenv.Postgres(t)
	dir := t.TempDir()

	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := reg.Device("SD-0108")
	site, _ := reg.Site(dev.Site)
	var next string
	for _, st := range reg.NearestStations(site.Location) {
		if st.ID != dev.Station() {
			next = st.ID
			break
		}
	}
	users := map[string]string{"crew-own": dev.Station(), "crew-next": next}
	for name, station := range users {
		cmd := exec.Command(fg, "users", "add", "--postgres", pg, "--username", name, "--role", "crew", "--station", station)
		cmd.Env = append(os.Environ(), "FIREGRID_PASSWORD=correct horse battery")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users add %s: %v\n%s", name, err, out)
		}
	}
	config := filepath.Join(dir, "firegrid.yaml")
	if err := os.WriteFile(config, []byte(`log: {level: info, format: json}
kafka:
  topics:
    telemetry: {partitions: 2}
    events: {partitions: 2}
    signals: {partitions: 2}
    incidents: {partitions: 2}
dispatch:
  users: db
  session_secret: shared-by-the-alarm-instances
  timers:
    - name: fire-fast
      types: [fire]
      ack: 3s
      arrive: 1m
      resolve: 2m
      escalate: stations
  escalation: {stations: 2, center: "119", poll: 200ms}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(role string) *roleProc {
		prog := testenv.StartProgram(t, role, fg, role, "--config", config, "--http", "127.0.0.1:0", "--instance", role+"-1",
			"--kafka", kafkaAddr, "--postgres", pg, "--mqtt-url", mqttURL)
		r := &roleProc{t: t, instance: role, prog: prog}
		r.waitUp(60 * time.Second)
		return r
	}
	alarm := start(RoleAlarm)
	start(RoleRules)
	start(RoleIngest)

	base := "http://" + alarm.http
	login := func(user string) string {
		resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"correct horse battery"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lr struct{ Token string }
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&lr) != nil || lr.Token == "" {
			t.Fatalf("log in as %s: HTTP %d", user, resp.StatusCode)
		}
		return lr.Token
	}
	own, other := login("crew-own"), login("crew-next")
	events := streamAs(t, base, own)
	seenByNext := streamAs(t, base, other)

	dev2 := connectDevice(t, mqttURL)
	dev2.publish(contract.UplinkTopic(dev.Kind, dev.ID, contract.ChannelEvent), alarmPayload(1, time.Now()))
	opened := events.next(t, 20*time.Second, func(c contract.IncidentChange) bool { return c.Event == contract.EventOpened })
	id := opened.Incident.ID
	if code := getAs(t, base+"/api/v1/incidents/"+id, other); code != http.StatusForbidden {
		t.Errorf("the next station's crew reads the incident before escalation: HTTP %d, want 403", code)
	}
	esc := events.next(t, 20*time.Second, func(c contract.IncidentChange) bool {
		return c.Incident.ID == id && c.Event == contract.EventEscalated
	})
	if len(esc.Incident.EscalatedTo) == 0 || esc.Incident.EscalatedTo[0] != next || esc.Incident.CenterAt == nil {
		t.Errorf("escalated to %v, 119 at %v; want %s and the 119 centre", esc.Incident.EscalatedTo, esc.Incident.CenterAt, next)
	}
	if d := esc.At.Sub(esc.Incident.OpenedAt); d < 3*time.Second || d > 6*time.Second {
		t.Errorf("escalated %v after opening, want just after the 3s ack deadline", d)
	}
	got := seenByNext.next(t, 10*time.Second, func(c contract.IncidentChange) bool { return c.Incident.ID == id })
	if got.Event != contract.EventEscalated {
		t.Errorf("the next station's first sight of the incident is %q, want escalated", got.Event)
	}
	if code := getAs(t, base+"/api/v1/incidents/"+id, other); code != 200 {
		t.Errorf("the next station's crew cannot read the escalated incident: HTTP %d", code)
	}
}

// streamAs opens the console stream with a token.
func streamAs(t *testing.T, base, token string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		cancel()
		t.Fatalf("open stream: %v %v", err, resp)
	}
	s := &stream{ch: make(chan contract.IncidentChange, 1024), hello: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				if event == "hello" {
					close(s.hello)
				}
			case strings.HasPrefix(line, "data: ") && event == "incident":
				var c contract.IncidentChange
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c) == nil {
					s.ch <- c
				}
			}
		}
	}()
	<-s.hello
	return s
}

func getAs(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
