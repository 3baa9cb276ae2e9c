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
