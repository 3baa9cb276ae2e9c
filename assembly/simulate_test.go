package assembly

import (
	"context"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// TestScenarioLibraryFitsDemo: every scenario in configs/scenarios parses
// and names only devices of the demo territory, so the demo and the
// library never drift apart.
func TestScenarioLibraryFitsDemo(t *testing.T) {
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(configs.FS, "scenarios/*.yaml")
	if len(files) < 4 {
		t.Fatalf("only %d scenarios", len(files))
	}
	for _, f := range files {
		b, _ := fs.ReadFile(configs.FS, f)
		sc, err := simulator.ParseScenario(path.Join("configs", f), b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := sc.Check(reg.Devices("")); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSimulateScenarioAgainstMosquitto plays the kitchen-fire scenario, as
// `firegrid simulate --mqtt-url URL --http ADDR --scenario FILE --speed 50`
// does, through a real Mosquitto into a running firegrid, reads the fire
// from the stream, and judges the scenario's expectations in accelerated
// time.
func TestSimulateScenarioAgainstMosquitto(t *testing.T) {
	url := testenv.Mosquitto(t)
	s := startServe(t, url, "")
	st := openStream(t, s.HTTPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := simulator.Simulate(ctx, simulator.Config{MQTTURL: url, Scenario: "../configs/scenarios/kitchen-fire.yaml",
			Speed: 50, NoFleet: true, Duration: 60 * time.Second, HTTP: s.HTTPAddr}, s.Registry.Devices(""), nil, nil)
		done <- err
	}()
	c := st.next(t, 10*time.Second, func(c contract.IncidentChange) bool { return c.Incident.Devices[0] == "SD-0108" })
	if c.Incident.Type != "fire" || !c.Incident.Resident.ElderlyAlone {
		t.Errorf("incident %s for %v, want a fire in an elderly-alone home", c.Incident.Type, c.Incident.Resident)
	}
	if err := <-done; err != nil {
		t.Fatalf("simulate: %v", err)
	}
}

// TestScenarioWithDeviceCredentials plays a library scenario against the
// embedded broker as real devices would connect: every device on its own
// connection with its own credentials (as serve --demo runs its fleet),
// the charger's port_off read on its own cmd topic.
func TestScenarioWithDeviceCredentials(t *testing.T) {
	s := startServe(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	creds, _, err := IssueCredentials(ctx, s.Store, s.Registry.Devices(""), nil, IssueAll)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the broker reads new accounts within a second
	rep, err := simulator.Simulate(ctx, simulator.Config{MQTTURL: s.MQTTURL, HTTP: s.HTTPAddr, Speed: 4, Credentials: creds,
		Scenario: "../configs/scenarios/alarm-and-port-off.yaml"}, s.Registry.Devices(""), nil, nil)
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	if !rep.OK() || rep.Count(simulator.Passed) != 3 {
		t.Errorf("want 3 expectations held:\n%s", sum.String())
	}
}

// TestScenarioRealTimeThroughMosquitto plays a library scenario in real
// time through a real Mosquitto into a running firegrid, judging its
// expectations from the console stream and the broker's command topics.
func TestScenarioRealTimeThroughMosquitto(t *testing.T) {
	url := testenv.Mosquitto(t)
	s := startServe(t, url, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := simulator.Simulate(ctx, simulator.Config{MQTTURL: url, HTTP: s.HTTPAddr,
		Scenario: "../configs/scenarios/alarm-and-port-off.yaml"}, s.Registry.Devices(""), nil, nil)
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	t.Log(sum.String())
	if !rep.OK() || rep.Count(simulator.Passed) != 3 || rep.Mode != "real time" {
		t.Errorf("want 3 expectations held in real time")
	}
	if rep.Elapsed < 8*time.Second {
		t.Errorf("an 8-second scenario ran in %v of wall time, not in real time", rep.Elapsed)
	}
}
