package assembly

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/broker"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/ingest"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/journal"
	"github.com/firegrid/firegrid/rules"
	"github.com/firegrid/firegrid/simulator"
	"github.com/firegrid/firegrid/store"
	"github.com/firegrid/firegrid/tsdb"
)

// Options adjust a process for tests and tools.
type Options struct {
	// Log, when set, is the logger (default: from the configuration).
	Log *slog.Logger
	// Clock, when set, is what every component's clock counts from (a
	// fake one for virtual time). Components get a steady clock over it:
	// it moves as time passes, not when the wall clock steps.
	Clock clock.Elapser
	// Codecs, when set, replace the Kafka bus's codecs.
	Codecs map[string]bus.Codec
	// Tracker, when set, counts what the Kafka bus publishes and handles
	// (for virtual-time runs of the roles in one process).
	Tracker *bus.Tracker
	// JournalFS, when set, is the file system serve's journal writes
	// through (a test's, that sees syncs or fills the disk).
	JournalFS journal.FS
}

// Process is a running firegrid: serve, or one scale-out role.
type Process struct {
	// Role is Serve or the role's name; Instance names this process among
	// its role's instances.
	Role     string
	Instance string
	// HTTPAddr is the address the console (or /metrics and /healthz)
	// answers on; MQTTURL the broker devices connect to.
	HTTPAddr string
	MQTTURL  string
	// GB26875Addr and PushAddr are where the GB/T 26875.3 listener and
	// the platforms' push endpoints serve, when configured.
	GB26875Addr string
	PushAddr    string
	Log         *slog.Logger
	Metrics     *prometheus.Registry
	// DemoLogins are the demo's users, printed at start.
	DemoLogins []Login
	// DemoOrders is set when the demo opened its 12345 work-order
	// channel (DemoOrderChannel, signed with DemoOrderSecret).
	DemoOrders bool
	// DemoCredentials is the file of the demo devices' MQTT credentials
	// (id,username,password), printed at start; empty without the demo
	// or with an external broker.
	DemoCredentials string

	// The parts, for tests and tools; nil where the process runs none.
	Registry    *devices.Registry
	Bus         bus.Bus
	Memory      *bus.Memory // serve's bus
	Store       *store.SQL
	Manager     *alarm.Manager
	Relay       *alarm.Relay
	Hazards     *hazard.Ledger
	Stage       *rules.Stage
	Ingester    *ingest.Ingester
	Hub         *console.Hub
	Recent      *console.Recent
	DeadLetters *console.DeadLetters
	RulesAdmin  *console.RulesAdmin
	Sink        *tsdb.Sink
	Subscriber  *broker.Subscriber
	Journal     *journal.Journal

	running []Running
	tasks
}

// Running lists the consumer groups and tasks the process runs.
func (p *Process) Running() []Running { return slices.Clone(p.running) }

// env is what the components of one process share while they are built.
type env struct {
	ctx      context.Context
	cfg      Config
	role     string
	instance string
	log      *slog.Logger
	clock    clock.Clock
	metrics  *prometheus.Registry
	bus      bus.Bus
	codecs   map[string]bus.Codec
	closers  *[]func() error
	memory   *bus.Memory // serve's bus
	// health lists what /healthz and the console's banner check.
	health    []console.Check
	journalFS journal.FS
	keeper    *keeper

	mqttListener net.Listener // the embedded broker's, bound early
	mqttURL      string
	gb26875Addr  string
	pushAddr     string
	httpAddr     string // the console's, bound early

	store    *store.SQL
	registry *devices.Registry
	admin    *console.RulesAdmin

	manager     *alarm.Manager
	relay       *alarm.Relay
	ledger      *hazard.Ledger
	stage       *rules.Stage
	ingester    *ingest.Ingester
	hub         *console.Hub
	recent      *console.Recent
	deadLetters *console.DeadLetters
	api         *console.API
	sink        *tsdb.Sink
	subscriber  *broker.Subscriber
	downlink    interface {
		PublishCommand(context.Context, *contract.Command) error
	}
	demoLogins []Login
	// demoOrders is set when the demo opened its 12345 channel.
	demoOrders bool
	// The demo devices' secrets (serve --demo), and their file.
	demoCreds     simulator.Credentials
	demoCredsPath string
}

