package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// StormConfig is a reconnect storm, as when the power comes back to a
// district: every device connects within Window, each with its own
// credentials, and publishes one reading, while smoke detectors that were
// connected before raise alarms, whose latency is measured as Load
// measures it (the console stream, or a bare broker's drain).
type StormConfig struct {
	// MQTTURL is the broker the devices connect to.
	MQTTURL string `json:"mqtt_url"`
	// HTTP is firegrid's console address, whose stream gives the alarm
	// latency.
	HTTP string `json:"http,omitempty"`
	// Drain and DrainLogin, instead of HTTP: a subscription on a bare
	// broker whose receipt of an alarm is its latency (see LoadConfig).
	Drain      string       `json:"drain,omitempty"`
	DrainLogin []MQTTOption `json:"-"`
	// Credentials of every device (the storm connects each as itself).
	Credentials Credentials `json:"-"`
	// Devices is how many devices connect in the storm; 0 means all but
	// the alarm devices.
	Devices int `json:"devices"`
	// Window is the time over which the storm's connections are opened,
	// evenly; 0 means 10 s.
	Window time.Duration `json:"-"`
	// AlarmDevices are smoke detectors connected before the storm that
	// raise the alarms; 0 means 50.
	AlarmDevices int `json:"alarm_devices"`
	// AlarmRate is alarms a second during the storm; 0 means 5.
	AlarmRate float64 `json:"alarm_rate"`
	// Seed seeds the devices' readings.
	Seed uint64 `json:"seed"`
	// Hold, when set, is called once every storm device has connected
	// and its reading was acknowledged (or failed), with the connections
	// still open: where a benchmark measures the broker's memory.
	Hold func(connected int) `json:"-"`
	// Grace is how long to wait for the last alarms; 0 means 3 s.
	Grace time.Duration `json:"-"`
	// Progress, when set, receives a line a second.
	Progress io.Writer `json:"-"`
}

// StormResult is what a storm measured. Latencies are in milliseconds.
type StormResult struct {
	Config StormConfig `json:"config"`
	// Connected is how many storm devices got a CONNACK; Connect is the
	// time from dialling to it.
	Connected     int         `json:"connected"`
	ConnectFailed int         `json:"connect_failed"`
	Connect       Percentiles `json:"connect_ms"`
	// Readings acknowledged and failed, and the time from publishing
	// each to its PUBACK.
	Readings       int64       `json:"readings"`
	ReadingsFailed int64       `json:"readings_failed"`
	Reading        Percentiles `json:"reading_ms"`
	// TookS is from the first dial to the last reading's acknowledgement.
	TookS float64 `json:"took_s"`
	// Alarms published during the storm, matched on the stream or at the
	// drain, and their latency.
	Alarms      int64       `json:"alarms"`
	AlarmsAcked int64       `json:"alarms_acked"`
	Matched     int         `json:"alarms_matched"`
	Latency     Percentiles `json:"latency_ms"`
	// Received counts the messages the drain took (with Drain).
	Received    int64  `json:"received,omitempty"`
	FirstError  string `json:"first_error,omitempty"`
	StreamError string `json:"stream_error,omitempty"`
}

// String is the human summary of a storm.
func (r *StormResult) String() string {
	s := fmt.Sprintf("storm: %d devices within %s, %d alarms a second from %d detectors connected before\n",
		r.Config.Devices, r.Config.Window, int(r.Config.AlarmRate), r.Config.AlarmDevices)
	s += fmt.Sprintf("  connected %d (failed %d) in %.1fs; connect p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.Connected, r.ConnectFailed, r.TookS, r.Connect.P50, r.Connect.P99, r.Connect.Max)
	s += fmt.Sprintf("  readings acknowledged %d (failed %d); publish to PUBACK p50 %.1f ms, p99 %.1f ms\n",
		r.Readings, r.ReadingsFailed, r.Reading.P50, r.Reading.P99)
	s += fmt.Sprintf("  alarms %d, matched %d; alarm latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.Alarms, r.Matched, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if r.FirstError != "" {
		s += "  first error: " + r.FirstError + "\n"
	}
	if r.StreamError != "" {
		s += "  stream: " + r.StreamError + "\n"
	}
	return s
}

// latencies collects durations in milliseconds from many goroutines.
type latencies struct {
	mu sync.Mutex
	ms []float64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ms = append(l.ms, float64(d.Microseconds())/1000)
	l.mu.Unlock()
}

func (l *latencies) percentiles() Percentiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	return percentiles(l.ms)
}

