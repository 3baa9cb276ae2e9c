package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTPublisher publishes over one MQTT 3.1.1 connection (paho). It
// reconnects on its own after a lost connection; a Publish made while the
// connection is down waits for it, within its context.
type MQTTPublisher struct {
	client mqtt.Client
}

// NewMQTTPublisher connects to the broker at brokerURL (tcp://host:1883,
// mqtt://, ssl://, tls://, ws:// or wss://) with the given client id, or a
// random "firegrid-sim-…" one when clientID is empty. It returns when the
// broker has accepted the connection, or with an error when ctx ends first
// or the broker refuses.
func NewMQTTPublisher(ctx context.Context, brokerURL, clientID string, opt ...MQTTOption) (*MQTTPublisher, error) {
	if err := checkBrokerURL(brokerURL); err != nil {
		return nil, err
	}
	if clientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		clientID = "firegrid-sim-" + hex.EncodeToString(b[:])
	}
	opts := mqtt.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID(clientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectTimeout(10 * time.Second).
		SetMaxReconnectInterval(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(false)
	for _, o := range opt {
		o(opts)
	}
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", brokerURL, err)
		}
	case <-ctx.Done():
		client.Disconnect(0)
		return nil, fmt.Errorf("connect to %s: %w", brokerURL, ctx.Err())
	}
	return &MQTTPublisher{client: client}, nil
}

// Publish sends one message and waits for the broker to take it: for QoS
// 1, until the PUBACK arrives or ctx ends.
func (p *MQTTPublisher) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	tok := p.client.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}

// Close disconnects, giving in-flight work a quarter of a second to finish.
// The client's goroutines are gone when it returns.
func (p *MQTTPublisher) Close() error {
	p.client.Disconnect(250)
	return nil
}

// checkBrokerURL says what is wrong with an MQTT broker URL, if anything.
func checkBrokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("mqtt url %q: %w", s, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("mqtt url %q: want a scheme tcp://, mqtt://, ssl://, tls://, ws:// or wss://", s)
	}
	if u.Host == "" {
		return fmt.Errorf("mqtt url %q: want a host, as in tcp://localhost:1883", s)
	}
	return nil
}
