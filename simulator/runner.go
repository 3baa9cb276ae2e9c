package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

// DefaultPublishTimeout bounds one publication, PUBACK included.
const DefaultPublishTimeout = 10 * time.Second

// Config is a simulation run as `firegrid simulate` takes it. The zero
// value of every field but MQTTURL means its default.
type Config struct {
	// MQTTURL is the broker, as tcp://localhost:1883.
	MQTTURL string `yaml:"mqtt_url"`
	// ClientID is the MQTT client id; empty means a random firegrid-sim-….
	ClientID string `yaml:"client_id"`
	// Scenario is the path of a scenario file; empty means the fleet alone.
	Scenario string `yaml:"scenario"`
	// Registry is the registry directory (configs/demo); empty means no
	// registry, so no fleet, and every step must name its device's kind.
	Registry string `yaml:"registry"`
	// Speed plays the run this many times faster than real time: 10 makes
	// a 60 s heartbeat interval 6 s of wall time. 0 means 1.
	Speed float64 `yaml:"speed"`
	// Seed seeds the fleet; 0 means the scenario's seed.
	Seed uint64 `yaml:"seed"`
	// Duration ends the run after this much scenario time; 0 means the
	// scenario's duration, or else until the last step when the fleet is
	// off, or else until the run is stopped.
	Duration time.Duration `yaml:"duration"`
	// NoFleet turns heartbeats off: only the scenario's steps publish.
	NoFleet bool `yaml:"no_fleet"`
	// Fleet overrides the fleet settings of the scenario.
	Fleet FleetConfig `yaml:"fleet"`
	// Start is the simulated wall-clock time at the run's offset 0: it
	// gives the fleet's daily cycles (the hydrants' water demand) their
	// time of day, in its location. Zero means the run's clock when it
	// starts: now, or a virtual run's start. The same seed and Start give
	// the same values.
	Start time.Time `yaml:"start"`
	// PublishTimeout bounds one publication; 0 means 10 s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// HTTP is the console address (host:port) of the firegrid under test,
	// whose stream a run with expectations watches.
	HTTP string `yaml:"http"`
	// Grace is how long, in wall time, a real-time run with expectations
	// waits after its end for what firegrid did last; 0 means 1 s.
	Grace time.Duration `yaml:"grace"`
	// OnPublish, when set, sees every publication the broker took.
	OnPublish func(Publication) `yaml:"-"`
	// Credentials, when set, connect every device of the fleet on its own
	// connection with its own credentials (as a broker that checks who
	// may speak needs), and a scenario's commands are watched on each
	// device's own cmd topic; otherwise one connection publishes for all.
	Credentials Credentials `yaml:"-"`
	// Login is the user name and secret of the shared connections (the
	// one publisher without Credentials, the watcher of commands).
	Login []MQTTOption `yaml:"-"`
	// Units plays the devices behind GB/T 26875.3 transmission units
	// (devices.csv gb26875) as their units speak: frames on topics
	// gb26875/{unit} (see Units), which the Publisher sends to the
	// listener. GB26875, when set, is that listener's address: Simulate
	// sends the frames there over TCP and sets Units.
	Units   bool   `yaml:"units"`
	GB26875 string `yaml:"gb26875"`
}

func (c Config) grace() time.Duration {
	if c.Grace <= 0 {
		return time.Second
	}
	return c.Grace
}

// Validate reports everything wrong with c, naming the fields as YAML
// spells them.
func (c Config) Validate() error {
	var errs []error
	if c.MQTTURL == "" {
		errs = append(errs, errors.New("mqtt_url: missing (want a broker URL like tcp://localhost:1883)"))
	} else if err := checkBrokerURL(c.MQTTURL); err != nil {
		errs = append(errs, fmt.Errorf("mqtt_url: %w", err))
	}
	errs = append(errs, c.validatePlay())
	return errors.Join(errs...)
}

// validatePlay checks the fields a Runner uses.
func (c Config) validatePlay() error {
	var errs []error
	if c.Speed < 0 || c.Speed > 1e6 {
		errs = append(errs, fmt.Errorf("speed: %g is out of range (want above 0 and at most 1000000, or 0 for real time)", c.Speed))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration: %v is negative", c.Duration))
	}
	if c.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("publish_timeout: %v is negative", c.PublishTimeout))
	}
	if err := c.Fleet.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("fleet: %w", err))
	}
	return errors.Join(errs...)
}

