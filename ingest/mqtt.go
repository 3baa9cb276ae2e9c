package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/devices"
)

// UplinkTopics are the MQTT filters ingest subscribes to (never the cmd
// channel, which carries firegrid's own downlinks).
var UplinkTopics = []string{"fg/v1/+/+/event", "fg/v1/+/+/telemetry"}

// Run connects to the MQTT broker at url, takes uplinks until ctx is done,
// and publishes the bus's commands to devices. It returns once every
// goroutine it started has stopped.
func (in *Ingester) Run(ctx context.Context, url string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	queues := make([]chan mqtt.Message, in.cfg.Workers)
	for i := range queues {
		queues[i] = make(chan mqtt.Message, in.cfg.QueueDepth)
	}
	// stopping is closed before the client disconnects, so that a message
	// callback blocked on a full queue gives up instead of hanging paho.
	stopping := make(chan struct{})
	onMessage := func(_ mqtt.Client, msg mqtt.Message) {
		h := fnv.New32a()
		h.Write([]byte(msg.Topic()))
		select {
		case queues[h.Sum32()%uint32(len(queues))] <- msg:
		case <-stopping:
		}
	}
	subscribed := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(in.cfg.ClientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		filters := map[string]byte{}
		for _, t := range UplinkTopics {
			if in.cfg.SharedGroup != "" {
				t = "$share/" + in.cfg.SharedGroup + "/" + t
			}
			filters[t] = 1
		}
		tok := c.SubscribeMultiple(filters, onMessage)
		tok.Wait()
		if err := tok.Error(); err != nil {
			in.log.Error("subscribe failed", "err", err)
		} else {
			in.log.Info("subscribed to device topics", "broker", url, "filters", len(filters))
			in.readyOnce.Do(func() { close(in.ready) })
		}
		select {
		case subscribed <- tok.Error():
		default:
		}
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		in.log.Warn("MQTT connection lost; reconnecting", "broker", url, "err", err)
	})
	client := mqtt.NewClient(opts)
	client.Connect() // retries in the background until ctx is done

	var wg sync.WaitGroup
	for _, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.work(ctx, q)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.downlink(ctx, client)
	}()

	var err error
	select {
	case err = <-subscribed:
		if err == nil {
			<-ctx.Done()
		}
	case <-ctx.Done():
	}
	cancel()
	close(stopping)
	client.Disconnect(250)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("ingest: subscribe on %s: %w", url, err)
	}
	return nil
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
