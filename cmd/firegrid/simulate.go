package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/simulator"
	"github.com/firegrid/firegrid/simulator/territory"
)

const simulateUsage = `Usage:
  firegrid simulate [flags]          play a fleet and a scenario against an MQTT broker (or, with --virtual, an in-process firegrid)
  firegrid simulate test [flags] [FILE|DIR ...]
                                     play scenarios against in-process firegrids in virtual time and judge their expectations
  firegrid simulate record [flags]   capture MQTT traffic from a broker to JSON Lines
  firegrid simulate replay [flags]   publish a capture again, with its spacing
  firegrid simulate load [flags]     push load at a firegrid; report msg/s and alarm-to-console latency
  firegrid simulate generate --out DIR [flags]
                                     write a made-up territory (registry directory) of any size for serve and simulate

Run 'firegrid simulate <command> --help' for the command's flags.
`

// errExpectations is a run whose expectations did not all hold; the
// summary has said which.
var errExpectations = errors.New("expectations failed (see the summary above)")

func simulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "test":
			return simulateTest(ctx, args[1:], stdout, stderr)
		case "record":
			return simulateRecord(ctx, args[1:], stdout, stderr)
		case "replay":
			return simulateReplay(ctx, args[1:], stdout, stderr)
		case "load":
			return simulateLoad(ctx, args[1:], stdout, stderr)
		case "generate":
			return simulateGenerate(args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, simulateUsage)
			return nil
		}
	}
	return simulateRun(ctx, args, stdout, stderr)
}

// loginFlags are the flags of a simulate command's MQTT account: its
// shared connections' user name and password file, and a credentials
// file of devices' own.
type loginFlags struct {
	username, passwordFile, credentials *string
}

func addLoginFlags(fs *flag.FlagSet, devices bool) *loginFlags {
	l := &loginFlags{
		username:     fs.String("mqtt-username", "", "user name of the shared MQTT connection (an observer's or another service's account)"),
		passwordFile: fs.String("mqtt-password-file", "", "file holding that account's password (default: FIREGRID_MQTT_PASSWORD)"),
	}
	if devices {
		l.credentials = fs.String("credentials", "", "devices' credentials file (id,username,password): every device connects on its own connection with its own, as a broker that checks who may speak needs")
	}
	return l
}

