// Package broker is where device messages cross into firegrid and commands
// cross out, over MQTT.
//
// In `firegrid serve` it runs the embedded broker (mochi-mqtt), and ingest
// is a hook inside it: a device's PUBLISH is handed to ingest through one
// seam (an Accept function) and its PUBACK is sent only once that returns,
// so nothing is acknowledged that firegrid does not have, and an overloaded
// pipeline slows the publisher instead of dropping what it acknowledged.
// With an external broker (Mosquitto, EMQX), Subscriber takes the devices'
// messages over a shared subscription and acknowledges each after the same
// seam returned. Both publish the pipeline's commands to devices.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// Accept takes one uplink and returns once firegrid keeps it (ingest's
// Accept, or the uplink log in front of it). An error means it was not
// kept: the device's message is refused, not acknowledged.
type Accept func(ctx context.Context, u *contract.Uplink) error

// Options configure the embedded broker.
type Options struct {
	// Accept takes every uplink (fg/v1/{kind}/{id}/event|telemetry)
	// before its acknowledgement.
	Accept Accept
	// MaxAcceptWait bounds how long a device's PUBLISH may wait for
	// Accept (an overloaded pipeline): well inside the device's keepalive,
	// so the wait never costs the connection. Past it the message is
	// refused and the device sends it again. Default 10s.
	MaxAcceptWait time.Duration
	Log           *slog.Logger
	Registerer    prometheus.Registerer
	// Accounts, when set, are the only clients allowed in, each to its
	// own topics (see FloodLimit for what a device may send); nil lets
	// any client in to any topic.
	Accounts Accounts
	// Flood limits each device's non-alarm messages (with Accounts).
	Flood FloodLimit
	// AccountsRefresh is how often the accounts' revision is read: a
	// removed account or a rotated secret is in force within it.
	// Default 1s.
	AccountsRefresh time.Duration
}

// ClientWritesPending is how many packets may wait to be written to one
// client of the embedded broker. mochi makes every connection's queue at
// its full size when the client connects (its default, 8,192, is 64 KB of
// pointers a connection, which the collector scans on every cycle: 1.1 GB
// for 18,000 devices), and a device is only ever written its commands and
// acknowledgements. A subscriber reading every uplink (an observer) that
// falls this far behind loses messages, counted in
// firegrid_broker_messages_dropped_total: observe a busy serve on the
// journal or an external broker instead.
const ClientWritesPending = 256

// Embedded is the broker embedded in `firegrid serve`.
type Embedded struct {
	srv  *mqtt.Server
	addr string
	m    *brokerMetrics
	auth *authHook
}

// New returns a broker that will serve MQTT on ln (bound by the caller,
// so that an address in use fails the start before anything runs); Run
// serves it.
func New(ln net.Listener, o Options) (*Embedded, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.MaxAcceptWait <= 0 {
		o.MaxAcceptWait = 10 * time.Second
	}
	// mochi logs whole packets: their secrets are blanked first.
	quiet := slog.New(redactSecrets{minLevel{log.Handler(), slog.LevelError}}).With("component", "broker")
	if log.Enabled(context.Background(), slog.LevelDebug) {
		quiet = slog.New(redactSecrets{log.Handler()}).With("component", "broker")
	}
	// A device connection is small and cheap to open, and nothing
	// firegrid needs waits in a broker queue (ingest is a hook, not a
	// subscriber): see ClientWritesPending.
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = ClientWritesPending
	// A device's packets are small (a reading is a few hundred bytes):
	// 512-byte socket buffers a connection instead of mochi's 2 KB (a
	// larger packet is read through them all the same).
	srv := mqtt.New(&mqtt.Options{Logger: quiet, InlineClient: true, Capabilities: caps,
		ClientNetReadBufferSize: 512, ClientNetWriteBufferSize: 512})
	m := newBrokerMetrics(o.Registerer, srv)
	b := &Embedded{srv: srv, addr: ln.Addr().String(), m: m}
	// The auth hook comes first: a refused message never reaches Accept.
	if o.Accounts == nil {
		if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h, err := newAuthHook(ctx, o.Accounts, srv, m, log.With("component", "broker"), o.Flood, o.AccountsRefresh)
		if err != nil {
			return nil, fmt.Errorf("broker: MQTT accounts: %w", err)
		}
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		b.auth = h
	}
	if o.Accept != nil {
		if err := srv.AddHook(&uplinkHook{accept: o.Accept, wait: o.MaxAcceptWait, log: log, m: m}, nil); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", ln.Addr(), err)
	}
	return b, nil
}