// Simulate plays a run against the broker of cfg in real time (scaled by
// Speed) until it ends or ctx is cancelled: the fleet of devs (the
// registry's devices; the caller loads the registry) and the scenario sc,
// or when sc is nil the one cfg.Scenario names. It is what `firegrid
// simulate` calls.
//
// When the scenario has expectations and cfg.HTTP is set, Simulate watches
// the firegrid whose console is at cfg.HTTP (its stream) and the broker's
// command topics, and the report judges them; otherwise the report holds
// no results.
// The error is for a run that could not be played.
func Simulate(ctx context.Context, cfg Config, devs []*devices.Device, sc *Scenario, log *slog.Logger) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sc == nil && cfg.Scenario != "" {
		var err error
		if sc, err = LoadScenario(cfg.Scenario); err != nil {
			return nil, err
		}
	}
	if sc != nil {
		// Checked before connecting: a wrong scenario fails without a
		// broker.
		if err := sc.Check(devs); err != nil {
			return nil, err
		}
	}
	speed := cfg.Speed
	if speed == 0 {
		speed = 1
	}
	rep := &Report{Mode: "real time"}
	if speed != 1 {
		rep.Mode = fmt.Sprintf("%gx real time", speed)
	}
	var obs *Observer
	if sc != nil {
		rep.Scenario, rep.File = sc.Name, sc.File
		if len(sc.Expect) > 0 && cfg.HTTP == "" && log != nil {
			log.Warn("the scenario's expectations are not judged: no console address (--http host:port) to watch", "expectations", len(sc.Expect))
		}
		if len(sc.Expect) > 0 && cfg.HTTP != "" {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			obs = NewObserver(time.Now, speed)
			if _, err := WatchStream(wctx, cfg.HTTP, obs.Change); err != nil {
				return nil, err
			}
			// With credentials, the devices' own connections watch their
			// cmd topics; otherwise one connection watches them all.
			if cfg.Credentials == nil {
				sub, err := Subscribe(wctx, cfg.MQTTURL, CommandTopics, "", obs.Downlink, cfg.Login...)
				if err != nil {
					return nil, err
				}
				defer sub.Close()
			}
		}
	}
	var pub interface {
		Publisher
		Close() error
	}
	if cfg.Credentials != nil {
		ids := make([]string, 0, len(devs))
		kinds := make(map[string]contract.Kind, len(devs))
		for _, d := range devs {
			ids = append(ids, d.ID)
			kinds[d.ID] = d.Kind
		}
		o := DeviceOptions{Kinds: kinds}
		if obs != nil {
			o.OnCommand = obs.Downlink
		}
		dc, err := DialDevices(ctx, cfg.MQTTURL, cfg.Credentials, ids, o)
		if err != nil {
			return nil, err
		}
		if log != nil {
			log.Info("devices connected, each with its own credentials", "devices", dc.Len(), "broker", cfg.MQTTURL)
		}
		pub = dc
	} else {
		p, err := NewMQTTPublisher(ctx, cfg.MQTTURL, cfg.ClientID, cfg.Login...)
		if err != nil {
			return nil, err
		}
		pub = p
	}
	defer pub.Close()
	var out Publisher = pub
	if cfg.GB26875 != "" {
		// Devices behind transmission units speak through them, over TCP.
		up := &UnitPublisher{Addr: cfg.GB26875, Next: pub}
		defer up.Close()
		out, cfg.Units = up, true
	}
	sites := siteOf(devs)
	r := &Runner{Config: cfg, Scenario: sc, Devices: devs, Publisher: out, Clock: clock.Real{}, Logger: log,
		OnPublish: func(p Publication) {
			rep.Published++
			if obs != nil {
				d := p.Device()
				obs.Sent(d, sites[d])
			}
			if cfg.OnPublish != nil {
				cfg.OnPublish(p)
			}
		}}
	start := time.Now()
	if obs != nil {
		obs.Restart()
	}
	rep.Err = r.Run(ctx)
	rep.Elapsed = time.Since(start)
	rep.Played = time.Duration(float64(rep.Elapsed) * speed)
	if until := r.Config.Duration; until == 0 && sc != nil && sc.Duration > 0 && rep.Played > sc.Duration {
		rep.Played = sc.Duration
	} else if until > 0 && rep.Played > until {
		rep.Played = until
	}
	if obs != nil {
		// What firegrid did in the last moments of the run is still on its
		// way: give it a moment before judging.
		select {
		case <-time.After(cfg.grace()):
		case <-ctx.Done():
		}
		rep.Results = Evaluate(sc, obs.Observations(), rep.Played)
	}
	return rep, rep.Err
}

