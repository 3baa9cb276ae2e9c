package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/firegrid/firegrid/internal/app"
	"github.com/firegrid/firegrid/simulator"
)

func simulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg simulator.Config
	fs.StringVar(&cfg.MQTTURL, "mqtt-url", "tcp://127.0.0.1:1883", "MQTT broker to publish to")
	fs.StringVar(&cfg.Scenario, "scenario", "", "scenario file (configs/scenarios/...); empty = the fleet's heartbeats alone")
	registry := fs.String("registry", "", "territory directory whose devices make the fleet (default: the embedded demo territory)")
	fs.Float64Var(&cfg.Speed, "speed", 1, "play this many times faster than real time")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fleet's behaviour (default: the scenario's seed)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this much scenario time (default: the scenario's duration, or until interrupted)")
	fs.BoolVar(&cfg.NoFleet, "no-fleet", false, "publish only the scenario's steps, no heartbeats")
	fs.StringVar(&cfg.ClientID, "client-id", "", "MQTT client id (default: random)")
	fs.DurationVar(&cfg.Fleet.SmokeInterval, "smoke-interval", 0, "heartbeat interval of smoke detectors (default 60s)")
	fs.DurationVar(&cfg.Fleet.HydrantInterval, "hydrant-interval", 0, "telemetry interval of hydrant monitors (default 30s)")
	fs.DurationVar(&cfg.Fleet.ChargerInterval, "charger-interval", 0, "telemetry interval of chargers (default 30s)")
	verbose := fs.Bool("v", false, "log every publication")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl := slog.LevelInfo
	if *verbose {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	reg, err := app.LoadRegistry(*registry)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	start := time.Now()
	if err := app.Simulate(ctx, cfg, nil, reg, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulation ended after %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
