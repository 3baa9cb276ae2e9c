package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/firegrid/firegrid/assembly"
)

// serveFlags binds the serve flags over cfg; the file given by --config is
// read first and the flags set on the command line win. more adds flags
// of the command's own.
func loadServeConfig(name string, args []string, stderr io.Writer, more ...func(*flag.FlagSet)) (assembly.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, f := range more {
		f(fs)
	}
	var (
		configFile = fs.String("config", "", "configuration file (YAML; see configs/firegrid.yaml)")
		httpAddr   = fs.String("http", "", "console and API address (default 127.0.0.1:8080)")
		mqttListen = fs.String("mqtt-listen", "", "embedded MQTT broker address (default 127.0.0.1:1883)")
		mqttURL    = fs.String("mqtt-url", "", "use this external MQTT broker instead of the embedded one, e.g. tcp://127.0.0.1:1883")
		dataDir    = fs.String("data", "", "data directory for the SQLite incident store (default ./data)")
		registry   = fs.String("registry", "", "territory directory, or db for the latest one imported into the store (default: the embedded demo territory)")
		rulesFile  = fs.String("rules", "", "rules file (default: the embedded configs/rules.yaml)")
		demo       = fs.Bool("demo", false, "run a simulated fleet of the registry's devices in the process")
		scenario   = fs.String("scenario", "", "with --demo: a scenario file to play on top of the fleet")
		logLevel   = fs.String("log-level", "", "debug, info, warn or error")
		kafka      = fs.String("kafka", "", "scale-out roles: Kafka bootstrap brokers, comma-separated host:port")
		postgres   = fs.String("postgres", "", "scale-out roles: PostgreSQL DSN for incidents, and the registry and users when they are db (default: SQLite in --data)")
		influxURL  = fs.String("influx-url", "", "sink role (optional in serve): InfluxDB URL, e.g. http://127.0.0.1:8086")
		instance   = fs.String("instance", "", "scale-out roles: this instance's name (default: the host name)")
		usersFile  = fs.String("users", "", "users file, or db for the store's users (make them with firegrid users add); none: no log-ins")
		gbListen   = fs.String("gb26875-listen", "", "ingest: serve GB/T 26875.3 transmission units on this TCP address (units: sources.gb26875.units); default off")
		pushListen = fs.String("push-listen", "", "ingest: serve CTWing and OneNET pushes on this HTTP address (tokens: sources.push); default off")
		csURL      = fs.String("chirpstack-url", "", "ingest: subscribe to ChirpStack's MQTT integration on this broker, e.g. tcp://chirpstack:1883; default off")
	)
	if err := fs.Parse(args); err != nil {
		return assembly.Config{}, err
	}
	if fs.NArg() > 0 {
		return assembly.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := assembly.DefaultConfig()
	if *configFile != "" {
		var err error
		if cfg, err = assembly.LoadConfig(*configFile); err != nil {
			return cfg, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["http"] {
		cfg.HTTP = *httpAddr
	}
	if set["mqtt-listen"] {
		cfg.MQTT.Listen = *mqttListen
	}
	if set["mqtt-url"] {
		cfg.MQTT.URL = *mqttURL
	}
	if set["data"] {
		cfg.Data = *dataDir
	}
	if set["registry"] {
		cfg.Registry = *registry
	}
	if set["rules"] {
		cfg.Rules = *rulesFile
	}
	if set["demo"] {
		cfg.Demo.Enabled = *demo
	}
	if set["scenario"] {
		cfg.Demo.Scenario = *scenario
	}
	if set["users"] {
		cfg.Dispatch.Users = *usersFile
	}
	if set["log-level"] {
		cfg.Log.Level = *logLevel
	}
	if set["kafka"] {
		cfg.Kafka.Brokers = strings.Split(*kafka, ",")
	}
	if set["postgres"] {
		cfg.Postgres.DSN = *postgres
	}
	if set["influx-url"] {
		cfg.Influx.URL = *influxURL
	}
	if set["instance"] {
		cfg.Instance = *instance
	}
	if set["gb26875-listen"] {
		cfg.Sources.GB26875.Listen = *gbListen
	}
	if set["push-listen"] {
		cfg.Sources.Push.Listen = *pushListen
	}
	if set["chirpstack-url"] {
		cfg.Sources.ChirpStack.URL = *csURL
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var pprofAddr string
	cfg, err := loadServeConfig("serve", args, stderr, debugFlag(&pprofAddr))
	if err != nil {
		return err
	}
	if pprofAddr != "" {
		if pprofAddr, err = serveDebug(ctx, pprofAddr); err != nil {
			return err
		}
	}
	s, err := assembly.Start(ctx, assembly.Serve, cfg, assembly.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go s.ReloadOn(ctx, hup)
	fmt.Fprintf(stdout, "firegrid is up\n  console:  http://%s/\n  MQTT:     %s\n  incidents: http://%s/api/v1/incidents?status=open\n  metrics:  http://%s/metrics\n",
		s.HTTPAddr, s.MQTTURL, s.HTTPAddr, s.HTTPAddr)
	if s.DemoCredentials != "" {
		fmt.Fprintf(stdout, "  demo devices' MQTT credentials: %s\n    (id,username,password; a device publishes as itself with mosquitto_pub -u ID -P PASSWORD)\n", s.DemoCredentials)
	}
	if pprofAddr != "" {
		fmt.Fprintf(stdout, "  profiler: http://%s/debug/pprof/ (and /debug/memory)\n", pprofAddr)
	}
	if s.GB26875Addr != "" {
		fmt.Fprintf(stdout, "  GB/T 26875.3: tcp://%s\n", s.GB26875Addr)
	}
	if s.PushAddr != "" {
		fmt.Fprintf(stdout, "  pushes:   http://%s/push/ctwing, /push/onenet\n", s.PushAddr)
	}
	if s.DemoOrders {
		fmt.Fprintf(stdout, "  hazards:  http://%s/hazards.html\n  demo 12345 work orders: POST http://%s/api/v1/workorders/%s, signed with %q\n",
			s.HTTPAddr, s.HTTPAddr, assembly.DemoOrderChannel, assembly.DemoOrderSecret)
	}
	if len(s.DemoLogins) > 0 {
		fmt.Fprintln(stdout, "  demo log-ins (username / password):")
		for _, l := range s.DemoLogins {
			who := string(l.Role)
			for _, x := range []string{l.Station, l.Area, l.Org} {
				if x != "" {
					who += " " + x
				}
			}
			fmt.Fprintf(stdout, "    %-12s %-22s %s\n", l.Username, l.Password, who)
		}
	}
	select {
	case <-ctx.Done():
		s.Log.Info("shutting down")
		return nil
	case err := <-s.Err():
		return err
	}
}

func checkConfig(args []string, stdout, stderr io.Writer) error {
	cfg, err := loadServeConfig("check-config", args, stderr)
	if err != nil {
		return err
	}
	reg, err := assembly.LoadConfiguredRegistry(context.Background(), cfg)
	if err != nil {
		return err
	}
	rc, err := assembly.LoadRules(cfg.Rules)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	models, err := assembly.LoadModels(cfg.Sources.Models)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configuration ok: %d devices, %d sites, %d stations, %d rules, %d device models; %d registry gaps\n",
		len(reg.Devices("")), len(reg.Sites()), len(reg.Stations()), len(rc.Rules), len(models.Models), len(reg.Gaps()))
	if on := cfg.Sources.Enabled(); len(on) > 0 {
		fmt.Fprintf(stdout, "  field sources: %s\n", strings.Join(on, ", "))
	}
	for _, g := range reg.Gaps() {
		fmt.Fprintf(stdout, "  gap: %s %s: %s\n", g.Kind, g.ID, g.Detail)
	}
	return nil
}
