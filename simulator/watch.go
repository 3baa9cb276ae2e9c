package simulator

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// CommandTopics is the filter of firegrid's downlinks.
const CommandTopics = "fg/v1/+/+/cmd"

// WatchStream reads the console stream of the firegrid whose console is at
// addr (host:port, or an http:// URL) and calls f with every incident
// change, from one goroutine, until ctx ends or the stream does. It returns
// once the stream is open; the error channel receives the reason it ended
// (nil when ctx ended).
func WatchStream(ctx context.Context, addr string, f func(*IncidentChange)) (<-chan error, error) {
	url := strings.TrimSuffix(addr, "/")
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/stream", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("console stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("console stream %s: %s, %q (is this a firegrid console?)", req.URL, resp.Status, resp.Header.Get("Content-Type"))
	}
	errc := make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		var event string
		var data []byte
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) == 0:
				if event == "incident" && len(data) > 0 {
					if c, err := ParseIncidentChange(data); err == nil {
						f(c)
					}
				}
				event, data = "", data[:0]
			case strings.HasPrefix(string(line), "event:"):
				event = strings.TrimSpace(string(line[len("event:"):]))
			case strings.HasPrefix(string(line), "data:"):
				data = append(data, strings.TrimPrefix(string(line[len("data:"):]), " ")...)
			}
		}
		if ctx.Err() != nil {
			errc <- nil
			return
		}
		if err := sc.Err(); err != nil {
			errc <- fmt.Errorf("console stream: %w", err)
			return
		}
		errc <- fmt.Errorf("console stream: closed by firegrid")
	}()
	return errc, nil
}

// Subscription is an MQTT subscription that calls a function for every
// message; Close ends it.
type Subscription struct {
	client mqtt.Client
}

// Subscribe connects to the broker at brokerURL and calls f for every
// message on filter at QoS 1, from paho's goroutine, in order. It returns
// once the broker has confirmed the subscription.
func Subscribe(ctx context.Context, brokerURL, filter, clientID string, f func(topic string, qos byte, retained bool, payload []byte), opt ...MQTTOption) (*Subscription, error) {
	if err := checkBrokerURL(brokerURL); err != nil {
		return nil, err
	}
	if clientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		clientID = "firegrid-sim-watch-" + hex.EncodeToString(b[:])
	}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).SetOrderMatters(true)
	handler := func(_ mqtt.Client, m mqtt.Message) { f(m.Topic(), m.Qos(), m.Retained(), m.Payload()) }
	opts.SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(filter, 1, handler) })
	for _, o := range opt {
		o(opts)
	}
	client := mqtt.NewClient(opts)
	if err := awaitToken(ctx, client.Connect()); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", brokerURL, err)
	}
	// The on-connect handler subscribes again after a reconnect; this
	// first subscription is awaited so that nothing published after
	// Subscribe returns is missed.
	if err := awaitToken(ctx, client.Subscribe(filter, 1, handler)); err != nil {
		client.Disconnect(0)
		return nil, fmt.Errorf("subscribe to %s on %s: %w", filter, brokerURL, err)
	}
	return &Subscription{client: client}, nil
}

func awaitToken(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close disconnects.
func (s *Subscription) Close() error {
	s.client.Disconnect(250)
	return nil
}

// Observer collects what firegrid does during a real-time run, stamping
// each observation with the scenario time it arrived at. It is safe for
// concurrent use.
type Observer struct {
	start time.Time
	speed float64
	now   func() time.Time

	mu  sync.Mutex
	obs []Observation
}

// NewObserver returns an observer of a run that starts now and plays at
// speed (scenario seconds per wall second).
func NewObserver(now func() time.Time, speed float64) *Observer {
	if speed <= 0 {
		speed = 1
	}
	return &Observer{start: now(), speed: speed, now: now}
}

// Restart sets the start of the run to now.
func (o *Observer) Restart() {
	o.mu.Lock()
	o.start = o.now()
	o.mu.Unlock()
}

func (o *Observer) add(ob Observation) {
	o.mu.Lock()
	ob.At = time.Duration(float64(o.now().Sub(o.start)) * o.speed)
	o.obs = append(o.obs, ob)
	o.mu.Unlock()
}

// Change records an incident change.
func (o *Observer) Change(c *IncidentChange) { o.add(Observation{Change: c}) }

// Downlink records a message on a command topic; others are ignored.
func (o *Observer) Downlink(topic string, _ byte, _ bool, payload []byte) {
	if c, err := ParseCommand(topic, payload); err == nil {
		o.add(Observation{Command: c})
	}
}

// Sent records a message the run published.
func (o *Observer) Sent(device, site string) {
	o.add(Observation{Sent: &Sent{Device: device, Site: site}})
}

// Observations returns what was observed so far, in order.
func (o *Observer) Observations() []Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Observation(nil), o.obs...)
}
