package assembly

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/broker"
	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/capalert"
	"github.com/firegrid/firegrid/gateway"
	"github.com/firegrid/firegrid/hazard"
	"github.com/firegrid/firegrid/ingest"
	"github.com/firegrid/firegrid/internal/conf"
	"github.com/firegrid/firegrid/notify"
	"github.com/firegrid/firegrid/tsdb"
)

// Config is firegrid.yaml.
type Config struct {
	// HTTP is the console and API address.
	HTTP string `yaml:"http"`
	MQTT MQTT   `yaml:"mqtt"`
	// Data is the directory of the SQLite incident store.
	Data string `yaml:"data"`
	// Registry is the territory directory; empty means the embedded demo,
	// and db (FromDatabase) the latest registry imported into the store
	// with `firegrid registry import` (PostgreSQL when postgres.dsn is set,
	// else SQLite in the data directory). Write a directory named db as ./db.
	Registry string `yaml:"registry"`
	// Rules is the rules file; empty means the embedded configs/rules.yaml.
	Rules  string        `yaml:"rules"`
	Ingest ingest.Config `yaml:"ingest"`
	// RuleEngine times the rule engine's ticks and snapshots.
	RuleEngine RuleEngine       `yaml:"rule_engine"`
	Bus        bus.MemoryConfig `yaml:"bus"`
	// Console sizes the console's views.
	Console ConsoleConfig `yaml:"console"`
	Demo    Demo          `yaml:"demo"`
	Log     Log           `yaml:"log"`

	// Kafka is the bus of the scale-out roles (serve uses the in-process
	// bus above).
	Kafka bus.KafkaConfig `yaml:"kafka"`
	// Postgres holds the alarm role's incidents; empty DSN means SQLite in
	// the data directory (one alarm instance only).
	Postgres Postgres `yaml:"postgres"`
	// Influx is the time-series sink: the sink role's destination, and
	// optional in serve; no URL means none.
	Influx tsdb.Config `yaml:"influx"`
	// Instance names this process among the instances of its role: the
	// MQTT client id suffix of an ingest, the per-instance consumer groups
	// (console stream, recent values, dead letters, rules control). Empty
	// means the host name.
	Instance string `yaml:"instance"`
	// Dispatch is timers, escalation, users and notifications.
	Dispatch Dispatch `yaml:"dispatch"`
	// Sources are the field sources the ingest component runs besides
	// contract v1 over MQTT: GB/T 26875.3 transmission units, ChirpStack,
	// carrier platforms' pushes. Each is off until configured.
	Sources gateway.Config `yaml:"sources"`
	// Hazards is the people's half of the loop: hazard categories and
	// deadlines, device tickets that are hazards, photo limits, work-order
	// channels (12345) and the inspection plans of every zone.
	Hazards hazard.Config `yaml:"hazards"`
}

// FromDatabase, as registry: or dispatch.users:, reads the registry or the
// users from the store instead of files.
const FromDatabase = "db"

// Postgres locates the PostgreSQL database.
type Postgres struct {
	// DSN, e.g. postgres://firegrid:secret@postgres:5432/firegrid.
	DSN string `yaml:"dsn"`
}

// Dispatch configures what keeps the 1-3-5 promise: timers per incident
// type and severity, escalation, who may log in, and who is told.
type Dispatch struct {
	alarm.DispatchConfig `yaml:",inline"`
	// Users is the users file (make it with `firegrid users add`), or db
	// (FromDatabase) for the users table of the store (`firegrid users add
	// --postgres DSN` or `--data DIR`). Empty means no log-ins: anyone who
	// reaches the console may do anything, which firegrid says loudly at
	// start. The demo makes its own users.
	Users string `yaml:"users"`
	// SessionSecret signs session tokens; alarm instances that share it
	// accept each other's tokens. Empty makes a random one per process.
	SessionSecret string `yaml:"session_secret"`
	// SessionTTL is how long a log-in lasts.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// CAP says who firegrid is in its CAP 1.2 feed and CAP webhooks.
	CAP capalert.Config `yaml:"cap"`
	// Notifiers are webhooks told about incident changes.
	Notifiers []notify.Config `yaml:"notifiers"`
}

