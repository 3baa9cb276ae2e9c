package simulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
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
	// incidents are matched on the stream; 0 means 0.01. Ignored when
	// AlarmRate is set.
	AlarmShare float64 `json:"alarm_share"`
	// AlarmRate, when set, is smoke alarms a second on top of Rate,
	// paced on their own (each from a smoke detector, on its connection),
	// so that the telemetry and the alarms have the rates a scenario
	// names: 20,000 readings and 20 alarms a second.
	AlarmRate float64 `json:"alarm_rate,omitempty"`
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
	// Drain, when set, is a topic filter the load subscribes to at QoS 1
	// on the broker, with DrainLogin: a bare broker's stand-in for
	// firegrid's ingest, which takes every message, and whose receipt of
	// an alarm is the alarm's latency (instead of the console stream).
	Drain      string       `json:"drain,omitempty"`
	DrainLogin []MQTTOption `json:"-"`
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
	Config    LoadConfig `json:"config"`
	DurationS float64    `json:"duration_s"`
	Sent      int64      `json:"sent"`
	Acked     int64      `json:"acked"`
	Failed    int64      `json:"failed"`
	MsgPerSec float64    `json:"msg_per_s"`
	Alarms    int64      `json:"alarms"`
	// Received counts the messages the drain took (with Drain).
	Received    int64        `json:"received,omitempty"`
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
	switch {
	case r.Config.Drain != "":
		s += fmt.Sprintf("  drained %d; alarms %d, received %d; alarm latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			r.Received, r.Alarms, r.Matched, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	case r.Config.HTTP != "":
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
	case c.AlarmRate < 0:
		return fmt.Errorf("alarm_rate: want alarms a second >= 0, got %g", c.AlarmRate)
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
// every k-th message a smoke alarm with a unique seq, whose key is
// remembered to match what it causes.
type loadGen struct {
	fleet *Fleet
	smoke []string
	every int
	n, a  int
	seq   uint64
	buf   []byte
	// byTopic keys alarms by topic and seq, as a drain sees them, instead
	// of by the id firegrid gives the reading.
	byTopic bool
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

// next returns the next message's topic and payload, stamped now, and for
// an alarm the key that matches it. The payload is valid until the next
// call.
func (g *loadGen) next(now time.Time) (topic string, payload []byte, alarm string) {
	g.n++
	if g.every > 0 && g.n%g.every == 0 {
		return g.alarm(now)
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

// alarm returns a smoke alarm of the next detector, with a seq of its own.
func (g *loadGen) alarm(now time.Time) (topic string, payload []byte, key string) {
	if len(g.smoke) == 0 {
		return "", nil, ""
	}
	dev := g.smoke[g.a%len(g.smoke)]
	g.a++
	g.seq++
	m := contract.Message{Kind: contract.KindSmoke, Device: dev, Channel: contract.ChannelEvent, TS: now, Seq: g.seq,
		Event: "alarm", Values: map[string]float64{"obscuration_pct_m": 12.5, "temp_c": 41}}
	g.buf = contract.AppendPayload(g.buf[:0], m)
	topic = m.Topic()
	if g.byTopic {
		return topic, g.buf, alarmKey(topic, m.Seq)
	}
	return topic, g.buf, messageID(m)
}

// messageID is the id firegrid gives a message, which an incident's
// signals carry.
func messageID(m contract.Message) string { return contract.ReadingID(m.Kind, m.Device, m.Seq, m.TS) }

// alarmKey is an alarm's key as a drain sees it: its topic and seq.
func alarmKey(topic string, seq uint64) string { return topic + "#" + strconv.FormatUint(seq, 10) }

// payloadSeq reads the seq of a contract-v1 payload as the load writes it.
func payloadSeq(payload []byte) (uint64, bool) {
	i := bytes.Index(payload, []byte(`"seq":`))
	if i < 0 {
		return 0, false
	}
	var n uint64
	digits := 0
	for _, c := range payload[i+len(`"seq":`):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
		digits++
	}
	return n, digits > 0
}

// alarmBook remembers when each alarm was sent and matches what arrives
// (incident changes, or the drain's messages) to them.
type alarmBook struct {
	mu      sync.Mutex
	sent    map[string]time.Time
	lat     []float64 // ms
	matched int
}

func (b *alarmBook) send(key string, at time.Time) {
	b.mu.Lock()
	b.sent[key] = at
	b.mu.Unlock()
}

// arrive matches one arrival; an unknown or repeated key is ignored.
func (b *alarmBook) arrive(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.arriveLocked(key, now)
}

func (b *alarmBook) arriveLocked(key string, now time.Time) {
	if at, ok := b.sent[key]; ok {
		delete(b.sent, key)
		b.lat = append(b.lat, float64(now.Sub(at).Microseconds())/1000)
		b.matched++
	}
}

func (b *alarmBook) change(c *IncidentChange, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range c.Incident.Signals {
		b.arriveLocked(s.Message, now)
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

// loadCounts are a run's totals, shared by its pacers.
type loadCounts struct {
	sent, acked, failed, alarms atomic.Int64
	firstErr                    atomic.Value
}

// pace publishes gen's messages on pub at rate until end, with at most
// inFlight unacknowledged, then waits for those in flight.
func pace(ctx context.Context, rate float64, start, end time.Time, inFlight int, gen *loadGen, pub AsyncPublisher,
	qos byte, book *alarmBook, n *loadCounts) {
	window := make(chan struct{}, inFlight)
	done := func(err error) {
		<-window
		if err != nil {
			n.failed.Add(1)
			n.firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		n.acked.Add(1)
	}
	var i int64
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			break
		}
		due := int64(now.Sub(start).Seconds() * rate)
		for ; i < due; i++ {
			window <- struct{}{}
			if now = time.Now(); !now.Before(end) {
				<-window
				break
			}
			topic, payload, alarm := gen.next(now)
			if topic == "" {
				<-window
				continue
			}
			if alarm != "" {
				book.send(alarm, now)
				n.alarms.Add(1)
			}
			n.sent.Add(1)
			pub.PublishAsync(topic, qos, payload, done)
		}
		time.Sleep(time.Millisecond)
	}
	// Wait for what is still in flight.
	for range inFlight {
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
			return
		}
	}
}

// Load pushes messages at firegrid at cfg.Rate for cfg.Duration from
// cfg.Devices of devs over cfg.Connections MQTT connections (or each
// device's own, with cfg.Credentials), without waiting for each
// acknowledgement (at most cfg.InFlight per connection in flight), and
// measures the rate the broker took and the latency of each alarm: to its
// incident change on the console stream when cfg.HTTP is set, or to its
// arrival at the drain (cfg.Drain) on a bare broker.
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
	var shared *deviceLoad
	if cfg.Credentials != nil && cfg.Publishers == nil {
		ids := make([]string, len(devs))
		for i, d := range devs {
			ids[i] = d.ID
		}
		var err error
		if shared, err = dialDeviceLoad(ctx, cfg.MQTTURL, cfg.Credentials, ids, 64); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer shared.Close()
		cfg.PerDevice = true
	}
	res := &LoadResult{Config: cfg}
	w, err := watchAlarms(ctx, book, cfg.MQTTURL, cfg.Drain, cfg.DrainLogin, cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer w.Close()

	// Devices are dealt to connections; each connection paces its share
	// of the rate and generates its own devices' messages.
	seqBase := uint64(time.Now().UnixMilli()) * 1000
	share := cfg.AlarmShare
	if cfg.AlarmRate > 0 {
		share = 0
	}
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
		gen, err := newLoadGen(mine, cfg.Seed+uint64(i), share, seqBase)
		if err != nil {
			return nil, err
		}
		gen.byTopic = cfg.Drain != ""
		var pub AsyncPublisher
		switch {
		case cfg.Publishers != nil:
			pub, err = cfg.Publishers(i)
		case shared != nil:
			pub = shared
		default:
			pub, err = dialLoad(ctx, cfg.MQTTURL, 4096, cfg.Login...)
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
			if c.pub != shared {
				c.pub.Close()
			}
		}
	}()
	// Alarms at their own rate, from the smoke detectors, each on its
	// own connection (or the first shared one), seqs above the others'.
	var alarmGen *loadGen
	if cfg.AlarmRate > 0 {
		var smoke []*devices.Device
		for _, d := range devs {
			if d.Kind == contract.KindSmoke {
				smoke = append(smoke, d)
			}
		}
		if len(smoke) == 0 {
			return nil, errors.New("load: alarm_rate: no smoke detector among the devices to raise alarms")
		}
		var err error
		if alarmGen, err = newLoadGen(smoke, cfg.Seed, 1, seqBase+1e9); err != nil {
			return nil, err
		}
		alarmGen.byTopic = cfg.Drain != ""
	}

	var n loadCounts
	start := time.Now()
	end := start.Add(cfg.Duration)
	perConn := cfg.Rate / float64(len(conns))
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace(ctx, perConn, start, end, cfg.InFlight, c.gen, c.pub, cfg.QoS, book, &n)
		}()
	}
	if alarmGen != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace(ctx, cfg.AlarmRate, start, end, cfg.InFlight, alarmGen, conns[0].pub, cfg.QoS, book, &n)
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
		a := n.acked.Load()
		m, p := book.snapshot()
		rate := float64(a-last) / now.Sub(lastT).Seconds()
		last, lastT = a, now
		res.Series = append(res.Series, LoadSample{T: round(now.Sub(start).Seconds(), 3), Acked: a, MsgPerSec: math.Round(rate), Matched: m, P99: p.P99})
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "%5.1fs  sent %d  acked %d  %6.0f msg/s  failed %d  alarms %d  matched %d  p50 %.1f ms  p99 %.1f ms\n",
				now.Sub(start).Seconds(), n.sent.Load(), a, rate, n.failed.Load(), n.alarms.Load(), m, p.P50, p.P99)
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
	res.StreamError = w.settle(cfg.Grace, n.alarms.Load(), n.acked.Load())
	sample(time.Now())
	res.DurationS = round(elapsed.Seconds(), 3)
	res.Sent, res.Acked, res.Failed, res.Alarms = n.sent.Load(), n.acked.Load(), n.failed.Load(), n.alarms.Load()
	res.Received = w.received.Load()
	res.MsgPerSec = math.Round(float64(res.Acked) / elapsed.Seconds())
	res.Matched, res.Latency = book.snapshot()
	if v := n.firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	log.Info("load over", "acked", res.Acked, "msg_per_s", res.MsgPerSec, "matched", res.Matched)
	return res, nil
}

// dialLoad opens one shared load connection, logged in with opt's user
// name and secret when given.
func dialLoad(ctx context.Context, brokerURL string, readBuf int, opt ...MQTTOption) (*loadConn, error) {
	addr, err := brokerAddr(brokerURL)
	if err != nil {
		return nil, err
	}
	o := mqtt.NewClientOptions()
	for _, f := range opt {
		f(o)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := dialLoadConn(cctx, addr, "firegrid-load-"+hex.EncodeToString(b[:]), o.Username, o.Password, loadKeepalive, readBuf)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", brokerURL, err)
	}
	return c, nil
}