// Run serves MQTT until ctx is done, then closes every connection.
func (b *Embedded) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if b.auth != nil {
		go b.auth.run(ctx)
	}
	<-ctx.Done()
	return b.srv.Close()
}

// URL is the broker's address as an MQTT URL.
func (b *Embedded) URL() string { return "tcp://" + b.addr }

// PublishCommand publishes a command to its device's cmd topic (QoS 1):
// the handler of the commands topic. It returns once the broker has
// queued it for the device (kept for a persistent session that is away).
func (b *Embedded) PublishCommand(_ context.Context, c *contract.Command) error {
	if err := b.srv.Publish(c.Topic(), c.Payload(), false, 1); err != nil {
		b.m.downlinks.WithLabelValues(c.Cmd, "error").Inc()
		return fmt.Errorf("broker: command to %s: %w", c.Device, err)
	}
	b.m.downlinks.WithLabelValues(c.Cmd, "sent").Inc()
	return nil
}

// isUplink reports whether topic is on an uplink channel of contract v1:
// fg/v1/{kind}/{id}/event or telemetry, however wrong its kind or id (ingest
// dead-letters those with the reason).
func isUplink(topic string) bool {
	rest, ok := strings.CutPrefix(topic, contract.TopicPrefix)
	if !ok || strings.Count(rest, "/") != 2 {
		return false
	}
	return strings.HasSuffix(rest, "/"+string(contract.ChannelEvent)) || strings.HasSuffix(rest, "/"+string(contract.ChannelTelemetry))
}

// uplinkHook hands every uplink to Accept before mochi acknowledges it.
type uplinkHook struct {
	mqtt.HookBase
	accept Accept
	wait   time.Duration
	log    *slog.Logger
	m      *brokerMetrics
	// deadlines bound each message's wait without a timer of its own.
	deadlines deadlines
}

func (h *uplinkHook) ID() string { return "firegrid-ingest" }

func (h *uplinkHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish runs in the publishing client's read loop: while Accept
// waits, that client's next packets wait too (the backpressure an
// overloaded pipeline puts on a device), and its PUBACK is sent only once
// Accept returned nil.
func (h *uplinkHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !isUplink(pk.TopicName) {
		return pk, nil
	}
	start := time.Now()
	wait := h.wait
	if ka := time.Duration(cl.State.Keepalive) * time.Second; ka > 0 && ka/2 < wait {
		wait = ka / 2
	}
	// What keeps the uplink stamps its receive time, with firegrid's clock.
	err := h.accept(h.deadlines.get(wait), &contract.Uplink{Topic: pk.TopicName, Payload: pk.Payload})
	h.m.acceptWait.Observe(time.Since(start).Seconds())
	if err == nil {
		return pk, nil
	}
	h.m.refused.WithLabelValues("not_kept").Inc()
	h.log.Warn("device message not kept; refused", "client", cl.ID, "topic", pk.TopicName, "err", err)
	// A plain error would be acknowledged all the same. MQTT 5 says why in
	// the PUBACK; MQTT 3.1.1 has no negative acknowledgement, so the
	// connection is closed and the device sends the message again.
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return pk, packets.ErrImplementationSpecificError
	}
	cl.Stop(packets.ErrImplementationSpecificError)
	return pk, packets.ErrRejectPacket
}

// brokerMetrics are the embedded broker's.
type brokerMetrics struct {
	acceptWait prometheus.Histogram
	refused    *prometheus.CounterVec
	downlinks  *prometheus.CounterVec
}

func newBrokerMetrics(reg prometheus.Registerer, srv *mqtt.Server) *brokerMetrics {
	m := &brokerMetrics{
		acceptWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firegrid_broker_accept_seconds",
			Help:    "Time a device's message waited for firegrid to keep it before its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 20),
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_broker_refused_total",
			Help: "Connections and messages the embedded broker refused, by reason.",
		}, []string{"reason"}),
		downlinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_downlinks_total",
			Help: "Commands published to devices over MQTT, by command and result.",
		}, []string{"cmd", "result"}),
	}
	m.refused.WithLabelValues("not_kept")
	for _, r := range refusalReasons {
		m.refused.WithLabelValues(r)
	}
	if reg != nil && srv != nil {
		reg.MustRegister(m.acceptWait, m.refused, m.downlinks,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "firegrid_broker_clients_connected",
				Help: "Clients connected to the embedded broker.",
			}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.ClientsConnected)) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "firegrid_broker_messages_dropped_total",
				Help: "Messages the embedded broker dropped because a subscriber's write queue was full (a subscriber that reads too slowly, never ingest).",
			}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.MessagesDropped)) }),
		)
	}
	return m
}
