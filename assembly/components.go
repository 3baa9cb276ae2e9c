package assembly

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/broker"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/ingest"
	"github.com/firegrid/firegrid/notify"
	"github.com/firegrid/firegrid/rules"
	"github.com/firegrid/firegrid/store"
	"github.com/firegrid/firegrid/tsdb"
)

// catalogue is every component, in build order.
var catalogue = []*Component{
	{
		Name: "alarm", Role: RoleAlarm,
		Doc:      "the incident core: signals to incidents, crew actions, the 1-3-5 timers and escalation, an outbox relayed to the bus",
		Consumes: []Consumer{{Group: "alarm", Topics: []string{contract.TopicSignals}}},
		Produces: []string{contract.TopicIncidents, contract.TopicCommands},
		Tasks:    []string{"timers", "relay"},
		Needs:    []string{"registry", "store"},
		build:    buildAlarm,
	},
	{
		Name: "hazards", Role: RoleAlarm,
		Doc: "the hazard register and inspection rounds: hazards people report worked from report to close, their deadlines up the grid, " +
			"a linked hazard for each device ticket, rounds missed and escalated",
		// From the end the first time: a new installation links the
		// device tickets that change from now on, not every ticket the
		// topic still holds; afterwards the group resumes where it was.
		Consumes: []Consumer{{Group: "hazards", Topics: []string{contract.TopicIncidents}, FromEnd: true}},
		Produces: []string{contract.TopicHazards},
		Tasks:    []string{"deadlines"},
		Needs:    []string{"registry", "store"},
		build:    buildHazards,
	},
	{
		Name: "notify", Role: RoleAlarm,
		Doc: "webhooks (JSON, CAP 1.2, SMS gateway) about incident changes, and hazard changes to other platforms (12345): " +
			"kept in the store before the change is committed, retried with backoff across restarts, their delivery shown on the incident or hazard, what is given up counted and listed",
		Consumes: []Consumer{
			{Group: "notify", Topics: []string{contract.TopicIncidents}},
			{Group: "notify-hazards", Topics: []string{contract.TopicHazards}},
		},
		Produces: []string{"webhooks"},
		Tasks:    []string{"deliveries"},
		Needs:    []string{"store"},
		When:     func(c Config) bool { return len(c.Dispatch.Notifiers) > 0 },
		WhenDoc:  "`dispatch.notifiers` set",
		build:    buildNotify,
	},
	{
		Name: "recent", Role: RoleAlarm,
		Doc:      "each device's last readings for the incident view, from the same decoded readings the rules evaluate",
		Consumes: []Consumer{{Group: "recent-" + instanceVar, Topics: readings, FromEnd: true}},
		build:    buildRecent,
	},
	{
		Name: "console", Role: RoleAlarm,
		Doc: "the contract-v1 HTTP API and console: incidents, crew actions, the SSE stream, CAP feed, reports, dead letters, rules and period admin, " +
			"hazards, rounds and work orders",
		Consumes: []Consumer{
			{Group: "console-" + instanceVar, Topics: []string{contract.TopicIncidents}, FromEnd: true},
			{Group: "deadletters-" + instanceVar, Topics: []string{contract.TopicDeadLetters}, FromEnd: true},
		},
		Produces: []string{contract.TopicControl, "HTTP"},
		Needs:    []string{"registry", "store"},
		build:    buildConsole,
	},
	{
		Name: "rules", Role: RoleRules,
		Doc: "the rule engine: readings to signals, a tick for durations and absences, a snapshot per partition before each commit",
		Consumes: []Consumer{
			{Group: "rules", Topics: readings},
			{Group: "rules-control-" + instanceVar, Topics: []string{contract.TopicControl}, FromEnd: true},
		},
		Produces: []string{contract.TopicSignals},
		Tasks:    []string{"ticks"},
		Needs:    []string{"registry", "store"},
		build:    buildRules,
	},
	{
		Name: "sink", Role: RoleSink,
		Doc: "readings and incident changes into InfluxDB, buffered and retried, offsets committed once written; what it drops it counts",
		Consumes: []Consumer{
			{Group: "sink-readings", Topics: readings},
			{Group: "sink-incidents", Topics: []string{contract.TopicIncidents}},
		},
		Produces: []string{"InfluxDB"},
		Tasks:    []string{"writer"},
		Needs:    []string{"influx"},
		When:     func(c Config) bool { return c.Influx.Enabled() },
		WhenDoc:  "`influx.url` set",
		build:    buildSink,
	},
	{
		Name:     "journal",
		Doc:      "the journal of device messages in front of ingest: each on disk before it is acknowledged (synced for alarms), replayed at start from the last checkpoint, checkpointed once the rules' state is saved and the sink has written what it was given",
		Produces: []string{"disk"},
		Tasks:    []string{"checkpoints"},
		build:    buildJournal,
	},
	{
		Name: "ingest", Role: RoleIngest,
		Doc:      "device messages in over MQTT (a hook of the embedded broker, or persistent sessions on an external one: events to every instance, readings shared among them), and from the configured field sources (GB/T 26875.3, ChirpStack, platform pushes): decoded, checked, enriched, dead-lettered with the reason",
		Produces: []string{contract.TopicTelemetry, contract.TopicEvents, contract.TopicDeadLetters},
		Sources:  []string{"mqtt", "field"},
		Needs:    []string{"registry", "broker"},
		build:    buildIngest,
	},
	{
		Name: "downlink", Role: RoleIngest,
		Doc:      "commands to devices over MQTT (fg/v1/{kind}/{id}/cmd)",
		Consumes: []Consumer{{Group: "downlink", Topics: []string{contract.TopicCommands}}},
		Produces: []string{"MQTT"},
		Needs:    []string{"broker"},
		build:    buildDownlink,
	},
	{
		Name:    "demo",
		Doc:     "a simulated fleet of the registry's devices and the demo timeline, and people working hazards through the API",
		Sources: []string{"fleet", "people"},
		Needs:   []string{"registry", "broker"},
		When:    func(c Config) bool { return c.Demo.Enabled },
		WhenDoc: "`--demo`",
		build:   buildDemo,
	},
}