// login returns the shared connections' login.
func (l *loginFlags) login() ([]simulator.MQTTOption, error) {
	if *l.username == "" {
		return nil, nil
	}
	pw := os.Getenv("FIREGRID_MQTT_PASSWORD")
	if *l.passwordFile != "" {
		b, err := os.ReadFile(*l.passwordFile)
		if err != nil {
			return nil, err
		}
		pw = strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	return []simulator.MQTTOption{simulator.WithLogin(*l.username, pw)}, nil
}

// devices returns the devices' credentials, or nil without a file.
func (l *loginFlags) devices() (simulator.Credentials, error) {
	if l.credentials == nil || *l.credentials == "" {
		return nil, nil
	}
	return simulator.LoadCredentials(*l.credentials)
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func simulateRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage+"\nFlags of a run:\n"); fs.PrintDefaults() }
	var cfg simulator.Config
	fs.StringVar(&cfg.MQTTURL, "mqtt-url", "tcp://127.0.0.1:1883", "MQTT broker to publish to")
	fs.StringVar(&cfg.HTTP, "http", "", "console address (host:port) of the firegrid under test, watched to judge the scenario's expectations")
	fs.StringVar(&cfg.Scenario, "scenario", "", "scenario file (configs/scenarios/...); empty = the fleet's heartbeats alone")
	registry := fs.String("registry", "", "territory directory whose devices make the fleet (default: the embedded demo territory)")
	rules := fs.String("rules", "", "with --virtual: rules file (default: the embedded configs/rules.yaml)")
	virtual := fs.Bool("virtual", false, "play against an in-process firegrid in virtual time instead of a broker")
	fs.Float64Var(&cfg.Speed, "speed", 1, "play this many times faster than real time")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the fleet's behaviour (default: the scenario's seed)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this much scenario time (default: the scenario's duration, or until interrupted)")
	fs.BoolVar(&cfg.NoFleet, "no-fleet", false, "publish only the scenario's steps, no heartbeats")
	fs.StringVar(&cfg.ClientID, "client-id", "", "MQTT client id (default: random)")
	fs.StringVar(&cfg.GB26875, "gb26875", "", "GB/T 26875.3 listener (host:port) the devices behind transmission units are played to, as their units speak (default: they publish contract v1)")
	fs.DurationVar(&cfg.Fleet.SmokeInterval, "smoke-interval", 0, "heartbeat interval of smoke detectors (default 60s)")
	fs.DurationVar(&cfg.Fleet.HydrantInterval, "hydrant-interval", 0, "telemetry interval of hydrant monitors (default 30s)")
	fs.DurationVar(&cfg.Fleet.ChargerInterval, "charger-interval", 0, "telemetry interval of chargers (default 30s)")
	start := fs.String("start", "", "simulated wall-clock time at the start, as HH:MM (today, local time) or RFC 3339; sets the time of day of the hydrants' demand cycle (default: now, or the virtual clock's start)")
	junit := fs.String("junit", "", "write the expectations' results as JUnit XML to this file")
	record := fs.String("record", "", "write every publication to this capture file (JSON Lines)")
	verbose := fs.Bool("v", false, "log every publication")
	lf := addLoginFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see firegrid simulate --help)", fs.Arg(0))
	}
	var err error
	if cfg.Login, err = lf.login(); err != nil {
		return err
	}
	if cfg.Credentials, err = lf.devices(); err != nil {
		return err
	}
	if *start != "" {
		t, err := parseStart(*start, time.Now())
		if err != nil {
			return err
		}
		cfg.Start = t
	}
	log := newLogger(stderr, *verbose)
	var capture *simulator.CaptureWriter
	if *record != "" {
		var err error
		if capture, err = simulator.CreateCapture(*record); err != nil {
			return err
		}
		defer capture.Close()
		cfg.OnPublish = func(p simulator.Publication) { _ = capture.Publication(p) }
	}
	var rep *simulator.Report
	if *virtual {
		if cfg.Scenario == "" {
			return errors.New("--virtual needs a --scenario")
		}
		sc, err := simulator.LoadScenario(cfg.Scenario)
		if err != nil {
			return err
		}
		scfg := assembly.DefaultConfig()
		scfg.Registry, scfg.Rules, scfg.Log.Level = *registry, *rules, "warn"
		cfg.MQTTURL = ""
		run := assembly.ScenarioRun{Run: cfg, Log: log, OnPublish: cfg.OnPublish}
		if run.Source, err = captureSource(sc); err != nil {
			return err
		}
		rep, err = assembly.RunScenario(ctx, scfg, sc, run)
		if err != nil {
			return err
		}
	} else {
		reg, lerr := assembly.LoadRegistry(*registry)
		if lerr != nil {
			return fmt.Errorf("registry: %w", lerr)
		}
		rep, err = simulator.Simulate(ctx, cfg, reg.Devices(""), nil, log)
		if rep == nil {
			return err
		}
	}
	if capture != nil {
		if cerr := capture.Close(); cerr != nil {
			return cerr
		}
		fmt.Fprintf(stdout, "capture: %d messages written to %s\n", capture.Len(), *record)
	}
	return finish(stdout, *junit, err, rep)
}

// parseStart reads --start: HH:MM (or HH:MM:SS) on the day of now in its
// location, or an RFC 3339 time.
func parseStart(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{"15:04", "15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, now.Location()), nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start: %q is not HH:MM nor an RFC 3339 time like 2026-11-23T07:30:00+08:00", s)
	}
	return t, nil
}

// finish prints the summary of reports, writes the JUnit file, and turns
// failed expectations into an error (exit code 1).
func finish(stdout io.Writer, junit string, runErr error, reps ...*simulator.Report) error {
	for _, r := range reps {
		if len(r.Results) > 0 || r.Err != nil {
			r.WriteSummary(stdout)
		} else {
			fmt.Fprintf(stdout, "simulation %s ended: %d messages, %s played in %s\n", r.Scenario, r.Published, r.Played.Round(time.Millisecond), r.Elapsed.Round(time.Millisecond))
		}
	}
	if junit != "" {
		f, err := os.Create(junit)
		if err != nil {
			return err
		}
		if err := errors.Join(simulator.WriteJUnit(f, reps...), f.Close()); err != nil {
			return fmt.Errorf("junit: %w", err)
		}
	}
	if runErr != nil {
		return runErr
	}
	for _, r := range reps {
		if !r.OK() {
			return errExpectations
		}
	}
	return nil
}

// captureSource opens the capture a scenario replays, if it has one.
func captureSource(sc *simulator.Scenario) (simulator.Source, error) {
	p := sc.CapturePath()
	if p == "" {
		return nil, nil
	}
	recs, err := simulator.LoadCapture(filepath.FromSlash(p))
	if err != nil {
		return nil, err
	}
	return simulator.NewReplay(recs), nil
}

func simulateTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("simulate test", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(stderr, "Usage: firegrid simulate test [flags] [FILE|DIR ...]\n\nPlays every scenario with expectations (default: the embedded configs/scenarios library)\nagainst a fresh in-process firegrid in virtual time; exit code 0 only when every expectation holds.\n\n")
		fset.PrintDefaults()
	}
	registry := fset.String("registry", "", "territory directory (default: the embedded demo territory)")
	rules := fset.String("rules", "", "rules file (default: the embedded configs/rules.yaml)")
	junit := fset.String("junit", "", "write the results as JUnit XML to this file")
	verbose := fset.Bool("v", false, "log every scenario step")
	if err := fset.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = newLogger(stderr, false)
	}
	type entry struct {
		sc  *simulator.Scenario
		src simulator.Source
	}
	var list []entry
	add := func(sc *simulator.Scenario, src simulator.Source) {
		if len(sc.Expect) > 0 {
			list = append(list, entry{sc, src})
		}
	}
	if fset.NArg() == 0 {
		files, _ := fs.Glob(configs.FS, "scenarios/*.yaml")
		for _, f := range files {
			b, _ := fs.ReadFile(configs.FS, f)
			sc, err := simulator.ParseScenario(path.Join("configs", f), b)
			if err != nil {
				return err
			}
			var src simulator.Source
			if sc.Capture != "" {
				p := path.Join(path.Dir(f), sc.Capture)
				fh, err := configs.FS.Open(p)
				if err != nil {
					return err
				}
				recs, err := simulator.ReadCapture("configs/"+p, fh)
				fh.Close()
				if err != nil {
					return err
				}
				src = simulator.NewReplay(recs)
			}
			add(sc, src)
		}
	}
	for _, arg := range fset.Args() {
		files := []string{arg}
		if st, err := os.Stat(arg); err == nil && st.IsDir() {
			files, _ = filepath.Glob(filepath.Join(arg, "*.yaml"))
		}
		for _, f := range files {
			sc, err := simulator.LoadScenario(f)
			if err != nil {
				return err
			}
			src, err := captureSource(sc)
			if err != nil {
				return err
			}
			add(sc, src)
		}
	}
	if len(list) == 0 {
		return errors.New("no scenario with expectations to play")
	}
	cfg := assembly.DefaultConfig()
	cfg.Registry, cfg.Rules, cfg.Log.Level = *registry, *rules, "warn"
	var reps []*simulator.Report
	for _, e := range list {
		rep, err := assembly.RunScenario(ctx, cfg, e.sc, assembly.ScenarioRun{Source: e.src, Log: log})
		if err != nil {
			rep = &simulator.Report{Scenario: e.sc.Name, File: e.sc.File, Mode: "virtual time", Err: err}
		}
		reps = append(reps, rep)
	}
	failed := 0
	for _, r := range reps {
		if !r.OK() {
			failed++
		}
	}
	err := finish(stdout, *junit, nil, reps...)
	fmt.Fprintf(stdout, "%d scenarios, %d failed\n", len(reps), failed)
	return err
}

func simulateRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("mqtt-url", "tcp://127.0.0.1:1883", "MQTT broker to record from")
	out := fs.String("out", "", "capture file to write (JSON Lines: time, topic, qos, retained, payload)")
	topic := fs.String("topic", "fg/v1/#", "MQTT topic filter to record")
	duration := fs.Duration("duration", 0, "stop after this long (default: until interrupted)")
	lf := addLoginFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out FILE is required")
	}
	login, err := lf.login()
	if err != nil {
		return err
	}
	w, err := simulator.CreateCapture(*out)
	if err != nil {
		return err
	}
	defer w.Close()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(stderr, "recording %s from %s to %s; stop with Ctrl-C\n", *topic, *url, *out)
	n, err := simulator.RecordBroker(ctx, *url, *topic, w, nil, login...)
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recorded %d messages to %s\n", n, *out)
	return nil
}

func simulateReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg simulator.Config
	fs.StringVar(&cfg.MQTTURL, "mqtt-url", "tcp://127.0.0.1:1883", "MQTT broker to publish to")
	in := fs.String("in", "", "capture file to replay")
	fs.Float64Var(&cfg.Speed, "speed", 1, "play this many times faster than the capture's own spacing")
	fs.StringVar(&cfg.ClientID, "client-id", "", "MQTT client id (default: random)")
	verbose := fs.Bool("v", false, "log every publication")
	lf := addLoginFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("--in FILE is required")
	}
	login, err := lf.login()
	if err != nil {
		return err
	}
	creds, err := lf.devices()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	recs, err := simulator.LoadCapture(*in)
	if err != nil {
		return err
	}
	var pub interface {
		simulator.Publisher
		Close() error
	}
	if creds != nil {
		// Each recorded device publishes on its own connection.
		seen := map[string]bool{}
		var ids []string
		for _, r := range recs {
			if _, id, _, err := contract.ParseUplinkTopic(r.Topic); err == nil && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		pub, err = simulator.DialDevices(ctx, cfg.MQTTURL, creds, ids, simulator.DeviceOptions{})
	} else {
		pub, err = simulator.NewMQTTPublisher(ctx, cfg.MQTTURL, cfg.ClientID, login...)
	}
	if err != nil {
		return err
	}
	defer pub.Close()
	n := 0
	r := &simulator.Runner{Config: cfg, Source: simulator.NewReplay(recs), Publisher: pub, Logger: newLogger(stderr, *verbose),
		OnPublish: func(simulator.Publication) { n++ }}
	start := time.Now()
	if err := r.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d of %d messages in %s\n", n, len(recs), time.Since(start).Round(time.Millisecond))
	return nil
}

func simulateLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg simulator.LoadConfig
	fs.StringVar(&cfg.MQTTURL, "mqtt-url", "tcp://127.0.0.1:1883", "MQTT broker firegrid ingests from")
	fs.StringVar(&cfg.HTTP, "http", "127.0.0.1:8080", "firegrid console address, whose stream gives the alarm latency (empty: publishing side only)")
	registry := fs.String("registry", "", "territory directory whose devices publish (default: the embedded demo territory); must be firegrid's")
	fs.IntVar(&cfg.Devices, "devices", 0, "how many of the registry's devices publish (default: all)")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "target messages per second, all connections together")
	qos := fs.Uint("qos", 1, "MQTT QoS, 0 or 1")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to publish")
	fs.IntVar(&cfg.Connections, "connections", 4, "MQTT connections the devices share (with --credentials: goroutines pacing the devices' own connections)")
	fs.Float64Var(&cfg.AlarmShare, "alarm-share", 0.01, "share of messages that are smoke alarms, matched to their incidents for latency")
	fs.IntVar(&cfg.InFlight, "in-flight", 1000, "unacknowledged messages per connection at most")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the devices' values")
	jsonOut := fs.String("json", "", "write the result (totals, latency percentiles, a sample per second) as JSON to this file")
	quiet := fs.Bool("q", false, "no progress line")
	lf := addLoginFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Login, err = lf.login(); err != nil {
		return err
	}
	if cfg.Credentials, err = lf.devices(); err != nil {
		return err
	}
	cfg.QoS = byte(*qos)
	if !*quiet {
		cfg.Progress = stderr
	}
	reg, err := assembly.LoadRegistry(*registry)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	res, err := simulator.Load(ctx, cfg, reg.Devices(""), nil)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, res.String())
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d messages failed: %s", res.Failed, res.Sent, res.FirstError)
	}
	return nil
}

func simulateGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: firegrid simulate generate --out DIR [flags]\n\nWrites a made-up territory as a registry directory that firegrid serve --registry DIR\nand firegrid simulate [load] --registry DIR use. Communities (three zones each) grow with\nthe households, about 24 households a zone. The defaults with --seed 1 write configs/demo.\n\n")
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "directory to write the registry files into (created if need be)")
	var o territory.Options
	fs.IntVar(&o.Households, "households", territory.DefaultHouseholds, "households, one smoke detector each (a kitchen detector in every eighth)")
	fs.IntVar(&o.Hydrants, "hydrants", territory.DefaultHydrants, "hydrants, one pressure monitor each")
	fs.IntVar(&o.Sheds, "sheds", territory.DefaultSheds, "e-bike charging sheds, a 10-port charger and a smoke detector each")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed and sizes write the same files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see firegrid simulate generate --help)", fs.Arg(0))
	}
	if *out == "" {
		return errors.New("--out DIR is required")
	}
	if o.Households <= 0 || o.Hydrants <= 0 || o.Sheds <= 0 {
		return fmt.Errorf("--households, --hydrants and --sheds must be at least 1 (got %d, %d, %d)", o.Households, o.Hydrants, o.Sheds)
	}
	t, err := territory.Generate(o)
	if err != nil {
		return err
	}
	if err := t.Write(*out); err != nil {
		return err
	}
	c := t.Counts()
	fmt.Fprintf(stdout, "territory written to %s: %d communities, %d zones, %d stations; %d households, %d corridors, %d charging sheds, %d hydrants, %d buildings; %d devices (%d smoke, %d hydrant, %d charger, %d electrical, %d gas, %d button, %d camera; %d behind %d GB/T 26875.3 units, %d LoRaWAN, %d on carrier platforms), %d residents\n",
		*out, c.Communities, c.Zones, c.Stations, c.Households, c.Corridors, c.Sheds, c.Hydrants, c.Buildings,
		c.Devices(), c.SmokeDetectors, c.HydrantMonitors, c.Chargers, c.ElectricalMonitors, c.GasDetectors, c.CallButtons, c.Cameras,
		c.UnitDetectors, c.TransmissionUnits, c.LoRaWAN, c.Platform, c.Residents)
	return nil
}