// siteOf maps each device to its site.
func siteOf(devs []*devices.Device) map[string]string {
	m := make(map[string]string, len(devs))
	for _, d := range devs {
		m[d.ID] = d.Site
	}
	return m
}

// Runner plays a fleet and a scenario through a Publisher on a Clock. Set
// its fields, then call Run. Config.MQTTURL, ClientID, Scenario and
// Registry are not used: the Runner takes the publisher, scenario and
// devices as they are.
type Runner struct {
	Config Config
	// Scenario is played on the fleet; nil means the fleet alone.
	Scenario *Scenario
	// Devices make the fleet: the registry's devices, in any order.
	Devices []*devices.Device
	// Source, when set, is played instead of the fleet and the scenario:
	// a recording, a load generator. A publication it yields with a
	// Payload is sent as it is; one without is stamped and encoded.
	Source    Source
	Publisher Publisher
	// Clock times the run; nil means the wall clock.
	Clock clock.Clock
	// Logger receives a line per scenario step (Info) and per heartbeat
	// (Debug); nil means none.
	Logger *slog.Logger
	// OnPublish, when set, is called after each publication the broker
	// took, in order, from Run's goroutine: where expectations, recording
	// and load statistics attach.
	OnPublish func(Publication)
}

// Run plays the run until it ends (see Config.Duration) or ctx is
// cancelled; both are a normal end and return nil. It returns an error
// when the run cannot start, or, at the end, when publications failed:
// a failed publication is logged and the run goes on. Run starts no
// goroutine.
func (r *Runner) Run(ctx context.Context) error {
	pl, err := r.prepare()
	if err != nil {
		return err
	}
	clk, log, src, until, speed, start := pl.clock, pl.log, pl.src, pl.until, pl.speed, pl.start
	timeout := pl.timeout
	var st runStats
	defer func() {
		log.Info("simulation over", "published", st.published, "failed", st.failed, "steps", st.steps,
			"elapsed", clk.Now().Sub(start))
	}()
	for {
		p, ok := src.Next()
		if !ok || until > 0 && p.At > until {
			if ok && !wait(ctx, clk, start, until, speed) {
				return nil
			}
			return st.err()
		}
		if !wait(ctx, clk, start, p.At, speed) {
			return nil
		}
		if p.Step != nil {
			st.steps++
			logStep(log, &p)
		}
		if p.Topic == "" {
			continue
		}
		if p.Payload == nil {
			p.Stamp(clk.Now())
		}
		if !pl.throughUnit(&p, clk.Now()) {
			continue
		}
		if p.Step == nil && log.Enabled(ctx, slog.LevelDebug) {
			log.Debug("heartbeat", "at", p.At, "topic", p.Topic, "seq", p.Message.Seq)
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := r.Publisher.Publish(pctx, p.Topic, p.QoS, p.Retained, p.Payload)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			st.failed++
			if st.first == nil {
				st.first = err
			}
			log.Error("publication failed", "at", p.At, "topic", p.Topic, "err", err)
			continue
		}
		st.published++
		if r.OnPublish != nil {
			r.OnPublish(p)
		}
	}
}

// play is a run ready to go: its source, clock and limits.
type play struct {
	clock   clock.Clock
	log     *slog.Logger
	src     Source
	until   time.Duration // 0: until the source ends
	speed   float64
	timeout time.Duration
	start   time.Time
	units   *Units // nil: every device publishes contract v1
}

// throughUnit turns a publication of a device behind a transmission unit
// into the unit's frame, when the run plays units; it reports false when
// the unit sends nothing for it.
func (pl *play) throughUnit(p *Publication, now time.Time) bool {
	if pl.units == nil {
		return true
	}
	topic, frame, send, ok := pl.units.Frame(p, now)
	if !ok {
		return true
	}
	if send {
		p.Topic, p.Payload = topic, frame
	}
	return send
}