func buildAlarm(e *env) (*parts, error) {
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	e.relay = alarm.NewRelay(st, e.bus, e.log.With("component", "relay"))
	if e.memory != nil {
		e.relay.Handled = func(ctx context.Context) error {
			return e.memory.Sync(ctx, contract.TopicIncidents, contract.TopicCommands, contract.TopicHazards)
		}
	}
	e.manager, err = alarm.NewManager(e.ctx, alarm.Options{Store: st, Registry: reg, Clock: e.clock, Logger: e.log.With("component", "alarm"),
		Registerer: e.metrics, Dispatch: &e.cfg.Dispatch.DispatchConfig, Committed: e.relay.Committed})
	if err != nil {
		return nil, err
	}
	late := &stalled{clock: e.clock, what: "incidents"}
	e.health = append(e.health, storeCheck(e), console.Check{Name: "incidents", Err: late.check})
	return &parts{
		handlers: map[string]bus.Handler{"alarm": late.wrap(bus.Handle(e.manager.HandleSignal))},
		tasks:    map[string]func(context.Context) error{"timers": e.manager.RunTimers, "relay": e.relay.Run},
	}, nil
}

func buildHazards(e *env) (*parts, error) {
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	committed := func(int) {}
	if e.relay != nil {
		committed = e.relay.Committed
	}
	e.ledger, err = hazard.New(e.ctx, hazard.Options{Store: st, Registry: reg, Clock: e.clock, Logger: e.log.With("component", "hazards"),
		Registerer: e.metrics, Config: &e.cfg.Hazards, Committed: committed})
	if err != nil {
		return nil, err
	}
	return &parts{
		handlers: map[string]bus.Handler{"hazards": bus.Handle(e.ledger.HandleIncident)},
		tasks:    map[string]func(context.Context) error{"deadlines": e.ledger.RunDeadlines},
	}, nil
}

