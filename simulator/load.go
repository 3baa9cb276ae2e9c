package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// LoadConfig is a load run as `firegrid simulate load` takes it.
type LoadConfig struct {
	// MQTTURL is the broker firegrid ingests from.
	MQTTURL string `json:"mqtt_url"`
	// HTTP is firegrid's console address, whose stream gives the alarm
	// latency; empty measures the publishing side only.
	HTTP string `json:"http,omitempty"`
	// Devices is how many of the given devices publish, smoke detectors
	// first (the alarms come from them); 0 means all.
	Devices int `json:"devices"`
	// Rate is the target in messages per second, all connections
	// together.
	Rate float64 `json:"rate"`
	// QoS of every message, 0 or 1.
	QoS byte `json:"qos"`
	// Duration of the publishing.
	Duration time.Duration `json:"-"`
	// Connections is the number of MQTT connections the devices share.
	Connections int `json:"connections"`
	// AlarmShare is the share of messages that are smoke alarms, whose
	// incidents are matched on the stream; 0 means 0.01.
	AlarmShare float64 `json:"alarm_share"`
	// InFlight caps unacknowledged messages per connection; 0 means 1000.
	InFlight int `json:"in_flight"`
	// Seed seeds the devices' values.
	Seed uint64 `json:"seed"`
	// Grace is how long to wait after publishing for the last incidents;
	// 0 means 3 s.
	Grace time.Duration `json:"-"`
	// Progress, when set, receives a line a second while the run goes.
	Progress io.Writer `json:"-"`
	// Publishers, when set, replaces the MQTT connections (a benchmark's
	// in-memory publisher); it is called once per connection.
	Publishers func(i int) (AsyncPublisher, error) `json:"-"`
	// Credentials, when set, connect every device on its own connection
	// with its own credentials, as real devices connect (and as a broker
	// that checks who may speak needs); Connections then only splits the
	// pacing among goroutines.
	Credentials Credentials `json:"-"`
	// PerDevice reports that each device had its own connection.
	PerDevice bool `json:"per_device,omitempty"`
	// Login is the user name and secret of the shared connections.
	Login []MQTTOption `json:"-"`
}

// AsyncPublisher starts publishing a message and returns at once; done is
// called from any goroutine once the broker took it (or it failed).
type AsyncPublisher interface {
	PublishAsync(topic string, qos byte, payload []byte, done func(error))
	Close() error
}