// parts are what a component's build returns: its consumers' handlers
// (by the group name of its Consumes), adjustments to their groups, and
// its tasks and sources.
type parts struct {
	handlers map[string]bus.Handler
	groups   map[string]func(*bus.Group)
	tasks    map[string]func(context.Context) error
	sources  map[string]func(context.Context) error
	// beforeSources runs once the consumers and tasks run and before
	// any source starts (a replay); afterSources once the sources have
	// stopped and before the rest stops (a last checkpoint).
	beforeSources, afterSources func(context.Context) error
}

// Start builds and starts a process: Serve, every component on the
// in-process bus; or a role, its components on Kafka. It returns once the
// process serves (for ingest, once it takes device messages). Stop it with
// Close.
func Start(ctx context.Context, role string, cfg Config, o Options) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plan, err := Plan(role, cfg)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = NewLogger(cfg.Log)
	}
	var src clock.Elapser = clock.Real{}
	if o.Clock != nil {
		src = o.Clock
	}
	steady := clock.NewSteady(src)
	clk := clock.Clock(steady)
	instance := cfg.Instance
	if instance == "" {
		instance, _ = os.Hostname()
		if instance == "" {
			instance = "firegrid"
		}
	}
	if role != Serve {
		log = log.With("role", role, "instance", instance)
	}
	p := &Process{Role: role, Instance: instance, Log: log, tasks: newTasks(log)}
	ok := false
	defer func() {
		if !ok {
			p.closeAll()
		}
	}()
	p.Metrics = prometheus.NewRegistry()
	p.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	e := &env{ctx: ctx, cfg: cfg, role: role, instance: instance, log: log, clock: clk, metrics: p.Metrics, codecs: o.Codecs,
		closers: &p.closers, journalFS: o.JournalFS}
	e.health = append(e.health, clockCheck(steady, p.Metrics))

	// The ports first, so that one in use fails the start with a message
	// that names the flag.
	if role == Serve && needs(plan, "broker") && cfg.MQTT.URL == "" {
		ln, err := net.Listen("tcp", cfg.MQTT.Listen)
		if err != nil {
			return nil, addrError("embedded MQTT broker", cfg.MQTT.Listen, "--mqtt-listen", err)
		}
		e.mqttListener = ln
		e.mqttURL = "tcp://" + ln.Addr().String()
		p.closers = append(p.closers, func() error { ln.Close(); return nil })
	} else {
		e.mqttURL = cfg.MQTT.URL
		if needs(plan, "broker") && e.mqttURL == "" {
			return nil, errors.New("mqtt.url: the ingest role needs an external MQTT broker (--mqtt-url tcp://host:1883)")
		}
	}
	p.MQTTURL = e.mqttURL
	httpLn, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, addrError("HTTP console", cfg.HTTP, "--http", err)
	}
	p.HTTPAddr = httpLn.Addr().String()
	e.httpAddr = p.HTTPAddr
	p.closers = append(p.closers, func() error { httpLn.Close(); return nil })

	if role == Serve {
		if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
			return nil, fmt.Errorf("data directory %s: %w (change it with --data)", cfg.Data, err)
		}
		m, err := bus.NewMemory(cfg.Bus, log.With("component", "bus"))
		if err != nil {
			return nil, err
		}
		e.bus, e.memory, p.Memory = m, m, m
	} else {
		k, err := bus.NewKafka(cfg.Kafka, o.Codecs, log.With("component", "bus"))
		if err != nil {
			return nil, err
		}
		e.bus = k
		if o.Tracker != nil {
			k.Track(o.Tracker)
		}
		if cfg.Kafka.CreateTopics {
			if err := retryStart(ctx, log, "kafka topics", func() error { return k.EnsureTopics(ctx) }); err != nil {
				k.Close()
				return nil, err
			}
		}
	}
	p.Bus = e.bus
	p.closers = append(p.closers, e.bus.Close)

	// Build every component, then declare every group before anything
	// is published.
	type consumer struct {
		component string
		group     bus.Group
		handler   bus.Handler
	}
	type task struct {
		component, name string
		run             func(context.Context) error
	}
	var consumers []consumer
	var tasks, sources []task
	var before, after []task
	for _, c := range plan {
		pt, err := c.build(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		for _, cs := range c.Consumes {
			h := pt.handlers[cs.Group]
			if h == nil {
				return nil, fmt.Errorf("%s: no handler for consumer group %s", c.Name, cs.Group)
			}
			g := bus.Group{Name: strings.ReplaceAll(cs.Group, instanceVar, instance), Topics: cs.Topics, FromEnd: cs.FromEnd}
			if adjust := pt.groups[cs.Group]; adjust != nil {
				adjust(&g)
			}
			consumers = append(consumers, consumer{c.Name, g, h})
		}
		for _, name := range c.Tasks {
			if pt.tasks[name] == nil {
				return nil, fmt.Errorf("%s: no task %s", c.Name, name)
			}
			tasks = append(tasks, task{c.Name, name, pt.tasks[name]})
		}
		for _, name := range c.Sources {
			if pt.sources[name] == nil {
				return nil, fmt.Errorf("%s: no source %s", c.Name, name)
			}
			sources = append(sources, task{c.Name, name, pt.sources[name]})
		}
		if pt.beforeSources != nil {
			before = append(before, task{c.Name, "before sources", pt.beforeSources})
		}
		if pt.afterSources != nil {
			after = append(after, task{c.Name, "after sources", pt.afterSources})
		}
	}
	for _, c := range consumers {
		if err := e.bus.Declare(c.group); err != nil {
			return nil, err
		}
	}
	p.Registry, p.Store, p.Manager, p.Relay, p.Stage, p.Hazards = e.registry, e.store, e.manager, e.relay, e.stage, e.ledger
	p.Ingester, p.Hub, p.Recent, p.DeadLetters, p.RulesAdmin = e.ingester, e.hub, e.recent, e.deadLetters, e.admin
	p.Sink, p.Subscriber, p.DemoLogins, p.DemoCredentials, p.DemoOrders = e.sink, e.subscriber, e.demoLogins, e.demoCredsPath, e.demoOrders
	p.GB26875Addr, p.PushAddr = e.gb26875Addr, e.pushAddr

	var handler http.Handler
	if e.api != nil {
		e.api.Checks = e.health
		handler = e.api.Handler()
	} else {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", e.metricsHandler())
		mux.HandleFunc("GET /healthz", console.Health(role, e.health))
		handler = mux
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if e.api != nil {
		srv.RegisterOnShutdown(e.api.CloseStreams)
	}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	sctx, stopSources := context.WithCancel(rctx)
	p.stopSources = stopSources
	p.goRun("http", func() error { return console.Serve(rctx, srv, httpLn) })
	// Sinks before sources: every consumer runs, and has its partitions,
	// before a device's message is taken; a view that starts from the end
	// of its topics misses nothing published once the process is up.
	var assigned sync.WaitGroup
	for _, c := range consumers {
		assigned.Add(1)
		var once sync.Once
		g, onAssign := c.group, c.group.OnAssign
		g.OnAssign = func(ctx context.Context, parts []int) error {
			if onAssign != nil {
				if err := onAssign(ctx, parts); err != nil {
					return err
				}
			}
			once.Do(assigned.Done)
			return nil
		}
		p.goRun(c.component+" "+c.group.Name, func() error { return e.bus.Consume(rctx, g, c.handler) })
		p.running = append(p.running, Running{Component: c.component, Kind: "consumer", Name: c.group.Name, Topics: c.group.Topics})
	}
	allAssigned := make(chan struct{})
	go func() { assigned.Wait(); close(allAssigned) }()
	select {
	case <-allAssigned:
	case err := <-p.errc:
		return nil, err
	case <-time.After(time.Minute):
		return nil, errors.New("bus: consumer groups not assigned within a minute (is Kafka reachable? change it with --kafka)")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, t := range tasks {
		p.goRun(t.component+" "+t.name, func() error { return t.run(rctx) })
		p.running = append(p.running, Running{Component: t.component, Kind: "task", Name: t.name})
	}
	for _, t := range before {
		if err := t.run(rctx); err != nil {
			return nil, fmt.Errorf("%s: %w", t.component, err)
		}
	}
	for _, t := range after {
		p.afterSources = append(p.afterSources, func() {
			if err := t.run(rctx); err != nil {
				log.Warn("stopping", "component", t.component, "err", err)
			}
		})
	}
	for _, t := range sources {
		p.goSource(t.component+" "+t.name, func() error { return t.run(sctx) })
		p.running = append(p.running, Running{Component: t.component, Kind: "source", Name: t.name})
	}
	if e.subscriber != nil {
		select {
		case <-e.subscriber.Subscribed():
		case err := <-p.errc:
			return nil, err
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("ingest: no subscription on %s within 30s (is the broker reachable? change it with --mqtt-url)", e.mqttURL)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ok = true
	if role == Serve {
		log.Info("firegrid is up", "console", "http://"+p.HTTPAddr+"/", "mqtt", p.MQTTURL, "data", cfg.Data,
			"devices", len(e.registry.Devices("")), "stations", len(e.registry.Stations()))
	} else {
		log.Info("firegrid role is up", "http", p.HTTPAddr, "kafka", cfg.Kafka.Brokers, "components", names(plan))
	}
	return p, nil
}

func needs(plan []*Component, what string) bool {
	for _, c := range plan {
		if slices.Contains(c.Needs, what) {
			return true
		}
	}
	return false
}

func names(plan []*Component) []string {
	var out []string
	for _, c := range plan {
		out = append(out, c.Name)
	}
	return out
}

// ReloadRules reads the rules file again and puts it in force in every
// rules instance (SIGHUP). A file with errors is refused with them; the
// rules in force keep running.
func (p *Process) ReloadRules(ctx context.Context) error {
	if p.RulesAdmin == nil {
		return errors.New("this process keeps no rules")
	}
	v, cfg, err := p.RulesAdmin.Reload(ctx, "SIGHUP")
	if err != nil {
		return err
	}
	p.Log.Info("rules reloaded", "version", v, "rules", len(cfg.Rules))
	return nil
}

// ReloadOn reloads the rules each time sig delivers (SIGHUP), until ctx is
// done.
func (p *Process) ReloadOn(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if err := p.ReloadRules(ctx); err != nil {
				p.Log.Error("rules reload refused", "err", err)
			}
		}
	}
}

func (e *env) metricsHandler() http.Handler {
	return promhttp.HandlerFor(e.metrics, promhttp.HandlerOpts{})
}

// readingPartitions is the number of partitions of the readings' topics
// on this process's bus.
func (e *env) readingPartitions() int {
	if e.role == Serve {
		return e.cfg.Bus.Partitions
	}
	return e.cfg.Kafka.Topics.Telemetry.Partitions
}

// openStore opens the process's store once: SQLite in the data directory
// for serve (and for a role without postgres.dsn), PostgreSQL otherwise,
// waiting for it up to a minute (compose starts the roles beside it).
func (e *env) openStore() (*store.SQL, error) {
	if e.store != nil {
		return e.store, nil
	}
	st, err := openStore(e.ctx, e.cfg, e.log)
	if err != nil {
		return nil, err
	}
	e.store = st
	*e.closers = append(*e.closers, st.Close)
	return st, nil
}

// loadRegistry loads the territory once.
func (e *env) loadRegistry() (*devices.Registry, error) {
	if e.registry != nil {
		return e.registry, nil
	}
	var st *store.SQL
	if e.cfg.Registry == FromDatabase {
		var err error
		if st, err = e.openStore(); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	reg, err := loadRegistry(e.ctx, e.cfg, st, e.log)
	if err != nil {
		return nil, err
	}
	e.registry = reg
	return reg, nil
}

// rulesAdmin returns the process's rules admin, making sure at the first
// call that the store keeps rules: a configured rules file is kept when no
// earlier version holds it (an edited file applies at the next start; a
// stale copy on one host does not turn the others back); with none
// configured, the embedded rules are kept when the store holds no rules
// yet.
func (e *env) rulesAdmin() (*console.RulesAdmin, error) {
	if e.admin != nil {
		return e.admin, nil
	}
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	admin := &console.RulesAdmin{Store: st, Control: e.bus, Read: func() (string, []byte, error) { return ReadRules(e.cfg.Rules) }}
	v, _, _, err := st.Rules(e.ctx)
	if err != nil {
		return nil, err
	}
	if e.cfg.Rules != "" || v == 0 {
		name, content, err := ReadRules(e.cfg.Rules)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if _, err := rules.Parse(name, content); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if v, err = st.ImportRules(e.ctx, name, content, "start of "+e.role+" "+e.instance); err != nil {
			return nil, err
		}
	}
	e.log.Info("rules in force", "version", v)
	e.admin = admin
	return admin, nil
}

// ReadRules reads the rules file, or the embedded configs/rules.yaml when
// path is empty.
func ReadRules(path string) (string, []byte, error) {
	if path == "" {
		b, err := fs.ReadFile(configs.FS, "rules.yaml")
		return "configs/rules.yaml (embedded)", b, err
	}
	b, err := os.ReadFile(path)
	return path, b, err
}

// LoadRules reads and checks the rules file (or the embedded one).
func LoadRules(path string) (*rules.Config, error) {
	name, b, err := ReadRules(path)
	if err != nil {
		return nil, err
	}
	return rules.Parse(name, b)
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

// LoadRegistry loads the territory in dir, or the embedded demo.
func LoadRegistry(dir string) (*devices.Registry, error) {
	if dir == "" {
		return devices.LoadFS(configs.FS, "demo")
	}
	return devices.Load(dir)
}

// addrError explains a port already taken, naming the flag that moves it.
func addrError(what, addr, flag string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %s is already in use; pick another address with %s (or stop what holds it)", what, addr, flag)
	}
	return fmt.Errorf("%s on %s: %w (change it with %s)", what, addr, err, flag)
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

// OpenStore opens the configured store, PostgreSQL when a DSN is
// configured, else SQLite in the data directory, and migrates its schema.
// It does not wait for PostgreSQL: it is for commands run by hand.
func OpenStore(ctx context.Context, cfg Config) (*store.SQL, error) {
	return openStore(ctx, cfg, nil)
}

// openStore is OpenStore; given a logger, it waits up to a minute for
// PostgreSQL to come up, logging.
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

// LoadConfiguredRegistry loads the registry cfg names: a directory, the
// embedded demo, or with registry: db the latest one in the configured
// store (opened for the load, without waiting for PostgreSQL).
func LoadConfiguredRegistry(ctx context.Context, cfg Config) (*devices.Registry, error) {
	return loadRegistry(ctx, cfg, nil, nil)
}

// loadRegistry loads the registry cfg names. With registry: db it reads
// st, or when st is nil opens the store for the load.
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
