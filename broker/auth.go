package broker

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/contract"
)

// Accounts is where the embedded broker reads who may connect: the
// store's MQTT accounts, and a revision that moves with every change.
type Accounts interface {
	MQTTAccounts(ctx context.Context) ([]access.MQTTAccount, int64, error)
	MQTTAccountsRevision(ctx context.Context) (int64, error)
}

// FloodLimit bounds what one device may send that is not an alarm. Above
// Rate messages a second (after a Burst), the device is disconnected and
// for Cooldown each of its non-alarm messages closes the connection again,
// so that it cannot starve the others; its alarms pass at any time.
type FloodLimit struct {
	// Rate is non-alarm messages a second per device; 0 means no limit.
	Rate float64 `yaml:"rate"`
	// Burst is how many may come at once above the rate.
	Burst int `yaml:"burst"`
	// Cooldown is how long a device that flooded may send only alarms.
	Cooldown time.Duration `yaml:"cooldown"`
}

// DefaultFloodLimit allows a device 10 messages a second with bursts of
// 100: a detector beats once a minute, a charger reports every 30 s.
func DefaultFloodLimit() FloodLimit {
	return FloodLimit{Rate: 10, Burst: 100, Cooldown: 30 * time.Second}
}

// Refusal reasons of firegrid_broker_refused_total.
const (
	refusedNoCredentials = "no_credentials" // CONNECT without a user name
	refusedUnknownUser   = "unknown_user"   // a user name with no account
	refusedBadSecret     = "bad_secret"     // the wrong secret
	refusedClientID      = "client_id"      // a service's client id outside its name
	refusedPublish       = "publish_denied" // a topic the account may not publish to
	refusedRead          = "read_denied"    // a filter or topic the account may not read
	refusedFlood         = "flood"          // non-alarm messages above the limit: disconnected
	refusedCooldown      = "cooldown"       // a non-alarm message while cooling down: disconnected
	refusedRevoked       = "revoked"        // connected when its account was removed or its secret rotated
)

var refusalReasons = []string{refusedNoCredentials, refusedUnknownUser, refusedBadSecret, refusedClientID, refusedPublish,
	refusedRead, refusedFlood, refusedCooldown, refusedRevoked}

// alarmEvents are the events a flood limit never refuses: fire and the
// events that send a crew (a hydrant hit or opened).
var alarmEvents = map[contract.Kind][]string{
	contract.KindSmoke:   {"alarm"},
	contract.KindCharger: {"smoke", "over_temp", "overload", "short_circuit"},
	contract.KindHydrant: {"impact", "valve_open"},
}

// isAlarm reports whether an uplink is an alarm: an event of alarmEvents,
// or an event whose name cannot be read (ingest says what is wrong with
// it; the broker never drops what may be an alarm).
func isAlarm(kind contract.Kind, ch contract.Channel, payload []byte) bool {
	if ch != contract.ChannelEvent {
		return false
	}
	var m struct {
		Event string `json:"event"`
	}
	if json.Unmarshal(payload, &m) != nil || m.Event == "" {
		return true
	}
	return slices.Contains(alarmEvents[kind], m.Event)
}

// account is an MQTT account ready for the hot path: its hash parsed and
// a device's topics spelled out.
type account struct {
	access.MQTTAccount
	hash                  access.SecretHash
	event, telemetry, cmd string
	rawHash               string
}

func newAccount(a access.MQTTAccount) (*account, error) {
	h, err := access.ParseSecretHash(a.Hash)
	if err != nil {
		return nil, err
	}
	x := &account{MQTTAccount: a, hash: h, rawHash: a.Hash}
	if a.Role == access.MQTTDevice {
		x.event = contract.UplinkTopic(a.Kind, a.Device, contract.ChannelEvent)
		x.telemetry = contract.UplinkTopic(a.Kind, a.Device, contract.ChannelTelemetry)
		x.cmd = contract.CommandTopic(a.Kind, a.Device)
	}
	return x, nil
}

