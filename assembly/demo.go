package assembly

import (
	"context"
	"io/fs"
	"log/slog"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// DemoScenario is the embedded scenario `serve --demo` plays when no other
// is configured.
const DemoScenario = "scenarios/demo.yaml"

// DemoPeople is what the demo's people do (configs/people/demo.yaml).
const DemoPeople = "people/demo.yaml"

// DemoOrderChannel and DemoOrderSecret are the 12345 work-order channel
// `serve --demo` opens (unless the configuration has one of that name)
// and the secret its orders are signed with; printed at start.
const (
	DemoOrderChannel = "12345"
	DemoOrderSecret  = "demo-12345-order-secret"
)

// LoadDemoPeople parses the embedded demo people file.
func LoadDemoPeople() (*simulator.People, error) {
	b, err := fs.ReadFile(configs.FS, DemoPeople)
	if err != nil {
		return nil, err
	}
	return simulator.ParsePeople("configs/"+DemoPeople+" (embedded)", b)
}

// runPeople plays the demo's people against the process's own API, as
// its users, until the last step or ctx is done.
func runPeople(ctx context.Context, addr string, logins []Login, log *slog.Logger) error {
	p, err := LoadDemoPeople()
	if err != nil {
		return err
	}
	pw := map[string]string{}
	for _, l := range logins {
		pw[l.Username] = l.Password
	}
	run, err := simulator.PlayPeople(ctx, p, simulator.PeopleTarget{BaseURL: "http://" + addr, Passwords: pw,
		Secrets: map[string][]byte{DemoOrderChannel: []byte(DemoOrderSecret)}, Log: log})
	if err == nil && len(run.Failed) > 0 {
		log.Warn("the demo's people had steps refused", "refused", run.Failed)
	}
	return err
}

// LoadDemoScenario parses the embedded demo scenario.
func LoadDemoScenario() (*simulator.Scenario, error) {
	b, err := fs.ReadFile(configs.FS, DemoScenario)
	if err != nil {
		return nil, err
	}
	return simulator.ParseScenario("configs/"+DemoScenario+" (embedded)", b)
}

// runDemo plays a simulated fleet of the registry's devices, and the
// configured scenario (or the embedded demo one) on top, against the broker
// at url until ctx is done; creds, when set, are the devices' own. With
// the GB/T 26875.3 listener at gb26875, the devices behind transmission
// units are played through their units.
func runDemo(ctx context.Context, d Demo, reg *devices.Registry, url, gb26875 string, creds simulator.Credentials, log *slog.Logger) error {
	// With the embedded broker every device connects on its own, with
	// its own credentials; an external broker gets one connection.
	cfg := simulator.Config{MQTTURL: url, ClientID: "firegrid-demo-fleet", Scenario: d.Scenario, Seed: d.Seed, Credentials: creds,
		GB26875: gb26875}
	var sc *simulator.Scenario
	if d.Scenario == "" {
		var err error
		if sc, err = LoadDemoScenario(); err != nil {
			return err
		}
	}
	_, err := simulator.Simulate(ctx, cfg, reg.Devices(""), sc, log)
	return err
}
