package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// SubscriberOptions configure a Subscriber.
type SubscriberOptions struct {
	// URL of the external broker, tcp://host:1883.
	URL string
	// ClientID prefixes the MQTT client ids (one per lane); a persistent
	// session is kept under each.
	ClientID string
	// SharedGroup, when set, subscribes the telemetry lane through
	// $share/{group}/, so that several ingest processes split the
	// periodic readings. The events lane always subscribes plainly, in
	// every process: a broker keeps a persistent session's plain
	// subscription across its restart and queues what comes meanwhile,
	// where Mosquitto 2.0 forgets shared ones, and an alarm a detector
	// sends before ingest has subscribed again would be acknowledged and
	// dropped. Each process then takes every event; their ids come from
	// what the device said, so the repeats change nothing.
	SharedGroup string
	// Workers and QueueDepth size each lane: a device's messages always go
	// to one worker, so they keep their order; a full queue holds MQTT
	// delivery back.
	Workers    int
	QueueDepth int
	// Username and Password log in to the broker (firegrid's ingest
	// account); empty connects without.
	Username string
	Password string
	// Accept takes every uplink; a message is acknowledged once it
	// returned nil.
	Accept     Accept
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Subscriber takes devices' messages from an external broker (Mosquitto,
// EMQX) and acknowledges each once Accept has it (paho with automatic
// acknowledgement off); it also publishes commands to devices. Events and
// telemetry travel in separate lanes (connections and worker queues), so a
// fire alarm never waits behind a backlog of heartbeats: fire alarms
// before anything else (GB 26875.1).
type Subscriber struct {
	o       SubscriberOptions
	m       *brokerMetrics
	ackWait prometheus.Histogram

	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	events    paho.Client // the events lane's client also carries downlinks
}

// lane is one MQTT connection with its own worker queues.
type lane struct {
	name     string
	filter   string
	clientID string
	workers  int
	// shared: subscribed through the shared group, if any.
	shared bool
}

// NewSubscriber returns a Subscriber; Run connects it.
func NewSubscriber(o SubscriberOptions) *Subscriber {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Workers < 1 {
		o.Workers = 4
	}
	if o.QueueDepth < 1 {
		o.QueueDepth = 256
	}
	s := &Subscriber{o: o, m: newBrokerMetrics(nil, nil), ready: make(chan struct{}),
		ackWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "firegrid_ingest_ack_seconds",
			Help:    "Time from an MQTT message's arrival at ingest to its acknowledgement (firegrid has it).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
		})}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.ackWait, s.m.downlinks)
	}
	return s
}

// Subscribed is closed once both lanes have subscribed for the first time.
func (s *Subscriber) Subscribed() <-chan struct{} { return s.ready }

// Run connects to the broker, takes uplinks until ctx is done, and returns
// once every goroutine it started has stopped.
func (s *Subscriber) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lanes := []lane{
		{name: "events", filter: contract.EventFilter, clientID: s.o.ClientID + "-events", workers: max(2, s.o.Workers/2)},
		{name: "telemetry", filter: contract.TelemetryFilter, clientID: s.o.ClientID + "-telemetry", workers: s.o.Workers, shared: true},
	}
	// stopping is closed before the clients disconnect, so that a message
	// callback blocked on a full queue gives up instead of hanging paho.
	stopping := make(chan struct{})
	subscribed := make(chan error, len(lanes))
	var wg sync.WaitGroup
	clients := make([]paho.Client, len(lanes))
	for i, l := range lanes {
		clients[i] = s.startLane(ctx, &wg, l, stopping, subscribed)
	}
	s.mu.Lock()
	s.events = clients[0]
	s.mu.Unlock()
	var err error
	for range lanes {
		select {
		case err = <-subscribed:
		case <-ctx.Done():
		}
		if err != nil || ctx.Err() != nil {
			break
		}
	}
	if err == nil && ctx.Err() == nil {
		s.readyOnce.Do(func() { close(s.ready) })
		<-ctx.Done()
	}
	cancel()
	close(stopping)
	for _, c := range clients {
		c.Disconnect(250)
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("subscribe on %s: %w", s.o.URL, err)
	}
	return nil
}

