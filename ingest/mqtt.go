package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
)

// UplinkTopics are the MQTT filters ingest subscribes to (never the cmd
// channel, which carries firegrid's own downlinks).
var UplinkTopics = []string{EventTopics, TelemetryTopics}

// The two lanes' filters.
const (
	EventTopics     = "fg/v1/+/+/event"
	TelemetryTopics = "fg/v1/+/+/telemetry"
)

// lane is one MQTT connection with its own worker queues. Events and
// telemetry travel in separate lanes, so that a fire alarm never waits in
// a broker queue or a worker queue behind a backlog of heartbeats: fire
// alarms before anything else (GB 26875.1).
type lane struct {
	name     string
	filter   string
	clientID string
	workers  int
}

// Run connects to the MQTT broker at url, takes uplinks until ctx is done,
// and publishes the bus's commands to devices. It returns once every
// goroutine it started has stopped.
func (in *Ingester) Run(ctx context.Context, url string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lanes := []lane{
		{name: "events", filter: EventTopics, clientID: in.cfg.ClientID + "-events", workers: max(2, in.cfg.Workers/2)},
		{name: "telemetry", filter: TelemetryTopics, clientID: in.cfg.ClientID + "-telemetry", workers: in.cfg.Workers},
	}
	// stopping is closed before the clients disconnect, so that a message
	// callback blocked on a full queue gives up instead of hanging paho.
	stopping := make(chan struct{})
	subscribed := make(chan error, len(lanes))
	var wg sync.WaitGroup
	clients := make([]mqtt.Client, len(lanes))
	for i, l := range lanes {
		clients[i] = in.startLane(ctx, &wg, url, l, stopping, subscribed)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.downlink(ctx, clients[0])
	}()

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
		in.readyOnce.Do(func() { close(in.ready) })
		<-ctx.Done()
	}
	cancel()
	close(stopping)
	for _, c := range clients {
		c.Disconnect(250)
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("ingest: subscribe on %s: %w", url, err)
	}
	return nil
}

// startLane connects one lane's client and starts its workers.
func (in *Ingester) startLane(ctx context.Context, wg *sync.WaitGroup, url string, l lane, stopping <-chan struct{}, subscribed chan<- error) mqtt.Client {
	queues := make([]chan mqtt.Message, l.workers)
	for i := range queues {
		queues[i] = make(chan mqtt.Message, in.cfg.QueueDepth)
	}
	onMessage := func(_ mqtt.Client, msg mqtt.Message) {
		select {
		case queues[shard(msg.Topic(), len(queues))] <- msg:
		case <-stopping:
		}
	}
	first := true
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(l.clientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		filter := l.filter
		if in.cfg.SharedGroup != "" {
			filter = "$share/" + in.cfg.SharedGroup + "/" + filter
		}
		tok := c.Subscribe(filter, 1, onMessage)
		tok.Wait()
		if err := tok.Error(); err != nil {
			in.log.Error("subscribe failed", "lane", l.name, "filter", filter, "err", err)
		} else {
			in.log.Info("subscribed to device topics", "lane", l.name, "broker", url, "filter", filter)
		}
		if first {
			first = false
			subscribed <- tok.Error()
		}
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		in.log.Warn("MQTT connection lost; reconnecting", "lane", l.name, "broker", url, "err", err)
	})
	client := mqtt.NewClient(opts)
	client.Connect() // retries in the background until ctx is done
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.work(ctx, q)
		}()
	}
	return client
}

// work handles one queue's messages in order, acknowledging each once the
// bus has it.
func (in *Ingester) work(ctx context.Context, q <-chan mqtt.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-q:
			start := time.Now()
			for {
				err := in.Handle(ctx, msg.Topic(), msg.Payload())
				if err == nil {
					msg.Ack()
					in.m.mqttAckLag.Observe(time.Since(start).Seconds())
					break
				}
				// The bus did not take it: do not acknowledge; try again
				// until it does or we stop (then the broker redelivers).
				in.log.Warn("bus did not take a device message; retrying", "topic", msg.Topic(), "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
}

// downlink publishes the bus's commands to devices.
func (in *Ingester) downlink(ctx context.Context, client mqtt.Client) {
	err := in.bus.Consume(ctx, bus.TopicCommands, "ingest-downlink", func(ctx context.Context, r bus.Record) error {
		var env devices.CommandEnvelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			return fmt.Errorf("%w: command: %v", bus.ErrPoison, err)
		}
		payload, err := json.Marshal(env.Command)
		if err != nil {
			return fmt.Errorf("%w: command: %v", bus.ErrPoison, err)
		}
		topic := "fg/v1/" + string(env.Kind) + "/" + env.Device + "/cmd"
		tok := client.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(10 * time.Second) {
			in.m.downlinks.WithLabelValues(env.Command.Cmd, "timeout").Inc()
			return errors.New("downlink: no PUBACK within 10s")
		}
		if err := tok.Error(); err != nil {
			in.m.downlinks.WithLabelValues(env.Command.Cmd, "error").Inc()
			return fmt.Errorf("downlink %s: %w", topic, err)
		}
		in.m.downlinks.WithLabelValues(env.Command.Cmd, "sent").Inc()
		in.log.Info("command sent to device", "topic", topic, "cmd", env.Command.Cmd, "port", env.Command.Port)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		in.log.Error("downlink consumer stopped", "err", err)
	}
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