// MQTT says where devices connect.
type MQTT struct {
	// Listen is the embedded broker's address; used when URL is empty.
	// The embedded broker lets in only the store's MQTT accounts (see
	// `firegrid devices credentials`), each device to its own topics.
	Listen string `yaml:"listen"`
	// URL of an external broker (tcp://host:1883); empty runs the embedded one.
	URL string `yaml:"url"`
	// Username and PasswordFile are ingest's account on an external
	// broker (`firegrid devices credentials issue --service
	// firegrid-ingest=ingest` makes one); the environment variable
	// FIREGRID_MQTT_PASSWORD may hold the password instead of a file.
	// Empty: connect without.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// Flood limits each device's non-alarm messages on the embedded
	// broker; rate 0 turns the limit off (a load test on one device).
	Flood broker.FloodLimit `yaml:"flood"`
}

// Password returns ingest's password on the external broker: the
// password file's first line, or FIREGRID_MQTT_PASSWORD.
func (m MQTT) Password() (string, error) {
	if m.PasswordFile == "" {
		return os.Getenv("FIREGRID_MQTT_PASSWORD"), nil
	}
	b, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("mqtt.password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), nil
}

// Demo runs a simulated fleet in the process.
type Demo struct {
	Enabled bool `yaml:"enabled"`
	// Scenario, when set, is played on top of the fleet's heartbeats.
	Scenario string `yaml:"scenario"`
	// Seed makes the fleet's behaviour repeatable.
	Seed uint64 `yaml:"seed"`
}

// RuleEngine times the rule engine.
type RuleEngine struct {
	// Tick is how often durations and absences are checked: an absence is
	// seen within a tick of its deadline.
	Tick time.Duration `yaml:"tick"`
	// SnapshotEvery is how often the engine's state is saved (per
	// partition, scaled out); the bus commits what the engine handled no
	// further than the last snapshot.
	SnapshotEvery time.Duration `yaml:"snapshot_every"`
}

// ConsoleConfig sizes the console's views.
type ConsoleConfig struct {
	// DeadLetters is how many of the newest dead letters the console
	// keeps to list.
	DeadLetters int `yaml:"dead_letters"`
	// RecentPerDevice is how many readings of each device the incident
	// view shows.
	RecentPerDevice int `yaml:"recent_per_device"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// DefaultConfig is what `firegrid serve` runs with no file and no flags.
func DefaultConfig() Config {
	return Config{
		HTTP:       "127.0.0.1:8080",
		MQTT:       MQTT{Listen: "127.0.0.1:1883", Flood: broker.DefaultFloodLimit()},
		Data:       "data",
		Ingest:     ingest.DefaultConfig(),
		Bus:        bus.DefaultMemoryConfig(),
		Console:    ConsoleConfig{DeadLetters: 1000, RecentPerDevice: 10},
		RuleEngine: RuleEngine{Tick: 200 * time.Millisecond, SnapshotEvery: 5 * time.Second},
		Demo:       Demo{Seed: 1},
		Log:        Log{Level: "info", Format: "text"},
		Kafka:      bus.DefaultKafkaConfig(),
		Influx:     tsdb.DefaultConfig(),
		Sources:    gateway.DefaultConfig(),
		Dispatch: Dispatch{
			DispatchConfig: alarm.DefaultDispatchConfig(),
			SessionTTL:     12 * time.Hour,
			CAP:            capalert.DefaultConfig(),
		},
		Hazards: hazard.DefaultConfig(),
	}
}

// LoadConfig reads path over the defaults, strictly: an unknown key fails.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	return cfg, ParseConfig(path, b, &cfg)
}

// ParseConfig decodes b over cfg and validates. Its errors are
// *conf.Error values joined with errors.Join, each naming the file, the
// line and column, and the key path.
func ParseConfig(name string, b []byte, cfg *Config) error {
	root, err := conf.DecodeStrict(name, b, cfg)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return conf.Locate(name, root, err)
	}
	return nil
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

// Validate checks the configuration; each error starts with the key path.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		errs = append(errs, fmt.Errorf("http: want host:port, got %q", c.HTTP))
	}
	if c.MQTT.URL == "" {
		if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			errs = append(errs, fmt.Errorf("mqtt.listen: want host:port, got %q", c.MQTT.Listen))
		}
	} else if !strings.HasPrefix(c.MQTT.URL, "tcp://") && !strings.HasPrefix(c.MQTT.URL, "mqtt://") &&
		!strings.HasPrefix(c.MQTT.URL, "ssl://") && !strings.HasPrefix(c.MQTT.URL, "ws://") {
		errs = append(errs, fmt.Errorf("mqtt.url: want tcp://host:port (or mqtt://, ssl://, ws://), got %q", c.MQTT.URL))
	}
	if f := c.MQTT.Flood; f.Rate < 0 || f.Burst < 0 || f.Cooldown < 0 || (f.Rate > 0 && f.Burst < 1) {
		errs = append(errs, fmt.Errorf("mqtt.flood: want rate >= 0 (0: no limit), burst >= 1 and cooldown >= 0, got %+v", f))
	}
	if c.MQTT.PasswordFile != "" && c.MQTT.Username == "" {
		errs = append(errs, errors.New("mqtt.password_file: set mqtt.username too"))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: want a directory for the incident store"))
	}
	if err := c.Ingest.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, fmt.Errorf("ingest.%w", e))
		}
	}
	if c.RuleEngine.Tick < 10*time.Millisecond || c.RuleEngine.Tick > 10*time.Second {
		errs = append(errs, fmt.Errorf("rule_engine.tick: want 10ms..10s, got %s", c.RuleEngine.Tick))
	}
	if c.RuleEngine.SnapshotEvery < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("rule_engine.snapshot_every: want at least 100ms, got %s", c.RuleEngine.SnapshotEvery))
	}
	if c.Console.DeadLetters < 1 {
		errs = append(errs, fmt.Errorf("console.dead_letters: want at least 1, got %d", c.Console.DeadLetters))
	}
	if c.Console.RecentPerDevice < 1 {
		errs = append(errs, fmt.Errorf("console.recent_per_device: want at least 1, got %d", c.Console.RecentPerDevice))
	}
	if err := c.Bus.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("bus.%w", err))
	}
	for _, e := range unwrapAll(c.Kafka.Validate()) {
		if e != nil {
			errs = append(errs, fmt.Errorf("kafka.%w", e))
		}
	}
	for _, e := range unwrapAll(c.Influx.Validate()) {
		if e != nil {
			errs = append(errs, fmt.Errorf("influx.%w", e))
		}
	}
	if c.Postgres.DSN != "" && !strings.HasPrefix(c.Postgres.DSN, "postgres://") && !strings.HasPrefix(c.Postgres.DSN, "postgresql://") &&
		!strings.Contains(c.Postgres.DSN, "=") {
		errs = append(errs, errors.New("postgres.dsn: want postgres://user:password@host:5432/db or key=value pairs"))
	}
	if err := c.Dispatch.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, fmt.Errorf("dispatch.%w", e))
		}
	}
	if err := c.Dispatch.CAP.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, fmt.Errorf("dispatch.cap.%w", e))
		}
	}
	names := map[string]bool{}
	for i, n := range c.Dispatch.Notifiers {
		n.Defaults()
		if err := n.Validate(); err != nil {
			for _, e := range unwrapAll(err) {
				errs = append(errs, fmt.Errorf("dispatch.notifiers.%d.%w", i, e))
			}
		}
		if names[n.Name] {
			errs = append(errs, fmt.Errorf("dispatch.notifiers.%d.name: %q is used twice", i, n.Name))
		}
		names[n.Name] = true
	}
	if err := c.Hazards.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, fmt.Errorf("hazards.%w", e))
		}
	}
	if c.Dispatch.SessionTTL <= 0 {
		errs = append(errs, fmt.Errorf("dispatch.session_ttl: %v: want a positive duration, e.g. 12h", c.Dispatch.SessionTTL))
	}
	for _, e := range unwrapAll(c.Sources.Validate()) {
		if e != nil {
			errs = append(errs, fmt.Errorf("sources.%w", e))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: want text or json, got %q", c.Log.Format))
	}
	return errors.Join(errs...)
}