// startLane connects one lane's client and starts its workers.
func (s *Subscriber) startLane(ctx context.Context, wg *sync.WaitGroup, l lane, stopping <-chan struct{}, subscribed chan<- error) paho.Client {
	queues := make([]chan paho.Message, l.workers)
	for i := range queues {
		queues[i] = make(chan paho.Message, s.o.QueueDepth)
	}
	onMessage := func(_ paho.Client, msg paho.Message) {
		select {
		case queues[shard(msg.Topic(), len(queues))] <- msg:
		case <-stopping:
		}
	}
	first := true
	opts := paho.NewClientOptions().
		AddBroker(s.o.URL).
		SetClientID(l.clientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	if s.o.Username != "" {
		opts.SetUsername(s.o.Username).SetPassword(s.o.Password)
	}
	opts.SetOnConnectHandler(func(c paho.Client) {
		filter := l.filter
		if l.shared && s.o.SharedGroup != "" {
			filter = "$share/" + s.o.SharedGroup + "/" + filter
		}
		tok := c.Subscribe(filter, 1, onMessage)
		tok.Wait()
		if err := tok.Error(); err != nil {
			s.o.Log.Error("subscribe failed", "lane", l.name, "filter", filter, "err", err)
		} else {
			s.o.Log.Info("subscribed to device topics", "lane", l.name, "broker", s.o.URL, "filter", filter)
		}
		if first {
			first = false
			subscribed <- tok.Error()
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		s.o.Log.Warn("MQTT connection lost; reconnecting", "lane", l.name, "broker", s.o.URL, "err", err)
	})
	client := paho.NewClient(opts)
	client.Connect() // retries in the background until ctx is done
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx, q)
		}()
	}
	return client
}

// work handles one queue's messages in order, acknowledging each once
// Accept has it.
func (s *Subscriber) work(ctx context.Context, q <-chan paho.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-q:
			start := time.Now()
			for {
				// Ingest stamps the receive time with firegrid's clock.
				err := s.o.Accept(ctx, &contract.Uplink{Topic: msg.Topic(), Payload: msg.Payload()})
				if err == nil {
					msg.Ack()
					s.ackWait.Observe(time.Since(start).Seconds())
					break
				}
				// Not kept: do not acknowledge; try again until it is or
				// we stop (then the broker redelivers).
				s.o.Log.Warn("device message not kept; retrying", "topic", msg.Topic(), "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
}

// PublishCommand publishes a command to its device's cmd topic (QoS 1) and
// returns once the broker acknowledged it: the handler of the commands
// topic.
func (s *Subscriber) PublishCommand(_ context.Context, c *contract.Command) error {
	s.mu.Lock()
	client := s.events
	s.mu.Unlock()
	if client == nil {
		return errors.New("downlink: not connected yet")
	}
	tok := client.Publish(c.Topic(), 1, false, c.Payload())
	if !tok.WaitTimeout(10 * time.Second) {
		s.m.downlinks.WithLabelValues(c.Cmd, "timeout").Inc()
		return errors.New("downlink: no PUBACK within 10s")
	}
	if err := tok.Error(); err != nil {
		s.m.downlinks.WithLabelValues(c.Cmd, "error").Inc()
		return fmt.Errorf("downlink %s: %w", c.Topic(), err)
	}
	s.m.downlinks.WithLabelValues(c.Cmd, "sent").Inc()
	s.o.Log.Info("command sent to device", "topic", c.Topic(), "cmd", c.Cmd, "port", c.Port)
	return nil
}

// shard picks a device's worker queue from its topic (FNV-1a, written out
// so that no per-message hasher or byte copy is allocated): one device's
// messages always go to one worker, in order.
func shard(topic string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
