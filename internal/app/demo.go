package app

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
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
// at url until ctx is done.
func runDemo(ctx context.Context, d Demo, reg *devices.Registry, url string, log *slog.Logger) error {
	cfg := simulator.Config{MQTTURL: url, ClientID: "firegrid-demo-fleet", Scenario: d.Scenario, Seed: d.Seed}
	var sc *simulator.Scenario
	if d.Scenario == "" {
		var err error
		if sc, err = LoadDemoScenario(); err != nil {
			return err
		}
	}
	return Simulate(ctx, cfg, sc, reg, log)
}

// Simulate plays cfg with the registry's devices (cfg.Registry is ignored:
// the caller loaded the registry, possibly the embedded demo). sc, when not
// nil, is played instead of cfg.Scenario.
func Simulate(ctx context.Context, cfg simulator.Config, sc *simulator.Scenario, reg *devices.Registry, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	devs := reg.Devices("")
	if sc == nil && cfg.Scenario != "" {
		var err error
		if sc, err = simulator.LoadScenario(cfg.Scenario); err != nil {
			return err
		}
	}
	if sc != nil {
		if err := sc.Check(devs); err != nil {
			return err
		}
	}
	pub, err := simulator.NewMQTTPublisher(ctx, cfg.MQTTURL, cfg.ClientID)
	if err != nil {
		return err
	}
	defer pub.Close()
	r := &simulator.Runner{Config: cfg, Scenario: sc, Devices: devs, Publisher: pub, Clock: clock.Real{}, Logger: log}
	return r.Run(ctx)
}