func (a *account) mayPublish(topic string) bool {
	if a.Role == access.MQTTDevice {
		return topic == a.event || topic == a.telemetry
	}
	return a.MayPublish(topic)
}

func (a *account) mayRead(filter string) bool {
	if a.Role == access.MQTTDevice && filter == a.cmd {
		return true
	}
	return a.MayRead(filter)
}

// dummyHash is checked when the user name is unknown, so that an unknown
// name takes as long as a wrong secret.
var dummyHash, _ = access.ParseSecretHash("$7$101$Haa85JGTxJVlUQC8$beKgY9ulUPfLtkj3ytZgtj2plg7RsNpUX1audltrJjJ7tvirvbhmsMG+beWGcJmJ4LIlN5jdz5vqpXO+21ItLw==")

// authHook is the embedded broker's authentication, access control and
// flood limit: every client connects with an account's user name and
// secret and may then use only its topics.
type authHook struct {
	mqtt.HookBase
	src   Accounts
	srv   *mqtt.Server
	m     *brokerMetrics
	log   *slog.Logger
	flood FloodLimit
	// refresh is how often the accounts' revision is read; a miss (an
	// unknown name, a wrong secret) reads it sooner, at most every
	// refresh/5.
	refresh time.Duration

	accounts atomic.Pointer[map[string]*account]
	rev      int64      // under reload
	reload   sync.Mutex // one reload at a time
	checked  atomic.Int64
	states   sync.Map // user name -> *floodState
	say      rateLog
}

