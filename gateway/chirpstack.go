package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// ChirpStack subscribes to a ChirpStack v4 network server's MQTT
// integration (application/{id}/device/{dev_eui}/event/{up|status|join})
// with its own credentials, hands each event to ingest and acknowledges
// it (QoS 1, automatic acknowledgement off) once ingest has it. One
// device's events always go to one worker, in order.
type ChirpStack struct {
	cfg      ChirpStackConfig
	o        Options
	password string
	events   *prometheus.CounterVec
	ready    chan struct{}
	once     sync.Once
}

// NewChirpStack returns the subscription; Run connects it. The password
// is read from cfg.PasswordEnv now.
func NewChirpStack(cfg ChirpStackConfig, o Options) (*ChirpStack, error) {
	o.defaults()
	if o.Accept == nil {
		return nil, errors.New("chirpstack: Accept is required")
	}
	c := &ChirpStack{cfg: cfg, o: o, ready: make(chan struct{}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_chirpstack_events_total",
			Help: "ChirpStack integration events taken from its MQTT broker, by result: kept (acknowledged), retried (ingest did not keep it; tried again).",
		}, []string{"result"})}
	if cfg.PasswordEnv != "" {
		pw, ok := os.LookupEnv(cfg.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("chirpstack.password_env: %s is not set", cfg.PasswordEnv)
		}
		c.password = pw
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(c.events)
	}
	return c, nil
}

// Filters are the MQTT filters subscribed to.
func (c *ChirpStack) Filters() []string {
	apps := c.cfg.Applications
	if len(apps) == 0 {
		apps = []string{"+"}
	}
	var out []string
	for _, a := range apps {
		for _, ev := range c.cfg.Events {
			f := "application/" + a + "/device/+/event/" + ev
			if c.cfg.SharedGroup != "" {
				f = "$share/" + c.cfg.SharedGroup + "/" + f
			}
			out = append(out, f)
		}
	}
	return out
}

// Subscribed is closed once the first subscription is in place.
func (c *ChirpStack) Subscribed() <-chan struct{} { return c.ready }

// Run connects, takes events until ctx is done, and returns once every
// goroutine it started has stopped.
func (c *ChirpStack) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := max(1, c.cfg.Workers)
	queues := make([]chan paho.Message, workers)
	for i := range queues {
		queues[i] = make(chan paho.Message, 64)
	}
	stopping := make(chan struct{})
	onMessage := func(_ paho.Client, msg paho.Message) {
		select {
		case queues[shardOf(deviceOf(msg.Topic()), len(queues))] <- msg:
		case <-stopping:
		}
	}
	subscribed := make(chan error, 1)
	first := true
	filters := map[string]byte{}
	for _, f := range c.Filters() {
		filters[f] = 1
	}
	opts := paho.NewClientOptions().
		AddBroker(c.cfg.URL).
		SetClientID(c.cfg.ClientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	if c.cfg.Username != "" {
		opts.SetUsername(c.cfg.Username).SetPassword(c.password)
	}
	opts.SetOnConnectHandler(func(cl paho.Client) {
		tok := cl.SubscribeMultiple(filters, onMessage)
		tok.Wait()
		if err := tok.Error(); err != nil {
			c.o.Log.Error("ChirpStack subscription failed", "broker", c.cfg.URL, "err", err)
		} else {
			c.o.Log.Info("subscribed to ChirpStack events", "broker", c.cfg.URL, "filters", c.Filters())
		}
		if first {
			first = false
			subscribed <- tok.Error()
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.o.Log.Warn("ChirpStack broker connection lost; reconnecting", "broker", c.cfg.URL, "err", err)
	})
	client := paho.NewClient(opts)
	client.Connect()
	var wg sync.WaitGroup
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work(ctx, q)
		}()
	}
	var err error
	select {
	case err = <-subscribed:
		if err == nil {
			c.once.Do(func() { close(c.ready) })
			<-ctx.Done()
		}
	case <-ctx.Done():
	}
	cancel()
	close(stopping)
	client.Disconnect(250)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("chirpstack: subscribe on %s: %w", c.cfg.URL, err)
	}
	return nil
}

// work hands a queue's events to ingest in order, acknowledging each once
// ingest has it; one not kept is tried again until it is or the run stops
// (then the broker delivers it again).
func (c *ChirpStack) work(ctx context.Context, q <-chan paho.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-q:
			u := &contract.Uplink{Source: contract.SourceChirpStack, Topic: msg.Topic(), Payload: msg.Payload(), ReceivedAt: c.o.Now()}
			for {
				actx, cancel := context.WithTimeout(ctx, acceptWait)
				err := c.o.Accept(actx, u)
				cancel()
				if err == nil {
					msg.Ack()
					c.events.WithLabelValues("kept").Inc()
					break
				}
				c.events.WithLabelValues("retried").Inc()
				c.o.Log.Warn("ChirpStack event not kept; retrying", "topic", msg.Topic(), "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
}

// deviceOf is the DevEUI in an event's topic (all of it when there is
// none), so that a device's up, status and join events share a worker.
func deviceOf(topic string) string {
	if _, rest, ok := strings.Cut(topic, "/device/"); ok {
		eui, _, _ := strings.Cut(rest, "/")
		return eui
	}
	return topic
}

// shardOf picks a device's worker (FNV-1a).
func shardOf(topic string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
