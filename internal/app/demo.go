package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/simulator"
)

// runDemo plays a simulated fleet of the registry's devices, and the
// configured scenario on top, against the broker at url until ctx is done.
func runDemo(ctx context.Context, d Demo, reg *devices.Registry, url string, log *slog.Logger) error {
	return Simulate(ctx, simulator.Config{MQTTURL: url, ClientID: "firegrid-demo-fleet", Scenario: d.Scenario, Seed: d.Seed}, reg, log)
}

// Simulate plays cfg with the registry's devices (cfg.Registry is ignored:
// the caller loaded the registry, possibly the embedded demo).
func Simulate(ctx context.Context, cfg simulator.Config, reg *devices.Registry, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	devs := reg.Devices("")
	var sc *simulator.Scenario
	if cfg.Scenario != "" {
		var err error
		if sc, err = simulator.LoadScenario(cfg.Scenario); err != nil {
			return err
		}
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
