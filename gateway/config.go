// Package gateway is where field networks' messages cross into firegrid
// when the devices behind them do not speak contract v1 themselves: a
// TCP listener for GB/T 26875.3 user information transmission devices, a
// subscription to a ChirpStack v4 network server's MQTT integration, and
// HTTP endpoints for the pushes of the carrier IoT platforms CTWing and
// OneNET.
//
// Each hands what it receives, as it received it, to ingest's Accept with
// the uplink's source named, and answers the sender only once Accept
// returned: a transmission unit gets its confirm, ChirpStack's broker its
// PUBACK, a platform its 200, once the pipeline keeps the message. Each
// accepts only what is configured — transmission units by address and
// source network, platforms by token or signature, ChirpStack with its
// own credentials — and counts what it refuses. It decodes nothing itself
// beyond what it needs to answer (ingest's decoders do that), and it
// never waits on anything but ingest.
package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is the `sources:` section of firegrid.yaml: the field sources
// the ingest component runs besides contract v1 over MQTT. Each is off
// until configured.
type Config struct {
	// Models is the models file mapping device models' fields (see
	// configs/models.yaml); empty means the embedded one.
	Models     string           `yaml:"models"`
	GB26875    GB26875Config    `yaml:"gb26875"`
	ChirpStack ChirpStackConfig `yaml:"chirpstack"`
	Push       PushConfig       `yaml:"push"`
}

// GB26875Config configures the GB/T 26875.3 listener.
type GB26875Config struct {
	// Listen is the TCP address transmission units connect to; empty
	// means off (--gb26875-listen).
	Listen string `yaml:"listen"`
	// Address is the monitoring centre's own address in replies, 12 hex
	// digits.
	Address string `yaml:"address"`
	// UTCOffset is the zone of the units' clocks (time tags carry none).
	UTCOffset time.Duration `yaml:"utc_offset"`
	// Units are the transmission units allowed to send, each by address
	// and the networks it connects from. Anything else is refused.
	Units []GB26875Unit `yaml:"units"`
	// IdleTimeout closes a connection that sent nothing this long (units
	// send a heartbeat every few minutes).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxClockSkew: a unit whose clock is further off than this is sent
	// the time (command 1, type 90) after the confirm; 0 never.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// MaxConnections bounds the connections held at once.
	MaxConnections int `yaml:"max_connections"`
}

// GB26875Unit is one transmission unit allowed to send.
type GB26875Unit struct {
	// Address is the unit's address, 12 hex digits, most significant
	// first (as devices.csv writes it).
	Address string `yaml:"address"`
	// From lists the addresses or networks (CIDR) it connects from.
	From []string `yaml:"from"`
}

// ChirpStackConfig configures the subscription to a ChirpStack v4
// network server's MQTT integration.
type ChirpStackConfig struct {
	// URL of ChirpStack's MQTT broker, tcp://host:1883 (or ssl://); empty
	// means off (--chirpstack-url).
	URL string `yaml:"url"`
	// Username, and the environment variable holding the password (never
	// the password itself in the file).
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// ClientID is the MQTT client id; a persistent session is kept under it.
	ClientID string `yaml:"client_id"`
	// Applications are the ChirpStack application ids subscribed to; empty
	// means every application the credentials may read.
	Applications []string `yaml:"applications"`
	// Events are the integration events subscribed to.
	Events []string `yaml:"events"`
	// SharedGroup, when set, subscribes through $share/{group}/, so that
	// several ingest processes split the events.
	SharedGroup string `yaml:"shared_group"`
	// Workers handle events in parallel; one device's always on one.
	Workers int `yaml:"workers"`
}

// PushConfig configures the HTTP endpoints of the carrier platforms'
// pushes, served on a listener of their own: a platform pushes from the
// internet, the console is for the intranet.
type PushConfig struct {
	// Listen is the HTTP address of the endpoints; empty means off
	// (--push-listen). POST /push/ctwing; GET and POST /push/onenet.
	Listen string       `yaml:"listen"`
	CTWing CTWingConfig `yaml:"ctwing"`
	OneNET OneNETConfig `yaml:"onenet"`
	// MaxBody bounds a push's body, in bytes.
	MaxBody int `yaml:"max_body"`
}

// CTWingConfig configures CTWing's endpoint. CTWing signs nothing: the
// subscription's URL carries a secret token (?token=...), and pushes are
// taken only from the configured networks.
type CTWingConfig struct {
	// TokenEnv names the environment variable holding the token; empty
	// means the endpoint is off.
	TokenEnv string `yaml:"token_env"`
	// From lists the networks (CIDR) pushes may come from; empty means
	// any.
	From []string `yaml:"from"`
}

// OneNETConfig configures OneNET's endpoint. OneNET signs every push with
// the token configured in its push instance: base64(md5(token + nonce +
// msg)).
type OneNETConfig struct {
	// TokenEnv names the environment variable holding the token; empty
	// means the endpoint is off.
	TokenEnv string `yaml:"token_env"`
	// From lists the networks (CIDR) pushes may come from; empty means
	// any.
	From []string `yaml:"from"`
}