// Storm runs a reconnect storm of devs' devices that speak MQTT
// themselves: the first cfg.AlarmDevices smoke detectors connect first and
// raise alarms during the storm; cfg.Devices of the others connect within
// cfg.Window and each publishes one reading (QoS 1).
func Storm(ctx context.Context, cfg StormConfig, devs []*devices.Device, log *slog.Logger) (*StormResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.AlarmDevices <= 0 {
		cfg.AlarmDevices = 50
	}
	if cfg.AlarmRate <= 0 {
		cfg.AlarmRate = 5
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 3 * time.Second
	}
	if cfg.Credentials == nil {
		return nil, errors.New("storm: every device connects with its own credentials; none given")
	}
	var alarmDevs, stormDevs []*devices.Device
	for _, d := range loadDevices(devs, len(devs)) {
		if d.Addresses() != (devices.Addresses{}) {
			continue // speaks through a gateway or a platform, not MQTT
		}
		if d.Kind == contract.KindSmoke && len(alarmDevs) < cfg.AlarmDevices {
			alarmDevs = append(alarmDevs, d)
		} else {
			stormDevs = append(stormDevs, d)
		}
	}
	if len(alarmDevs) == 0 {
		return nil, errors.New("storm: no smoke detector to raise alarms")
	}
	if cfg.Devices <= 0 {
		cfg.Devices = len(stormDevs)
	}
	if cfg.Devices > len(stormDevs) {
		return nil, fmt.Errorf("storm: %d devices asked, the registry has %d that speak MQTT besides the %d alarm devices", cfg.Devices, len(stormDevs), len(alarmDevs))
	}
	stormDevs = stormDevs[:cfg.Devices]
	addr, err := brokerAddr(cfg.MQTTURL)
	if err != nil {
		return nil, err
	}
	// Each storm device's reading, made before the storm.
	readings, err := firstReadings(stormDevs, cfg.Seed)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(alarmDevs))
	for i, d := range alarmDevs {
		ids[i] = d.ID
	}
	alarmConns, err := dialDeviceLoad(ctx, cfg.MQTTURL, cfg.Credentials, ids, 16)
	if err != nil {
		return nil, fmt.Errorf("storm: alarm devices: %w", err)
	}
	defer alarmConns.Close()

	res := &StormResult{Config: cfg}
	book := &alarmBook{sent: make(map[string]time.Time)}
	w, err := watchAlarms(ctx, book, cfg.MQTTURL, cfg.Drain, cfg.DrainLogin, cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	defer w.Close()
	alarmGen, err := newLoadGen(alarmDevs, cfg.Seed, 1, uint64(time.Now().UnixMilli())*1000)
	if err != nil {
		return nil, err
	}
	alarmGen.byTopic = cfg.Drain != ""

	var (
		n          loadCounts
		connectLat latencies
		readingLat latencies
		connected  atomic.Int64
		connFailed atomic.Int64
		rAcked     atomic.Int64
		rFailed    atomic.Int64
		firstErr   atomic.Value
		mu         sync.Mutex
		conns      = make([]*loadConn, 0, len(stormDevs))
		wg         sync.WaitGroup
	)
	defer func() {
		var cw sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, c := range conns {
			cw.Add(1)
			sem <- struct{}{}
			go func() {
				defer cw.Done()
				defer func() { <-sem }()
				c.Close()
			}()
		}
		cw.Wait()
	}()
	start := time.Now()
	end := start.Add(cfg.Window)
	var alarmsDone sync.WaitGroup
	alarmsDone.Add(1)
	go func() {
		defer alarmsDone.Done()
		pace(ctx, cfg.AlarmRate, start, end, 1000, alarmGen, alarmConns, 1, book, &n)
	}()
	one := func(d *devices.Device, p Publication) {
		defer wg.Done()
		c := cfg.Credentials[d.ID]
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		conn, err := dialLoadConn(dctx, addr, c.Username, c.Username, c.Password, loadKeepalive, 512)
		if err != nil {
			connFailed.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Sprintf("device %s: %v", d.ID, err))
			return
		}
		connectLat.add(time.Since(t0))
		connected.Add(1)
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		acked := make(chan error, 1)
		t1 := time.Now()
		conn.PublishAsync(p.Topic, 1, p.Payload, func(err error) { acked <- err })
		select {
		case err = <-acked:
		case <-dctx.Done():
			err = dctx.Err()
		}
		if err != nil {
			rFailed.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Sprintf("device %s: reading: %v", d.ID, err))
			return
		}
		readingLat.add(time.Since(t1))
		rAcked.Add(1)
	}
	// The storm: device i dials at start + i·Window/N.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	gap := float64(cfg.Window) / float64(len(stormDevs))
	progress := func() {
		if cfg.Progress != nil {
			m, p := book.snapshot()
			fmt.Fprintf(cfg.Progress, "%5.1fs  connected %d  failed %d  readings %d  alarms %d  matched %d  p99 %.1f ms\n",
				time.Since(start).Seconds(), connected.Load(), connFailed.Load(), rAcked.Load(), n.alarms.Load(), m, p.P99)
		}
	}
	for i, d := range stormDevs {
		if at := start.Add(time.Duration(float64(i) * gap)); time.Until(at) > time.Millisecond {
			time.Sleep(time.Until(at))
		}
		select {
		case <-tick.C:
			progress()
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		stamped := readings[i]
		stamped.Stamp(time.Now())
		wg.Add(1)
		go one(d, stamped)
	}
	stormDone := make(chan struct{})
	go func() { wg.Wait(); close(stormDone) }()
wait:
	for {
		select {
		case <-stormDone:
			break wait
		case <-tick.C:
			progress()
		}
	}
	res.TookS = round(time.Since(start).Seconds(), 3)
	alarmsDone.Wait()
	if cfg.Hold != nil {
		cfg.Hold(int(connected.Load()))
	}
	// The drain is behind also by the storm's readings.
	res.StreamError = w.settle(cfg.Grace, n.alarms.Load(), rAcked.Load()+n.acked.Load())
	progress()
	res.Connected, res.ConnectFailed = int(connected.Load()), int(connFailed.Load())
	res.Connect, res.Reading = connectLat.percentiles(), readingLat.percentiles()
	res.Readings, res.ReadingsFailed = rAcked.Load(), rFailed.Load()
	res.Alarms, res.AlarmsAcked = n.alarms.Load(), n.acked.Load()
	res.Matched, res.Latency = book.snapshot()
	res.Received = w.received.Load()
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	} else if v := n.firstErr.Load(); v != nil {
		res.FirstError = "alarm: " + v.(string)
	}
	log.Info("storm over", "connected", res.Connected, "readings", res.Readings, "matched", res.Matched)
	return res, nil
}

// firstReadings makes one reading for each device, as the fleet's models
// make them (a heartbeat, pressure, the charger's ports).
func firstReadings(devs []*devices.Device, seed uint64) ([]Publication, error) {
	f, err := NewFleet(devs, FleetConfig{Jitter: -1}, seed)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(devs))
	for i, d := range devs {
		index[d.ID] = i
	}
	out := make([]Publication, len(devs))
	left := len(devs)
	for n := 0; left > 0 && n < 100*len(devs); n++ {
		p, ok := f.Next()
		if !ok {
			break
		}
		i, ok := index[p.Device()]
		if !ok || out[i].Topic != "" {
			continue
		}
		p.Payload = nil
		out[i] = p
		left--
	}
	if left > 0 {
		return nil, fmt.Errorf("storm: no reading for %d devices", left)
	}
	return out, nil
}