func newAuthHook(ctx context.Context, src Accounts, srv *mqtt.Server, m *brokerMetrics, log *slog.Logger, flood FloodLimit, refresh time.Duration) (*authHook, error) {
	if refresh <= 0 {
		refresh = time.Second
	}
	h := &authHook{src: src, srv: srv, m: m, log: log, flood: flood, refresh: refresh}
	empty := map[string]*account{}
	h.accounts.Store(&empty)
	if _, err := h.sync(ctx, true); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *authHook) ID() string { return "firegrid-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

func (h *authHook) lookup(user []byte) *account {
	return (*h.accounts.Load())[string(user)]
}

// sync reads the accounts again when their revision moved (or always,
// when force is set), and disconnects the clients of accounts removed or
// given a new secret. It reports whether anything changed.
func (h *authHook) sync(ctx context.Context, force bool) (bool, error) {
	h.reload.Lock()
	defer h.reload.Unlock()
	h.checked.Store(time.Now().UnixNano())
	if !force {
		rev, err := h.src.MQTTAccountsRevision(ctx)
		if err != nil || rev == h.rev {
			return false, err
		}
	}
	list, rev, err := h.src.MQTTAccounts(ctx)
	if err != nil {
		return false, err
	}
	next := make(map[string]*account, len(list))
	for _, a := range list {
		x, err := newAccount(a)
		if err != nil {
			h.log.Error("MQTT account skipped", "user", a.Username, "err", err)
			continue
		}
		next[a.Username] = x
	}
	old := *h.accounts.Load()
	h.accounts.Store(&next)
	h.rev = rev
	var gone []string
	for name, a := range old {
		if n, ok := next[name]; !ok || n.rawHash != a.rawHash || n.Role != a.Role || n.Kind != a.Kind {
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 && h.srv != nil {
		h.disconnect(gone)
	}
	return true, nil
}

// disconnect ends the connections of users whose account was removed or
// changed: a rotated secret is a revoked one.
func (h *authHook) disconnect(users []string) {
	set := make(map[string]bool, len(users))
	for _, u := range users {
		set[u] = true
	}
	for _, cl := range h.srv.Clients.GetAll() {
		if cl.Net.Inline || !set[string(cl.Properties.Username)] || cl.Closed() {
			continue
		}
		h.m.refused.WithLabelValues(refusedRevoked).Inc()
		h.log.Info("MQTT account removed or given a new secret; its connection closed", "user", string(cl.Properties.Username))
		h.stop(cl, packets.ErrNotAuthorized)
	}
}

// run reads the accounts' revision every refresh until ctx is done.
func (h *authHook) run(ctx context.Context) {
	t := time.NewTicker(h.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := h.sync(ctx, false); err != nil && ctx.Err() == nil {
				h.say.warn(h.log, "accounts", "MQTT accounts not read; the ones in memory stay in force", "err", err)
			}
		}
	}
}

// resync reads the accounts now if they were not read within the last
// refresh/5: a device issued or rotated a moment ago may connect at once.
func (h *authHook) resync() bool {
	if time.Since(time.Unix(0, h.checked.Load())) < h.refresh/5 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	changed, _ := h.sync(ctx, false)
	return changed
}

func (h *authHook) refuse(reason string, msg string, args ...any) {
	h.m.refused.WithLabelValues(reason).Inc()
	h.say.warn(h.log, reason, msg, append(args, "reason", reason)...)
}

// OnConnectAuthenticate lets a client in with an account's user name and
// secret. A device's client id is put under its user name (see
// deviceClientID), so that no device can take over another's session; a
// service's client id must start with its name.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := pk.Connect.Username
	if len(user) == 0 {
		h.refuse(refusedNoCredentials, "MQTT connection refused: no user name", "remote", cl.Net.Remote)
		return false
	}
	secret := string(pk.Connect.Password)
	a := h.lookup(user)
	if a == nil && h.resync() {
		a = h.lookup(user)
	}
	if a == nil {
		dummyHash.Verify(secret)
		h.refuse(refusedUnknownUser, "MQTT connection refused: unknown user", "user", string(user), "remote", cl.Net.Remote)
		return false
	}
	if !a.hash.Verify(secret) {
		// The secret may have been rotated a moment ago.
		b := a
		if h.resync() {
			b = h.lookup(user)
		}
		if b == a || b == nil || !b.hash.Verify(secret) {
			h.refuse(refusedBadSecret, "MQTT connection refused: wrong secret", "user", a.Username, "remote", cl.Net.Remote)
			return false
		}
		a = b
	}
	if a.Role == access.MQTTDevice {
		// An empty client id was given a random one by mochi.
		cl.ID = deviceClientID(a.Username, cl.ID)
		if pk.Connect.ClientIdentifier == "" && cl.Properties.ProtocolVersion == 5 {
			cl.Properties.Props.AssignedClientID = cl.ID
		}
	} else if !strings.HasPrefix(cl.ID, a.Username) {
		h.refuse(refusedClientID, "MQTT connection refused: a service's client id must start with its user name", "user", a.Username, "client", cl.ID)
		return false
	}
	return true
}

// deviceClientID is the client id a device's connection gets: its user
// name when it asks for that, else user:asked. A device's connections can
// only ever take over each other's sessions, and a person trying a device
// by hand beside it takes over nothing (Mosquitto's
// use_username_as_clientid is the nearest it offers: there a second
// connection of a device replaces the first).
func deviceClientID(user, asked string) string {
	if asked == user {
		return user
	}
	if strings.HasPrefix(asked, user+":") {
		return asked
	}
	return user + ":" + asked
}

// OnACLCheck allows an account its own topics only (firegrid's own
// publications, from the inline client, never come here).
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	a := h.lookup(cl.Properties.Username)
	if write {
		if a != nil && a.mayPublish(topic) {
			return true
		}
		h.refuse(refusedPublish, "MQTT publish refused: not this account's topic", "user", string(cl.Properties.Username), "topic", topic)
		return false
	}
	if a != nil && a.mayRead(topic) {
		return true
	}
	h.refuse(refusedRead, "MQTT subscription refused: not this account's topic", "user", string(cl.Properties.Username), "filter", topic)
	return false
}