func buildNotify(e *env) (*parts, error) {
	routes, err := notify.Routes(e.cfg.Dispatch.Notifiers, e.cfg.Dispatch.CAP, os.LookupEnv, e.clock)
	if err != nil {
		return nil, fmt.Errorf("dispatch.%w", err)
	}
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	// Hazard changes go through the same delivery; their status is kept
	// on the hazard.
	o := notify.Options{Routes: routes, Outbox: st, Recorder: e.manager, Clock: e.clock,
		Log: e.log.With("component", "notify"), Instance: e.instance, Registerer: e.metrics}
	if e.ledger != nil {
		o.HazardRecorder = e.ledger
	}
	d, err := notify.NewDispatcher(o)
	if err != nil {
		return nil, err
	}
	return &parts{
		handlers: map[string]bus.Handler{"notify": bus.Handle(d.Handle), "notify-hazards": bus.Handle(d.HandleHazard)},
		tasks:    map[string]func(context.Context) error{"deliveries": d.Run},
	}, nil
}

func buildRecent(e *env) (*parts, error) {
	e.recent = console.NewRecent(e.cfg.Console.RecentPerDevice)
	return &parts{handlers: map[string]bus.Handler{"recent-" + instanceVar: bus.Handle(e.recent.HandleReading)}}, nil
}