// DefaultConfig is every field source off, with the defaults they run
// with once configured.
func DefaultConfig() Config {
	return Config{
		GB26875: GB26875Config{Address: "000000000000", UTCOffset: 8 * time.Hour, IdleTimeout: 10 * time.Minute,
			MaxClockSkew: time.Minute, MaxConnections: 1024},
		ChirpStack: ChirpStackConfig{ClientID: "firegrid-chirpstack", Events: []string{"up", "status", "join"}, Workers: 4},
		Push:       PushConfig{MaxBody: 256 << 10},
	}
}

// Enabled lists the sources c turns on.
func (c Config) Enabled() []string {
	var out []string
	if c.GB26875.Listen != "" {
		out = append(out, "gb26875")
	}
	if c.ChirpStack.URL != "" {
		out = append(out, "chirpstack")
	}
	if c.Push.Listen != "" {
		out = append(out, "push")
	}
	return out
}

// Validate checks the configuration; each error starts with the key path
// below sources.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	g := c.GB26875
	if g.Listen != "" {
		if _, _, err := net.SplitHostPort(g.Listen); err != nil {
			bad("gb26875.listen", "want host:port, got %q", g.Listen)
		}
	}
	if _, err := parseUnitAddress(g.Address); err != nil {
		bad("gb26875.address", "%v", err)
	}
	if g.UTCOffset < -14*time.Hour || g.UTCOffset > 14*time.Hour {
		bad("gb26875.utc_offset", "want -14h..14h, got %s", g.UTCOffset)
	}
	if g.IdleTimeout < time.Second {
		bad("gb26875.idle_timeout", "want at least 1s, got %s", g.IdleTimeout)
	}
	if g.MaxClockSkew < 0 {
		bad("gb26875.max_clock_skew", "want a duration >= 0 (0: never set the unit's clock), got %s", g.MaxClockSkew)
	}
	if g.MaxConnections < 1 {
		bad("gb26875.max_connections", "want at least 1, got %d", g.MaxConnections)
	}
	seen := map[uint64]bool{}
	for i, u := range g.Units {
		key := "gb26875.units." + strconv.Itoa(i)
		a, err := parseUnitAddress(u.Address)
		if err != nil {
			bad(key+".address", "%v", err)
		} else if seen[a] {
			bad(key+".address", "%s is listed twice", u.Address)
		}
		seen[a] = true
		if len(u.From) == 0 {
			bad(key+".from", "want the addresses or networks the unit connects from, e.g. [10.20.0.0/16]")
		}
		if _, err := parseNets(u.From); err != nil {
			bad(key+".from", "%v", err)
		}
	}
	cs := c.ChirpStack
	if cs.URL != "" {
		if !strings.HasPrefix(cs.URL, "tcp://") && !strings.HasPrefix(cs.URL, "ssl://") && !strings.HasPrefix(cs.URL, "mqtt://") &&
			!strings.HasPrefix(cs.URL, "ws://") && !strings.HasPrefix(cs.URL, "wss://") {
			bad("chirpstack.url", "want tcp://host:port (or ssl://, ws://), got %q", cs.URL)
		}
		if cs.ClientID == "" {
			bad("chirpstack.client_id", "want a non-empty MQTT client id")
		}
		if cs.PasswordEnv != "" && cs.Username == "" {
			bad("chirpstack.username", "a password needs a username")
		}
	}
	for i, ev := range cs.Events {
		if ev != "up" && ev != "status" && ev != "join" {
			bad("chirpstack.events."+strconv.Itoa(i), "%q: want up, status or join", ev)
		}
	}
	for i, app := range cs.Applications {
		if app == "" || strings.ContainsAny(app, "/+#") {
			bad("chirpstack.applications."+strconv.Itoa(i), "%q: want an application id", app)
		}
	}
	if cs.Workers < 1 || cs.Workers > 256 {
		bad("chirpstack.workers", "want 1..256, got %d", cs.Workers)
	}
	p := c.Push
	if p.Listen != "" {
		if _, _, err := net.SplitHostPort(p.Listen); err != nil {
			bad("push.listen", "want host:port, got %q", p.Listen)
		}
		if p.CTWing.TokenEnv == "" && p.OneNET.TokenEnv == "" {
			bad("push", "no platform configured: set ctwing.token_env or onenet.token_env")
		}
	}
	if _, err := parseNets(p.CTWing.From); err != nil {
		bad("push.ctwing.from", "%v", err)
	}
	if _, err := parseNets(p.OneNET.From); err != nil {
		bad("push.onenet.from", "%v", err)
	}
	if p.MaxBody < 1024 {
		bad("push.max_body", "want at least 1024 bytes, got %d", p.MaxBody)
	}
	return errors.Join(errs...)
}

// parseUnitAddress reads a unit address: 12 hex digits.
func parseUnitAddress(s string) (uint64, error) {
	if len(s) != 12 {
		return 0, fmt.Errorf("%q: want 12 hex digits, most significant first, e.g. 0000A0010001", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want 12 hex digits", s)
	}
	return v, nil
}

// parseNets reads addresses and networks: 10.1.2.3, 10.1.0.0/16, ::1.
func parseNets(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want an address or a network like 10.20.0.0/16", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// within reports whether the address of a remote host:port lies in one of
// nets; an empty list holds every address.
func within(nets []netip.Prefix, remote string) bool {
	if len(nets) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