// OnPublish applies the flood limit to a device's non-alarm messages
// before ingest takes them.
func (h *authHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.flood.Rate <= 0 {
		return pk, nil
	}
	a := h.lookup(cl.Properties.Username)
	if a == nil || a.Role != access.MQTTDevice {
		return pk, nil
	}
	kind, _, ch, err := contract.ParseUplinkTopic(pk.TopicName)
	if err != nil || isAlarm(kind, ch, pk.Payload) {
		return pk, nil
	}
	v, ok := h.states.Load(a.Username)
	if !ok {
		v, _ = h.states.LoadOrStore(a.Username, &floodState{tokens: float64(max(h.flood.Burst, 1)), last: time.Now()})
	}
	reason := v.(*floodState).take(time.Now(), h.flood)
	if reason == "" {
		return pk, nil
	}
	h.refuse(reason, "device sends too much; disconnected, its alarms still pass", "user", a.Username,
		"limit_per_s", h.flood.Rate, "cooldown", h.flood.Cooldown)
	h.stop(cl, packets.ErrMessageRateTooHigh)
	return pk, packets.ErrRejectPacket
}

// stop closes a client's connection: MQTT 5 is told why with a
// DISCONNECT, MQTT 3.1.1 has no such packet and just sees it close.
func (h *authHook) stop(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 && h.srv != nil {
		_ = h.srv.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// floodState is one device's token bucket and cool-down.
type floodState struct {
	mu        sync.Mutex
	tokens    float64
	last      time.Time
	coolUntil time.Time
}

// take spends a token for a non-alarm message; it returns the refusal
// reason, or "" when the message may pass.
func (s *floodState) take(now time.Time, l FloodLimit) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.coolUntil) {
		return refusedCooldown
	}
	burst := float64(max(l.Burst, 1))
	s.tokens = min(burst, s.tokens+now.Sub(s.last).Seconds()*l.Rate)
	s.last = now
	if s.tokens < 1 {
		s.coolUntil = now.Add(l.Cooldown)
		return refusedFlood
	}
	s.tokens--
	return ""
}

// rateLog logs a kind of line at most once a second, saying how many it
// held back: a client hammering the broker must not flood the log too.
type rateLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func (r *rateLog) warn(log *slog.Logger, key, msg string, args ...any) {
	r.mu.Lock()
	if r.last == nil {
		r.last, r.held = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if now.Sub(r.last[key]) < time.Second {
		r.held[key]++
		r.mu.Unlock()
		return
	}
	held := r.held[key]
	r.last[key], r.held[key] = now, 0
	r.mu.Unlock()
	if held > 0 {
		args = append(args, "similar_since_last", held)
	}
	log.Warn(msg, args...)
}

// redactSecrets is the broker's log handler: mochi logs whole packets
// (a CONNECT with its password) at debug level and on protocol errors;
// their secrets are blanked before any handler sees them.
type redactSecrets struct{ slog.Handler }

func (h redactSecrets) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactSecrets) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactSecrets{h.Handler.WithAttrs(red)}
}

func (h redactSecrets) WithGroup(name string) slog.Handler {
	return redactSecrets{h.Handler.WithGroup(name)}
}

var redacted = []byte("REDACTED")

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = redactAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		switch p := v.Any().(type) {
		case packets.Packet:
			return slog.Any(a.Key, redactPacket(p))
		case *packets.Packet:
			if p != nil {
				return slog.Any(a.Key, redactPacket(*p))
			}
		}
	}
	return a
}

func redactPacket(p packets.Packet) packets.Packet {
	if len(p.Connect.Password) > 0 {
		p.Connect.Password = redacted
	}
	if len(p.Properties.AuthenticationData) > 0 {
		p.Properties.AuthenticationData = redacted
	}
	if len(p.Connect.WillProperties.AuthenticationData) > 0 {
		p.Connect.WillProperties.AuthenticationData = redacted
	}
	return p
}
