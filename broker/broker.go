// Package broker runs the MQTT broker embedded in `firegrid serve`
// (mochi-mqtt), so that one process is a whole firegrid. Devices and ingest
// talk to it over TCP exactly as they would to Mosquitto or EMQX; the
// scale-out deployment uses an external broker instead.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"
)

// Broker is an embedded MQTT broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens on addr and serves MQTT in the background. An address in
// use is reported before anything is served. reg, when not nil, gets the
// broker's metrics.
func Start(addr string, log *slog.Logger, reg prometheus.Registerer) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	quiet := slog.New(minLevel{log.Handler(), slog.LevelError}).With("component", "broker")
	if log.Enabled(context.Background(), slog.LevelDebug) {
		quiet = log.With("component", "broker")
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// Room for a burst: a subscriber (ingest) that falls behind has this
	// many messages queued and unacknowledged before the broker starts
	// dropping (and counting) what it cannot hold.
	caps.MaximumClientWritesPending = 64 << 10
	srv := mqtt.New(&mqtt.Options{Logger: quiet, Capabilities: caps})
	// Devices on a station's intranet connect without credentials in the
	// all-in-one; deployments that need device authentication put a broker
	// with its own ACLs in front (see the README).
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	registerDrops(reg, srv)
	tcp := listeners.NewTCP(listeners.Config{Type: "tcp", ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
	default:
	}
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// URL is the broker's address as an MQTT URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker.
func (b *Broker) Close() error {
	if b == nil || b.srv == nil {
		return errors.New("broker not started")
	}
	return b.srv.Close()
}

// registerDrops exposes what the broker dropped instead of delivering to a
// subscriber that fell too far behind (firegrid's ingest under a load beyond
// what the machine takes): an overloaded broker sheds messages rather than
// slow its publishers, and an operator must see it. Device events travel on
// ingest's own events connection, so a telemetry backlog does not crowd
// them out.
func registerDrops(reg prometheus.Registerer, srv *mqtt.Server) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "firegrid_broker_inflight_dropped_total",
			Help: "Messages the embedded broker dropped because a subscriber had too many unacknowledged QoS 1 messages.",
		}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.InflightDropped)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "firegrid_broker_messages_dropped_total",
			Help: "Messages the embedded broker dropped because a subscriber's write queue was full.",
		}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.MessagesDropped)) }),
	)
}
