package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/rules"
	"github.com/firegrid/firegrid/store"
	"github.com/firegrid/firegrid/tsdb"
)

// Role names, as the firegrid command takes them.
const (
	RoleIngest = "ingest"
	RoleRules  = "rules"
	RoleAlarm  = "alarm"
	RoleSink   = "sink"
)

// Roles lists the scale-out roles.
var Roles = []string{RoleIngest, RoleRules, RoleAlarm, RoleSink}

// Consumer groups of the roles (the configured kafka.group_prefix goes in
// front). Groups named with the instance get every record in every
// instance; the others split the partitions among their instances.
const (
	groupRules         = "rules"
	groupAlarm         = "alarm"
	groupAlarmStream   = "alarm-stream-" // + instance
	groupDeadLetters   = "deadletters-"  // + instance
	groupSinkTelemetry = "sink"
	groupSinkIncidents = "sink"
	groupDownlink      = "ingest-downlink"
	defaultSharedGroup = "firegrid-ingest"
)

// RoleProcess is one running scale-out role.
type RoleProcess struct {
	Role string
	// HTTPAddr serves /metrics and /healthz, and for the alarm role the
	// contract-v1 API and console.
	HTTPAddr string
	Instance string
	Bus      *bus.Kafka
	Metrics  *prometheus.Registry
	Log      *slog.Logger

	// Set by the role that has them.
	Registry    *devices.Registry
	Ingester    *ingest.Ingester
	Engine      *rules.Engine
	Manager     *alarm.Manager
	Store       alarm.Store
	DeadLetters *ingest.DeadLetters
	Sink        *tsdb.Sink

	tasks
}

