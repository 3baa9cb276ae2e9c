package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/broker"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/notify"
	"github.com/firegrid/firegrid/rules"
	"github.com/firegrid/firegrid/store"
	"github.com/firegrid/firegrid/tsdb"
)

// Serve is a running all-in-one firegrid.
type Serve struct {
	// HTTPAddr is the console's address (host:port actually bound).
	HTTPAddr string
	// MQTTURL is the broker devices connect to.
	MQTTURL string

	Registry *devices.Registry
	// Bus is the in-process pipeline the roles share.
	Bus         *bus.Memory
	Manager     *alarm.Manager
	Engine      *rules.Engine
	Rules       *rules.Admin
	Ingester    *ingest.Ingester
	DeadLetters *ingest.DeadLetters
	Metrics     *prometheus.Registry
	Log         *slog.Logger
	// DemoLogins are the demo's users, printed at start.
	DemoLogins []Login

	tasks
}

// NewLogger returns the configured logger.
func NewLogger(c Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// LoadRegistry loads the configured territory, or the embedded demo.
func LoadRegistry(dir string) (*devices.Registry, error) {
	if dir == "" {
		return devices.LoadFS(configs.FS, "demo")
	}
	return devices.Load(dir)
}

// LoadRules loads the configured rules file, or the embedded one.
func LoadRules(path string) (*rules.Config, error) {
	if path == "" {
		b, err := fs.ReadFile(configs.FS, "rules.yaml")
		if err != nil {
			return nil, err
		}
		return rules.Parse("configs/rules.yaml (embedded)", b)
	}
	return rules.LoadFile(path)
}

// addrError explains a port already taken, naming the flag that moves it.
func addrError(what, addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %s is already in use; pick another address with %s (or stop what holds it)", what, addr, flag)
	}
	return fmt.Errorf("%s on %s: %w (change it with %s)", what, addr, err, flag)
}