// LoadResult is what a load run measured. Latencies are in milliseconds,
// from publishing an alarm to its incident change arriving on the console
// stream.
type LoadResult struct {
	Config      LoadConfig   `json:"config"`
	DurationS   float64      `json:"duration_s"`
	Sent        int64        `json:"sent"`
	Acked       int64        `json:"acked"`
	Failed      int64        `json:"failed"`
	MsgPerSec   float64      `json:"msg_per_s"`
	Alarms      int64        `json:"alarms"`
	Matched     int          `json:"alarms_matched"`
	Latency     Percentiles  `json:"latency_ms"`
	Series      []LoadSample `json:"series"`
	FirstError  string       `json:"first_error,omitempty"`
	StreamError string       `json:"stream_error,omitempty"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// LoadSample is one second of a load run, for plotting.
type LoadSample struct {
	T         float64 `json:"t_s"`
	Acked     int64   `json:"acked"`
	MsgPerSec float64 `json:"msg_per_s"`
	Matched   int     `json:"alarms_matched"`
	P99       float64 `json:"p99_ms"`
}

// String is the human summary of a load run.
func (r *LoadResult) String() string {
	conns := fmt.Sprintf("%d connections", r.Config.Connections)
	if r.Config.PerDevice {
		conns = "a connection each"
	}
	s := fmt.Sprintf("load: %d devices, %s, QoS %d, target %g msg/s for %.1fs\n  published %d, acknowledged %d, failed %d: %.0f msg/s achieved\n",
		r.Config.Devices, conns, r.Config.QoS, r.Config.Rate, r.DurationS, r.Sent, r.Acked, r.Failed, r.MsgPerSec)
	if r.Config.HTTP != "" {
		s += fmt.Sprintf("  alarms %d, incidents matched %d; alarm to console latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			r.Alarms, r.Matched, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	}
	if r.FirstError != "" {
		s += "  first error: " + r.FirstError + "\n"
	}
	if r.StreamError != "" {
		s += "  stream: " + r.StreamError + "\n"
	}
	return s
}

func (c *LoadConfig) defaults(n int) error {
	if c.Devices <= 0 || c.Devices > n {
		if c.Devices > n {
			return fmt.Errorf("devices: %d asked, the registry has %d", c.Devices, n)
		}
		c.Devices = n
	}
	if c.Connections <= 0 {
		c.Connections = 1
	}
	c.Connections = min(c.Connections, c.Devices)
	if c.AlarmShare == 0 {
		c.AlarmShare = 0.01
	}
	if c.InFlight <= 0 {
		c.InFlight = 1000
	}
	if c.Grace <= 0 {
		c.Grace = 3 * time.Second
	}
	switch {
	case c.Rate <= 0:
		return errors.New("rate: want messages per second above 0")
	case c.QoS > 1:
		return fmt.Errorf("qos: want 0 or 1, got %d", c.QoS)
	case c.Duration <= 0:
		return errors.New("duration: want a duration above 0")
	case c.AlarmShare < 0 || c.AlarmShare > 1:
		return fmt.Errorf("alarm_share: want 0 to 1, got %g", c.AlarmShare)
	case c.Publishers == nil && c.MQTTURL == "":
		return errors.New("mqtt_url: missing")
	}
	return nil
}

// loadDevices picks the n devices a load publishes from: smoke detectors
// first (the alarms come from them), then the others, each in the order
// given, so that a small load still sends alarms whatever other kinds the
// registry lists first.
func loadDevices(devs []*devices.Device, n int) []*devices.Device {
	out := make([]*devices.Device, 0, len(devs))
	for _, d := range devs {
		if d.Kind == contract.KindSmoke {
			out = append(out, d)
		}
	}
	for _, d := range devs {
		if d.Kind != contract.KindSmoke {
			out = append(out, d)
		}
	}
	return out[:n]
}

// loadGen makes one connection's messages: its devices' heartbeats, and
// every k-th message a smoke alarm with a unique seq, whose id is
// remembered to match the incident it causes.
type loadGen struct {
	fleet *Fleet
	smoke []string
	every int
	n, a  int
	seq   uint64
	buf   []byte
}

func newLoadGen(devs []*devices.Device, seed uint64, share float64, seqBase uint64) (*loadGen, error) {
	f, err := NewFleet(devs, FleetConfig{Jitter: -1}, seed)
	if err != nil {
		return nil, err
	}
	g := &loadGen{fleet: f, seq: seqBase}
	for _, d := range devs {
		if d.Kind == contract.KindSmoke {
			g.smoke = append(g.smoke, d.ID)
		}
	}
	if share > 0 && len(g.smoke) > 0 {
		g.every = max(int(math.Round(1/share)), 1)
	}
	return g, nil
}

// next returns the next message's topic and payload, stamped now. The
// payload is valid until the next call.
func (g *loadGen) next(now time.Time) (topic string, payload []byte, alarm string) {
	g.n++
	if g.every > 0 && g.n%g.every == 0 {
		dev := g.smoke[g.a%len(g.smoke)]
		g.a++
		g.seq++
		m := contract.Message{Kind: contract.KindSmoke, Device: dev, Channel: contract.ChannelEvent, TS: now, Seq: g.seq,
			Event: "alarm", Values: map[string]float64{"obscuration_pct_m": 12.5, "temp_c": 41}}
		g.buf = contract.AppendPayload(g.buf[:0], m)
		return m.Topic(), g.buf, messageID(m)
	}
	p, ok := g.fleet.Next()
	if !ok {
		return "", nil, ""
	}
	p.Payload = g.buf[:0]
	p.Stamp(now)
	g.buf = p.Payload
	return p.Topic, p.Payload, ""
}

// messageID is the id firegrid gives a message, which an incident's
// signals carry.
func messageID(m contract.Message) string { return contract.ReadingID(m.Kind, m.Device, m.Seq, m.TS) }

// alarmBook remembers when each alarm was sent and matches incident
// changes to them.
type alarmBook struct {
	mu      sync.Mutex
	sent    map[string]time.Time
	lat     []float64 // ms
	matched int
}

func (b *alarmBook) send(id string, at time.Time) {
	b.mu.Lock()
	b.sent[id] = at
	b.mu.Unlock()
}

func (b *alarmBook) change(c *IncidentChange, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range c.Incident.Signals {
		if at, ok := b.sent[s.Message]; ok {
			delete(b.sent, s.Message)
			b.lat = append(b.lat, float64(now.Sub(at).Microseconds())/1000)
			b.matched++
		}
	}
}

func (b *alarmBook) snapshot() (int, Percentiles) {
	b.mu.Lock()
	lat := slices.Clone(b.lat)
	n := b.matched
	b.mu.Unlock()
	return n, percentiles(lat)
}

func percentiles(ms []float64) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	slices.Sort(ms)
	at := func(q float64) float64 { return ms[min(int(math.Ceil(q*float64(len(ms))))-1, len(ms)-1)] }
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms[len(ms)-1]}
}

// Load pushes messages at firegrid at cfg.Rate for cfg.Duration from
// cfg.Devices of devs over cfg.Connections MQTT connections, without
// waiting for each acknowledgement (at most cfg.InFlight per connection
// in flight), and measures the rate the broker took and, when cfg.HTTP is
// set, the latency from each alarm to its incident change on the console
// stream.
func Load(ctx context.Context, cfg LoadConfig, devs []*devices.Device, log *slog.Logger) (*LoadResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.defaults(len(devs)); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	devs = loadDevices(devs, cfg.Devices)
	book := &alarmBook{sent: make(map[string]time.Time)}
	// With credentials, every device has its own connection, shared by
	// the pacing goroutines (each publishes on its devices' connections).
	var shared *DeviceConnections
	if cfg.Credentials != nil && cfg.Publishers == nil {
		ids := make([]string, len(devs))
		for i, d := range devs {
			ids[i] = d.ID
		}
		var err error
		if shared, err = DialDevices(ctx, cfg.MQTTURL, cfg.Credentials, ids, DeviceOptions{InFlight: cfg.InFlight}); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer shared.Close()
		cfg.PerDevice = true
	}
	res := &LoadResult{Config: cfg}
	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	var streamErr <-chan error
	if cfg.HTTP != "" {
		var err error
		if streamErr, err = WatchStream(sctx, cfg.HTTP, func(c *IncidentChange) { book.change(c, time.Now()) }); err != nil {
			return nil, err
		}
	}

	// Devices are dealt to connections; each connection paces its share
	// of the rate and generates its own devices' messages.
	seqBase := uint64(time.Now().UnixMilli()) * 1000
	type conn struct {
		pub AsyncPublisher
		gen *loadGen
	}
	conns := make([]conn, cfg.Connections)
	for i := range conns {
		var mine []*devices.Device
		for j := i; j < len(devs); j += cfg.Connections {
			mine = append(mine, devs[j])
		}
		gen, err := newLoadGen(mine, cfg.Seed+uint64(i), cfg.AlarmShare, seqBase)
		if err != nil {
			return nil, err
		}
		var pub AsyncPublisher
		switch {
		case cfg.Publishers != nil:
			pub, err = cfg.Publishers(i)
		case shared != nil:
			pub = shared
		default:
			pub, err = dialLoad(ctx, cfg.MQTTURL, cfg.InFlight, cfg.Login...)
		}
		if err != nil {
			for _, c := range conns[:i] {
				c.pub.Close()
			}
			return nil, err
		}
		conns[i] = conn{pub: pub, gen: gen}
	}
	defer func() {
		for _, c := range conns {
			c.pub.Close()
		}
	}()

	var sent, acked, failed, alarms atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	end := start.Add(cfg.Duration)
	perConn := cfg.Rate / float64(len(conns))
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			window := make(chan struct{}, cfg.InFlight)
			done := func(err error) {
				<-window
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				acked.Add(1)
			}
			var n int64
			for {
				now := time.Now()
				if !now.Before(end) || ctx.Err() != nil {
					break
				}
				due := int64(now.Sub(start).Seconds() * perConn)
				for ; n < due; n++ {
					window <- struct{}{}
					if now = time.Now(); !now.Before(end) {
						<-window
						break
					}
					topic, payload, alarm := c.gen.next(now)
					if topic == "" {
						<-window
						continue
					}
					if alarm != "" {
						book.send(alarm, now)
						alarms.Add(1)
					}
					sent.Add(1)
					c.pub.PublishAsync(topic, cfg.QoS, payload, done)
				}
				time.Sleep(time.Millisecond)
			}
			// Wait for what is still in flight.
			for range cfg.InFlight {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Second):
					return
				}
			}
		}()
	}

	// Progress and the series for plotting, once a second.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	var last int64
	lastT := start
	sample := func(now time.Time) {
		a := acked.Load()
		m, p := book.snapshot()
		rate := float64(a-last) / now.Sub(lastT).Seconds()
		last, lastT = a, now
		res.Series = append(res.Series, LoadSample{T: round(now.Sub(start).Seconds(), 3), Acked: a, MsgPerSec: math.Round(rate), Matched: m, P99: p.P99})
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "%5.1fs  sent %d  acked %d  %6.0f msg/s  failed %d  alarms %d  matched %d  p50 %.1f ms  p99 %.1f ms\n",
				now.Sub(start).Seconds(), sent.Load(), a, rate, failed.Load(), alarms.Load(), m, p.P50, p.P99)
		}
	}
wait:
	for {
		select {
		case <-allDone:
			break wait
		case now := <-tick.C:
			sample(now)
		}
	}
	elapsed := time.Since(start)
	if cfg.HTTP != "" {
		// The last alarms' incidents are on their way.
		deadline := time.After(cfg.Grace)
	grace:
		for {
			if m, _ := book.snapshot(); int64(m) >= alarms.Load() {
				break
			}
			select {
			case <-deadline:
				break grace
			case err := <-streamErr:
				if err != nil {
					res.StreamError = err.Error()
				}
				break grace
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	sample(time.Now())
	res.DurationS = round(elapsed.Seconds(), 3)
	res.Sent, res.Acked, res.Failed, res.Alarms = sent.Load(), acked.Load(), failed.Load(), alarms.Load()
	res.MsgPerSec = math.Round(float64(res.Acked) / elapsed.Seconds())
	res.Matched, res.Latency = book.snapshot()
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	log.Info("load over", "acked", res.Acked, "msg_per_s", res.MsgPerSec, "matched", res.Matched)
	return res, nil
}

// mqttLoad is one load connection: paho, publishing without waiting.
type mqttLoad struct{ client mqtt.Client }

func dialLoad(ctx context.Context, brokerURL string, inFlight int, opt ...MQTTOption) (*mqttLoad, error) {
	if err := checkBrokerURL(brokerURL); err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("firegrid-load-" + hex.EncodeToString(b[:])).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).SetOrderMatters(false).
		SetWriteTimeout(10 * time.Second).SetMessageChannelDepth(uint(inFlight))
	for _, o := range opt {
		o(opts)
	}
	c := mqtt.NewClient(opts)
	if err := awaitToken(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", brokerURL, err)
	}
	return &mqttLoad{client: c}, nil
}

// PublishAsync hands the message to paho and calls done from a goroutine
// once the broker has it.
func (l *mqttLoad) PublishAsync(topic string, qos byte, payload []byte, done func(error)) {
	tok := l.client.Publish(topic, qos, false, slices.Clone(payload))
	go func() {
		if !tok.WaitTimeout(30 * time.Second) {
			done(errors.New("no acknowledgement within 30s"))
			return
		}
		done(tok.Error())
	}()
}

func (l *mqttLoad) Close() error {
	l.client.Disconnect(250)
	return nil
}