// StartRole starts one scale-out role on Kafka and returns once it
// serves; stop it with Close.
func StartRole(ctx context.Context, role string, cfg Config, log *slog.Logger, clk clock.Clock) (*RoleProcess, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = NewLogger(cfg.Log)
	}
	if clk == nil {
		clk = clock.Real{}
	}
	instance := cfg.Instance
	if instance == "" {
		instance, _ = os.Hostname()
		if instance == "" {
			instance = "firegrid"
		}
	}
	log = log.With("role", role, "instance", instance)
	p := &RoleProcess{Role: role, Instance: instance, Log: log, tasks: newTasks(log)}
	ok := false
	defer func() {
		if !ok {
			p.closeAll()
		}
	}()
	p.Metrics = prometheus.NewRegistry()
	p.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	k, err := bus.NewKafka(cfg.Kafka, log.With("component", "bus"))
	if err != nil {
		return nil, err
	}
	p.Bus = k
	p.closers = append(p.closers, k.Close)
	if cfg.Kafka.CreateTopics {
		if err := retryStart(ctx, log, "kafka topics", func() error { return k.EnsureTopics(ctx) }); err != nil {
			return nil, err
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, addrError("HTTP", cfg.HTTP, "--http", err)
	}
	p.HTTPAddr = ln.Addr().String()
	metrics := promhttp.HandlerFor(p.Metrics, promhttp.HandlerOpts{})
	handler := http.Handler(nil)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel

	switch role {
	case RoleIngest:
		err = p.startIngest(rctx, cfg)
	case RoleRules:
		err = p.startRules(rctx, cfg, clk)
	case RoleAlarm:
		handler, err = p.startAlarm(ctx, rctx, cfg, clk, metrics)
	case RoleSink:
		err = p.startSink(rctx, cfg)
	default:
		err = fmt.Errorf("unknown role %q (want one of %v)", role, Roles)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	if handler == nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"status":"ok","role":%q}`+"\n", role)
		})
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	p.goRun("http", func() error { return alarm.Serve(rctx, srv, ln) })

	if role == RoleIngest {
		select {
		case <-p.Ingester.Subscribed():
		case err := <-p.errc:
			return nil, err
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("ingest: no subscription on %s within 30s (is the broker reachable? change it with --mqtt-url)", cfg.MQTT.URL)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ok = true
	log.Info("firegrid role is up", "http", p.HTTPAddr, "kafka", cfg.Kafka.Brokers)
	return p, nil
}

// retryStart retries a start-up step while the service it needs comes up
// (compose starts everything at once), for up to a minute.
func retryStart(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	deadline := time.Now().Add(time.Minute)
	wait := 200 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.Warn("waiting for "+what, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (p *RoleProcess) startIngest(ctx context.Context, cfg Config) error {
	if cfg.MQTT.URL == "" {
		return errors.New("mqtt.url: the ingest role needs an external MQTT broker (--mqtt-url tcp://host:1883)")
	}
	reg, err := loadRegistry(ctx, cfg, nil, p.Log)
	if err != nil {
		return err
	}
	p.Registry = reg
	icfg := cfg.Ingest
	if icfg.SharedGroup == "" {
		icfg.SharedGroup = defaultSharedGroup
	}
	// Every ingest needs its own MQTT session; the shared subscription
	// splits the devices' messages among them.
	icfg.ClientID += "-" + p.Instance
	p.Ingester, err = ingest.New(icfg, ingest.Options{Registry: reg, Bus: p.Bus, Logger: p.Log.With("component", "ingest"),
		Registerer: p.Metrics})
	if err != nil {
		return err
	}
	p.goRun("ingest", func() error { return p.Ingester.Run(ctx, cfg.MQTT.URL) })
	return nil
}

func (p *RoleProcess) startRules(ctx context.Context, cfg Config, clk clock.Clock) error {
	reg, err := loadRegistry(ctx, cfg, nil, p.Log)
	if err != nil {
		return err
	}
	p.Registry = reg
	rcfg, err := LoadRules(cfg.Rules)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	start := clk.Now()
	p.Engine = rules.NewEngine(rcfg, reg, start)
	owned := newOwnedBus(p.Bus, cfg.Kafka.Topics.Telemetry.Partitions, rcfg, start, p.Log.With("component", "rules"), p.Metrics)
	role := &rules.Role{Engine: p.Engine, Bus: owned, Clock: clk, Log: p.Log.With("component", "rules"), Group: groupRules}
	role.Register(p.Metrics)
	p.goRun("rules", func() error { return role.Run(ctx) })
	return nil
}

// OpenStore opens the configured store, PostgreSQL when a DSN is
// configured, else SQLite in the data directory, and migrates its schema.
// It does not wait for PostgreSQL: it is for commands run by hand.
func OpenStore(ctx context.Context, cfg Config) (*store.SQL, error) {
	return openStore(ctx, cfg, nil)
}

// openStore is OpenStore; given a logger, it waits up to a minute for
// PostgreSQL to come up (compose starts the roles beside it), logging.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*store.SQL, error) {
	if cfg.Postgres.DSN == "" {
		if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
			return nil, fmt.Errorf("data directory %s: %w", cfg.Data, err)
		}
		return store.OpenSQLite(ctx, filepath.Join(cfg.Data, "firegrid.db"))
	}
	db, err := sql.Open("pgx", cfg.Postgres.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	var st *store.SQL
	connect := func() error {
		var err error
		st, err = store.New(ctx, db, store.Postgres)
		return err
	}
	if log != nil {
		err = retryStart(ctx, log, "postgres", connect)
	} else if err = connect(); err != nil {
		err = fmt.Errorf("postgres: %w", err)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

func (p *RoleProcess) startAlarm(ctx, rctx context.Context, cfg Config, clk clock.Clock, metrics http.Handler) (http.Handler, error) {
	st, err := openStore(ctx, cfg, p.Log)
	if err != nil {
		return nil, err
	}
	p.Store = st
	p.closers = append(p.closers, st.Close)
	reg, err := loadRegistry(ctx, cfg, st, p.Log)
	if err != nil {
		return nil, err
	}
	p.Registry = reg
	// The roles run no demo fleet, so no demo users either.
	ucfg := cfg
	ucfg.Demo.Enabled = false
	users, _, err := loadUsers(ctx, ucfg, reg, p.Log, st)
	if err != nil {
		return nil, err
	}
	var auth *alarm.Auth
	if len(users) > 0 {
		auth = alarm.NewAuth(users, []byte(cfg.Dispatch.SessionSecret), cfg.Dispatch.SessionTTL, clk)
	}
	// The manager tells the stream which changes it published itself, so
	// that the instance's consoles get those at once and the others' from
	// the incidents topic, each once.
	local := newLocalChanges()
	hub := alarm.NewHub()
	p.Manager, err = alarm.NewManager(ctx, alarm.Options{Store: st, Registry: reg, Bus: &recordingBus{Bus: p.Bus, local: local},
		Hub: hub, Clock: clk, Logger: p.Log.With("component", "alarm"), Registerer: p.Metrics})
	if err != nil {
		return nil, err
	}
	p.DeadLetters = ingest.NewDeadLetters(cfg.Ingest.DeadLetterCapacity)
	streamCtx := bus.WithConsumeOptions(rctx, bus.ConsumeOptions{FromEnd: true})
	p.goRun("console stream", func() error {
		return p.Bus.Consume(streamCtx, bus.TopicIncidents, groupAlarmStream+p.Instance, local.feed(hub))
	})
	p.goRun("dead letters", func() error {
		return p.Bus.Consume(rctx, bus.TopicDeadLetters, groupDeadLetters+p.Instance, p.DeadLetters.Handle)
	})
	p.goRun("alarm", func() error { return p.Bus.Consume(rctx, bus.TopicSignals, groupAlarm, p.Manager.HandleSignal) })
	api := &alarm.API{Manager: p.Manager, Registry: reg, DeadLetters: p.DeadLetters, Auth: auth, Metrics: metrics,
		Log: p.Log.With("component", "http")}
	return api.Handler(), nil
}

// LoadConfiguredRegistry loads the registry cfg names: a directory, the
// embedded demo, or with registry: db the latest one in the configured
// store (opened for the load, without waiting for PostgreSQL).
func LoadConfiguredRegistry(ctx context.Context, cfg Config) (*devices.Registry, error) {
	return loadRegistry(ctx, cfg, nil, nil)
}

// loadRegistry loads the registry cfg names. With registry: db it reads
// st, or when st is nil opens the store for the load (waiting for
// PostgreSQL when log is given, as openStore does).
func loadRegistry(ctx context.Context, cfg Config, st *store.SQL, log *slog.Logger) (*devices.Registry, error) {
	if cfg.Registry != FromDatabase {
		reg, err := LoadRegistry(cfg.Registry)
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		return reg, nil
	}
	if st == nil {
		var err error
		if st, err = openStore(ctx, cfg, log); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		defer st.Close()
	}
	reg, version, err := st.LoadRegistry(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if log != nil {
		log.Info("registry loaded from the database", "version", version, "devices", len(reg.Devices("")),
			"stations", len(reg.Stations()))
	}
	return reg, nil
}

func (p *RoleProcess) startSink(ctx context.Context, cfg Config) error {
	if !cfg.Influx.Enabled() {
		return errors.New("influx.url: the sink role needs InfluxDB (influx: {url, org, bucket, token})")
	}
	s, err := tsdb.New(cfg.Influx, tsdb.Options{Logger: p.Log.With("component", "sink"), Registerer: p.Metrics})
	if err != nil {
		return err
	}
	p.Sink = s
	p.goRun("sink writer", func() error { return s.Run(ctx) })
	p.goRun("sink telemetry", func() error { return p.Bus.Consume(ctx, bus.TopicTelemetry, groupSinkTelemetry, s.HandleReading) })
	p.goRun("sink incidents", func() error { return p.Bus.Consume(ctx, bus.TopicIncidents, groupSinkIncidents, s.HandleIncident) })
	p.Log.Info("writing to InfluxDB", "to", s.Describe())
	return nil
}