// StartServe starts every role of the all-in-one in this process and
// returns once the console serves and ingest is subscribed. Stop it with
// Close.
func StartServe(ctx context.Context, cfg Config, log *slog.Logger, clk clock.Clock) (*Serve, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = NewLogger(cfg.Log)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	s := &Serve{Log: log, tasks: newTasks(log)}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()

	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w (change it with --data)", cfg.Data, err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(cfg.Data, "firegrid.db"))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, st.Close)

	reg, err := loadRegistry(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	s.Registry = reg
	rcfg, err := LoadRules(cfg.Rules)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}

	s.Metrics = prometheus.NewRegistry()
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	b, err := bus.NewMemory(cfg.Bus, log.With("component", "bus"))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, b.Close)
	s.Bus = b

	hub := alarm.NewHub()
	s.Manager, err = alarm.NewManager(ctx, alarm.Options{Store: st, Registry: reg, Bus: b, Hub: hub, Clock: clk,
		Logger: log.With("component", "alarm"), Registerer: s.Metrics, Dispatch: &cfg.Dispatch.DispatchConfig})
	if err != nil {
		return nil, err
	}
	s.DeadLetters = ingest.NewDeadLetters(cfg.Ingest.DeadLetterCapacity)
	s.Engine = rules.NewEngine(rcfg, reg, clk.Now())
	role := &rules.Role{Engine: s.Engine, Bus: b, Clock: clk, Log: log.With("component", "rules"), State: st}
	role.Register(s.Metrics)
	if err := role.Restore(ctx); err != nil {
		log.Warn("rule engine state not restored; starting fresh", "err", err)
	}
	s.Rules = &rules.Admin{Engine: s.Engine, Clock: clk, Log: log.With("component", "rules"),
		Load: func() (*rules.Config, error) { return LoadRules(cfg.Rules) }}
	s.Ingester, err = ingest.New(cfg.Ingest, ingest.Options{Registry: reg, Bus: b, Clock: clk,
		Logger: log.With("component", "ingest"), Registerer: s.Metrics})
	if err != nil {
		return nil, err
	}

	// The broker and the console take their ports first, so that a port in
	// use fails the start with a message that names the flag.
	s.MQTTURL = cfg.MQTT.URL
	if s.MQTTURL == "" {
		br, err := broker.Start(cfg.MQTT.Listen, log, s.Metrics)
		if err != nil {
			return nil, addrError("embedded MQTT broker", cfg.MQTT.Listen, "--mqtt-listen", err)
		}
		s.closers = append(s.closers, br.Close)
		s.MQTTURL = br.URL()
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, addrError("HTTP console", cfg.HTTP, "--http", err)
	}
	s.HTTPAddr = ln.Addr().String()
	users, logins, err := loadUsers(ctx, cfg, reg, log, st)
	if err != nil {
		return nil, err
	}
	s.DemoLogins = logins
	var auth *alarm.Auth
	if len(users) > 0 {
		auth = alarm.NewAuth(users, []byte(cfg.Dispatch.SessionSecret), cfg.Dispatch.SessionTTL, clk)
	}
	routes, err := notify.Routes(cfg.Dispatch.Notifiers, cfg.Dispatch.CAP, os.LookupEnv, clk)
	if err != nil {
		return nil, fmt.Errorf("dispatch.%w", err)
	}
	recent := alarm.NewRecent(10)
	api := &alarm.API{Manager: s.Manager, Registry: reg, DeadLetters: s.DeadLetters, Auth: auth, CAP: cfg.Dispatch.CAP, Recent: recent,
		Metrics: promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}), Log: log.With("component", "http"),
		Extra: s.Rules.Register}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(api.CloseStreams)

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.goRun("http", func() error { return alarm.Serve(rctx, srv, ln) })
	// Sinks before sources: consumers are running before ingest takes a
	// message.
	s.goRun("alarm", func() error { return b.Consume(rctx, bus.TopicSignals, "alarm", s.Manager.HandleSignal) })
	if len(routes) > 0 {
		// Notifications hang off the incidents topic in their own group:
		// a slow receiver never holds up dispatch.
		d := notify.NewDispatcher(routes, s.Manager, clk, log.With("component", "notify"), 4096)
		s.goRun("notify", func() error { return d.Run(rctx, 4) })
		s.goRun("notify consumer", func() error { return b.Consume(rctx, bus.TopicIncidents, "notify", d.Handle) })
	}
	// The incident view's recent values: the alarm role reads telemetry
	// in a group of its own, so the rules never wait on it.
	s.goRun("recent readings", func() error { return b.Consume(rctx, bus.TopicTelemetry, "alarm-recent", recent.Handle) })
	// Timers first act on what fell due while firegrid was down.
	s.goRun("timers", func() error { return s.Manager.RunTimers(rctx) })
	s.goRun("deadletters", func() error { return b.Consume(rctx, bus.TopicDeadLetters, "deadletters", s.DeadLetters.Handle) })
	if cfg.Influx.Enabled() {
		sink, err := tsdb.New(cfg.Influx, tsdb.Options{Logger: log.With("component", "sink"), Registerer: s.Metrics})
		if err != nil {
			cancel()
			return nil, err
		}
		s.goRun("sink writer", func() error { return sink.Run(rctx) })
		s.goRun("sink telemetry", func() error { return b.Consume(rctx, bus.TopicTelemetry, groupSinkTelemetry, sink.HandleReading) })
		s.goRun("sink incidents", func() error { return b.Consume(rctx, bus.TopicIncidents, groupSinkIncidents, sink.HandleIncident) })
	}
	s.goRun("rules", func() error { return role.Run(rctx) })
	// The in-process bus drops what is published to a topic nobody consumes
	// yet, so the sources start only once every consumer is registered (the
	// rules role, say, first restores its snapshot).
	consumers := [][2]string{{bus.TopicTelemetry, "rules"}, {bus.TopicSignals, "alarm"},
		{bus.TopicDeadLetters, "deadletters"}, {bus.TopicTelemetry, "alarm-recent"}}
	if len(routes) > 0 {
		consumers = append(consumers, [2]string{bus.TopicIncidents, "notify"})
	}
	if cfg.Influx.Enabled() {
		consumers = append(consumers, [2]string{bus.TopicTelemetry, groupSinkTelemetry}, [2]string{bus.TopicIncidents, groupSinkIncidents})
	}
	if err := s.waitConsumers(ctx, b, consumers); err != nil {
		cancel()
		return nil, err
	}
	s.goRun("ingest", func() error { return s.Ingester.Run(rctx, s.MQTTURL) })

	select {
	case <-s.Ingester.Subscribed():
		if err := s.waitConsumers(ctx, b, [][2]string{{bus.TopicCommands, "ingest-downlink"}}); err != nil {
			cancel()
			return nil, err
		}
	case err := <-s.errc:
		return nil, err
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("ingest: no subscription on %s within 30s (is the broker reachable? change it with --mqtt-url)", s.MQTTURL)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if cfg.Demo.Enabled {
		s.goRun("demo fleet", func() error { return runDemo(rctx, cfg.Demo, reg, s.MQTTURL, log.With("component", "simulator")) })
	}
	ok = true
	log.Info("firegrid is up", "console", "http://"+s.HTTPAddr+"/", "mqtt", s.MQTTURL, "data", cfg.Data,
		"devices", len(reg.Devices("")), "stations", len(reg.Stations()))
	return s, nil
}

// waitConsumers waits until every (topic, group) consumes, or a role
// fails, or 30 seconds pass.
func (s *Serve) waitConsumers(ctx context.Context, b *bus.Memory, want [][2]string) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, tg := range want {
		for !b.Consuming(tg[0], tg[1]) {
			select {
			case err := <-s.errc:
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bus: group %s did not start consuming %s within 30s", tg[1], tg[0])
			}
		}
	}
	return nil
}

// ReloadOn reloads the rules file each time sig delivers (SIGHUP), until
// ctx is done. A file with errors is logged with them and refused; the
// rules in force keep running.
func (s *Serve) ReloadOn(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if _, err := s.Rules.Reload(); err != nil {
				s.Log.Error("rules reload refused", "err", err)
			}
		}
	}
}
