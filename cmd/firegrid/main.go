// Command firegrid runs firegrid: `serve` is the all-in-one (embedded MQTT
// broker, ingest, rules and alarm on the in-process bus, SQLite, console);
// `ingest`, `rules`, `alarm` and `sink` are the scale-out roles on Kafka,
// PostgreSQL and InfluxDB; `simulate` drives a fleet of simulated devices;
// `check-config` validates configuration without starting anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `firegrid: fire alarms from networked detectors, hydrants and chargers to micro fire stations.

Usage:
  firegrid serve [flags]          run everything in one process (see --help)
  firegrid ingest [flags]         scale-out: MQTT (shared subscription) to Kafka
  firegrid rules [flags]          scale-out: readings to signals, scaled by Kafka partitions
  firegrid alarm [flags]          scale-out: signals to incidents in PostgreSQL; console and API
  firegrid sink [flags]           scale-out: readings and incident changes into InfluxDB
  firegrid simulate [flags]       publish a simulated fleet and scenario to an MQTT broker
  firegrid simulate test|record|replay|load|generate [flags]
                                  judge the scenario library; capture and replay MQTT traffic;
                                  push load; write a territory of any size
  firegrid check-config [flags]   validate configuration, rules and registry, then exit
  firegrid bench [flags]          the same load against a bare Mosquitto and firegrid serve,
                                  side by side, against the hot path's goals
  firegrid users add [flags]      add or change a console user (bcrypt-hashed password),
                                  in a users file or the database (--postgres DSN | --data DIR)
  firegrid devices credentials issue|rotate|revoke|list|mosquitto [flags]
                                  devices' MQTT credentials (and firegrid's own components'),
                                  kept as hashes in the store; Mosquitto's password and ACL files
  firegrid devices tls --out DIR  a development CA and server certificate for a TLS listener
  firegrid registry import|export [flags]
                                  keep the territory in the database (versioned, validated)
                                  for roles configured with registry: db
  firegrid version

Run 'firegrid <command> --help' for the command's flags.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "ingest", "rules", "alarm", "sink":
		err = runRole(ctx, args[0], args[1:], stdout, stderr)
	case "simulate":
		err = simulate(ctx, args[1:], stdout, stderr)
	case "users":
		err = users(ctx, args[1:], os.Stdin, stdout, stderr)
	case "registry":
		err = registry(ctx, args[1:], stdout, stderr)
	case "devices":
		err = devicesCmd(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = checkConfig(args[1:], stdout, stderr)
	case "bench":
		err = bench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "firegrid", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "firegrid: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "firegrid %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