// prepare checks the runner's configuration and builds what it plays:
// the Source, or the fleet and scenario merged into a Timeline.
func (r *Runner) prepare() (*play, error) {
	cfg := r.Config
	if err := cfg.validatePlay(); err != nil {
		return nil, err
	}
	if r.Publisher == nil {
		return nil, errors.New("simulator: Runner has no Publisher")
	}
	pl := &play{clock: r.Clock, log: r.Logger, speed: cfg.Speed, timeout: cfg.PublishTimeout}
	if pl.clock == nil {
		pl.clock = clock.Real{}
	}
	if pl.log == nil {
		pl.log = slog.New(slog.DiscardHandler)
	}
	if pl.speed == 0 {
		pl.speed = 1
	}
	if pl.timeout == 0 {
		pl.timeout = DefaultPublishTimeout
	}
	sc := r.Scenario
	seed, fc := cfg.Seed, FleetConfig{}
	pl.until = cfg.Duration
	if sc != nil {
		if seed == 0 {
			seed = sc.Seed
		}
		if pl.until == 0 {
			pl.until = sc.Duration
		}
		fc = sc.Fleet
	}
	fc = fc.Merge(cfg.Fleet)
	if cfg.NoFleet {
		fc.Off = true
	}
	pl.start = pl.clock.Now()
	if cfg.Units || cfg.GB26875 != "" {
		if pl.units = NewUnits(r.Devices, nil); pl.units.Len() == 0 {
			pl.units = nil
		}
	}
	pl.src = r.Source
	if pl.src != nil {
		pl.log.Info("simulation starting", "source", fmt.Sprintf("%T", pl.src), "speed", pl.speed, "duration", pl.until)
		return pl, nil
	}
	if sc != nil {
		// Checked before the fleet is built, so that a fleet.devices
		// entry missing from the registry is reported with its line.
		if err := sc.Check(r.Devices); err != nil {
			return nil, err
		}
	}
	fleet, err := NewFleet(r.Devices, fc, seed)
	if err != nil {
		return nil, err
	}
	if cfg.Start.IsZero() {
		fleet.SetStart(pl.start)
	} else {
		fleet.SetStart(cfg.Start)
	}
	// Sequence numbers start at the run's start in Unix milliseconds, so
	// a second run against the same firegrid never goes back.
	if ms := pl.start.UnixMilli(); ms > 0 {
		fleet.seqBase = uint64(ms)
	}
	tl, err := NewTimeline(fleet, sc)
	if err != nil {
		return nil, err
	}
	pl.src = tl
	name := ""
	if sc != nil {
		name = sc.Name
	}
	pl.log.Info("simulation starting", "scenario", name, "devices", fleet.Len(), "seed", seed,
		"speed", pl.speed, "duration", pl.until, "fleet", !fc.Off)
	return pl, nil
}

// wait blocks until offset at (scenario time, scaled by speed) after
// start; it reports false when ctx ended first.
func wait(ctx context.Context, clk clock.Clock, start time.Time, at time.Duration, speed float64) bool {
	d := time.Duration(float64(at)/speed) - clk.Now().Sub(start)
	if d > 0 {
		select {
		case <-clk.After(d):
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

func logStep(log *slog.Logger, p *Publication) {
	st := p.Step
	attrs := []any{"step", st.Index, "line", st.Line, "at", p.At, "device", st.Device, "action", string(st.Action)}
	if st.Event != "" {
		attrs = append(attrs, "event", st.Event)
	}
	if st.Repeat.times() > 1 {
		attrs = append(attrs, "repeat", fmt.Sprintf("%d/%d", p.Repeat+1, st.Repeat.times()))
	}
	if p.Topic != "" {
		attrs = append(attrs, "topic", p.Topic, "seq", p.Message.Seq)
	}
	log.Info("scenario step", attrs...)
}

// runStats counts what a run did.
type runStats struct {
	published, failed, steps int
	first                    error
}

func (s *runStats) err() error {
	if s.failed == 0 {
		return nil
	}
	return fmt.Errorf("simulator: %d of %d publications failed, the first: %w", s.failed, s.failed+s.published, s.first)
}