func buildConsole(e *env) (*parts, error) {
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	users, logins, err := loadUsers(e.ctx, e.cfg, reg, e.log, st)
	if err != nil {
		return nil, err
	}
	e.demoLogins = logins
	// Sessions and failed log-ins live in the store, so that every alarm
	// instance sharing it agrees on them; users kept there are read again
	// every second, so that a password change holds everywhere.
	var auth *access.Auth
	if len(users) > 0 {
		o := access.AuthOptions{Users: users, Sessions: st, Secret: []byte(e.cfg.Dispatch.SessionSecret),
			TTL: e.cfg.Dispatch.SessionTTL, Clock: e.clock}
		if e.cfg.Dispatch.Users == FromDatabase {
			o.Users, o.UserStore = nil, st
		}
		if auth, err = access.NewAuthWith(e.ctx, o); err != nil {
			return nil, err
		}
	}
	admin, err := e.rulesAdmin()
	if err != nil {
		return nil, err
	}
	e.hub = console.NewHub(e.clock)
	e.hub.Register(e.metrics)
	e.deadLetters = console.NewDeadLetters(e.cfg.Console.DeadLetters)
	inbound, err := inboundChannels(e.cfg.Hazards.Inbound, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if e.cfg.Demo.Enabled && !slices.ContainsFunc(inbound, func(c console.InboundChannel) bool { return c.Name == DemoOrderChannel }) {
		inbound = append(inbound, console.InboundChannel{Name: DemoOrderChannel, Source: contract.Source12345, Secret: []byte(DemoOrderSecret)})
		e.demoOrders = true
	}
	e.api = &console.API{Manager: e.manager, Registry: reg, Hub: e.hub, Auth: auth, Audit: st, Recent: e.recent,
		DeadLetters: e.deadLetters, Notifications: st, Rules: admin, CAP: e.cfg.Dispatch.CAP, Clock: e.clock, Metrics: e.metricsHandler(),
		Registerer: e.metrics, Log: e.log.With("component", "http"), Hazards: e.ledger, Inbound: inbound}
	return &parts{handlers: map[string]bus.Handler{
		"console-" + instanceVar:     bus.Handle(e.hub.HandleChange),
		"deadletters-" + instanceVar: bus.Handle(e.deadLetters.HandleDeadLetter),
	}}, nil
}

func buildRules(e *env) (*parts, error) {
	st, err := e.openStore()
	if err != nil {
		return nil, err
	}
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	if _, err := e.rulesAdmin(); err != nil {
		return nil, err
	}
	version, name, content, err := st.Rules(e.ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := rules.Parse(name, content)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	n := e.readingPartitions()
	e.stage = &rules.Stage{Engine: rules.NewEngine(cfg, reg, e.clock.Now()), Out: e.bus, Clock: e.clock,
		Log: e.log.With("component", "rules"), TickInterval: e.cfg.RuleEngine.Tick, State: st, Settings: st, Version: version,
		Partitions: n, PartitionOf: func(site string) int { return bus.Partitioner(site, n) }}
	e.stage.Register(e.metrics)
	if err := e.stage.Start(e.ctx); err != nil {
		return nil, err
	}
	return &parts{
		handlers: map[string]bus.Handler{
			"rules":                        bus.Handle(e.stage.HandleReading),
			"rules-control-" + instanceVar: bus.Handle(e.stage.HandleControl),
		},
		groups: map[string]func(*bus.Group){
			"rules": func(g *bus.Group) {
				g.OnAssign = e.stage.Assign
				// On Kafka, a snapshot before each commit; in serve, the
				// journal's checkpoint takes it.
				if e.memory == nil {
					g.Checkpoint, g.CheckpointEvery = e.stage.Checkpoint, e.cfg.RuleEngine.SnapshotEvery
				}
			},
			// After joining, read the settings once more: a change
			// announced while this instance started is not missed.
			"rules-control-" + instanceVar: func(g *bus.Group) {
				g.OnAssign = func(ctx context.Context, _ []int) error { return e.stage.Start(ctx) }
			},
		},
		tasks: map[string]func(context.Context) error{"ticks": e.stage.RunTicks},
	}, nil
}

func buildSink(e *env) (*parts, error) {
	if !e.cfg.Influx.Enabled() {
		return nil, fmt.Errorf("influx.url: the sink needs InfluxDB (influx: {url, org, bucket, token})")
	}
	s, err := tsdb.New(e.cfg.Influx, tsdb.Options{Logger: e.log.With("component", "sink"), Registerer: e.metrics})
	if err != nil {
		return nil, err
	}
	e.sink = s
	e.log.Info("writing to InfluxDB", "to", s.Describe())
	// On Kafka, offsets are committed no further than what the sink has
	// written; in serve, the journal's checkpoint flushes it.
	flushed := func(g *bus.Group) {
		if e.memory == nil {
			g.Checkpoint = s.Flush
		}
	}
	return &parts{
		handlers: map[string]bus.Handler{
			"sink-readings":  bus.Handle(s.HandleReading),
			"sink-incidents": bus.Handle(s.HandleIncident),
		},
		groups: map[string]func(*bus.Group){"sink-readings": flushed, "sink-incidents": flushed},
		tasks:  map[string]func(context.Context) error{"writer": s.Run},
	}, nil
}

func buildIngest(e *env) (*parts, error) {
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	decoders, err := e.fieldDecoders(reg)
	if err != nil {
		return nil, err
	}
	e.ingester, err = ingest.New(e.cfg.Ingest, ingest.Options{Registry: reg, Publisher: e.bus, Clock: e.clock,
		Logger: e.log.With("component", "ingest"), Registerer: e.metrics, Sources: decoders})
	if err != nil {
		return nil, err
	}
	// Every source hands its uplinks to accept: in serve, through the
	// journal.
	accept := e.ingester.Accept
	if e.keeper != nil {
		e.keeper.next = accept
		accept = e.keeper.accept
	}
	field, err := e.fieldSources(accept)
	if err != nil {
		return nil, err
	}
	if e.mqttListener != nil {
		// The embedded broker lets in the store's MQTT accounts only.
		st, err := e.openStore()
		if err != nil {
			return nil, err
		}
		if err := e.checkCredentials(st, reg); err != nil {
			return nil, err
		}
		b, err := broker.New(e.mqttListener, broker.Options{Accept: accept, Log: e.log, Registerer: e.metrics,
			Accounts: st, Flood: e.cfg.MQTT.Flood})
		if err != nil {
			return nil, err
		}
		e.downlink = b
		return &parts{sources: map[string]func(context.Context) error{"mqtt": b.Run, "field": field}}, nil
	}
	icfg := e.cfg.Ingest
	if icfg.SharedGroup == "" && e.role != Serve {
		icfg.SharedGroup = defaultSharedGroup
	}
	password, err := e.cfg.MQTT.Password()
	if err != nil {
		return nil, err
	}
	sub := broker.NewSubscriber(broker.SubscriberOptions{URL: e.mqttURL, ClientID: icfg.ClientID + "-" + e.instance,
		SharedGroup: icfg.SharedGroup, Workers: icfg.Workers, QueueDepth: icfg.QueueDepth, Accept: accept,
		Username: e.cfg.MQTT.Username, Password: password,
		Log: e.log.With("component", "ingest"), Registerer: e.metrics})
	e.downlink, e.subscriber = sub, sub
	return &parts{sources: map[string]func(context.Context) error{"mqtt": sub.Run, "field": field}}, nil
}

// defaultSharedGroup splits the devices' messages among ingest roles.
const defaultSharedGroup = "firegrid-ingest"

func buildDownlink(e *env) (*parts, error) {
	if e.downlink == nil {
		return nil, fmt.Errorf("downlink: no MQTT connection (ingest builds it)")
	}
	return &parts{handlers: map[string]bus.Handler{"downlink": bus.Handle(e.downlink.PublishCommand)}}, nil
}

func buildDemo(e *env) (*parts, error) {
	reg, err := e.loadRegistry()
	if err != nil {
		return nil, err
	}
	return &parts{sources: map[string]func(context.Context) error{"fleet": func(ctx context.Context) error {
		// The fleet connects once ingest takes messages.
		if e.subscriber != nil {
			select {
			case <-e.subscriber.Subscribed():
			case <-ctx.Done():
				return nil
			}
		}
		return runDemo(ctx, e.cfg.Demo, reg, e.mqttURL, e.gb26875Addr, e.demoCreds, e.log.With("component", "simulator"))
	}, "people": func(ctx context.Context) error {
		// With the demo's users only: a users file or the database has
		// other people.
		if len(e.demoLogins) == 0 {
			return nil
		}
		return runPeople(ctx, e.httpAddr, e.demoLogins, e.log.With("component", "people"))
	}}}, nil
}

// checkCredentials, before the embedded broker starts: the demo gives
// every device a secret it knows (and writes them to the data
// directory); otherwise devices without credentials are reported, since
// they cannot connect.
func (e *env) checkCredentials(st *store.SQL, reg *devices.Registry) error {
	if e.cfg.Demo.Enabled {
		creds, path, err := demoCredentials(e.ctx, st, reg, e.cfg.Data)
		if err != nil {
			return err
		}
		e.demoCreds, e.demoCredsPath = creds, path
		return nil
	}
	n, err := devicesWithoutAccount(e.ctx, st, reg)
	if err != nil {
		return err
	}
	if n > 0 {
		e.log.Warn("devices without MQTT credentials cannot connect to the embedded broker; issue them with "+
			"firegrid devices credentials issue --data DIR --out FILE", "without", n, "devices", len(reg.Devices("")))
	}
	return nil
}

// inboundChannels are the configured work-order channels with their
// secrets, from the file or the environment.
func inboundChannels(cfgs []hazard.Inbound, lookupEnv func(string) (string, bool)) ([]console.InboundChannel, error) {
	var out []console.InboundChannel
	for i, c := range cfgs {
		secret := c.Secret
		if c.SecretEnv != "" {
			v, ok := lookupEnv(c.SecretEnv)
			if !ok || v == "" {
				return nil, fmt.Errorf("hazards.inbound.%d.secret_env: %s is not set", i, c.SecretEnv)
			}
			secret = v
		}
		out = append(out, console.InboundChannel{Name: c.Name, Source: c.Source, Secret: []byte(secret), MaxSkew: c.MaxSkew})
	}
	return out, nil
}
