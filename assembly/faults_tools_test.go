package assembly

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// What the fault suite's devices do while a fault is injected: a fleet
// beats (telemetry), and alarms come at a known rate from distinct homes,
// each device on its own MQTT connection with its own credentials, as
// itself (client id = user name).

// faultFleet is the background telemetry: every device publishes a
// reading each interval with QoS 1 and at most one unacknowledged, and
// reconnects by itself when the broker goes away, as real devices do.
type faultFleet struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	clients []mqtt.Client
	sent    atomic.Int64
	acked   atomic.Int64
}

func startFaultFleet(url string, creds simulator.Credentials, devs []*devices.Device, every time.Duration) *faultFleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &faultFleet{cancel: cancel}
	for i, d := range devs {
		cred := creds[d.ID]
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(cred.Username).SetUsername(cred.Username).
			SetPassword(cred.Password).SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
			SetConnectRetryInterval(500 * time.Millisecond).SetMaxReconnectInterval(2 * time.Second).
			SetConnectTimeout(3 * time.Second).SetWriteTimeout(3 * time.Second).SetKeepAlive(30 * time.Second))
		c.Connect()
		f.clients = append(f.clients, c)
		topic := contract.UplinkTopic(d.Kind, d.ID, contract.ChannelTelemetry)
		// Spread the devices over the interval.
		phase := time.Duration(i) * every / time.Duration(len(devs))
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(phase):
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			var last mqtt.Token
			for seq := 1; ; seq++ {
				if last != nil {
					select {
					case <-last.Done():
						if last.Error() == nil {
							f.acked.Add(1)
						}
						last = nil
					default: // still unacknowledged: skip this beat
					}
				}
				if last == nil && c.IsConnectionOpen() {
					last = c.Publish(topic, 1, false, telemetryPayload(seq, time.Now()))
					f.sent.Add(1)
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	return f
}

func (f *faultFleet) close() {
	f.cancel()
	f.wg.Wait()
	disconnectAll(f.clients)
}

func disconnectAll(clients []mqtt.Client) {
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Disconnect(0)
		}()
	}
	wg.Wait()
}

// faultAlarm is one smoke alarm of one home.
type faultAlarm struct {
	dev     *devices.Device
	topic   string
	payload []byte
	// first is when the device first sent it; acked when a PUBACK came
	// (zero until then); attempts how often it was sent.
	first, acked time.Time
	attempts     int
}

// alarmSender raises alarms at a rate, each from the next home of the
// pool. A device that gets no PUBACK (the broker is down, refuses, or the
// connection drops) connects again and sends the same message again, as
// a real detector does, until it is acknowledged: only then does the
// alarm count as sent.
type alarmSender struct {
	url   string
	creds simulator.Credentials
	homes func() *devices.Device
	rate  float64
	// onAck, when set, is called with the count of acknowledged alarms
	// right after each PUBACK, on the goroutine that got it.
	onAck func(n int)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	quit   chan struct{}
	done   chan struct{}

	mu         sync.Mutex
	alarms     []*faultAlarm
	acked      int
	clients    []mqtt.Client
	outOfHomes bool
}

func startAlarms(url string, creds simulator.Credentials, homes func() *devices.Device, rate float64, onAck func(int)) *alarmSender {
	ctx, cancel := context.WithCancel(context.Background())
	a := &alarmSender{url: url, creds: creds, homes: homes, rate: rate, onAck: onAck, ctx: ctx, cancel: cancel,
		quit: make(chan struct{}), done: make(chan struct{})}
	go a.launch()
	return a
}

func (a *alarmSender) launch() {
	defer close(a.done)
	start := time.Now()
	for i := 1; ; i++ {
		d := a.homes()
		if d == nil {
			a.mu.Lock()
			a.outOfHomes = true
			a.mu.Unlock()
			return
		}
		now := time.Now()
		al := &faultAlarm{dev: d, topic: contract.UplinkTopic(d.Kind, d.ID, contract.ChannelEvent),
			payload: []byte(alarmPayload(7, now)), first: now}
		a.mu.Lock()
		a.alarms = append(a.alarms, al)
		a.mu.Unlock()
		a.wg.Add(1)
		go a.deliver(al)
		select {
		case <-a.quit:
			return
		case <-time.After(time.Until(start.Add(time.Duration(float64(i) / a.rate * float64(time.Second))))):
		}
	}
}

// deliver sends one alarm until the broker acknowledges it.
func (a *alarmSender) deliver(al *faultAlarm) {
	defer a.wg.Done()
	cred := a.creds[al.dev.ID]
	opts := mqtt.NewClientOptions().AddBroker(a.url).SetClientID(cred.Username).SetUsername(cred.Username).
		SetPassword(cred.Password).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(3 * time.Second).SetWriteTimeout(3 * time.Second).SetKeepAlive(30 * time.Second)
	for a.ctx.Err() == nil {
		a.mu.Lock()
		al.attempts++
		a.mu.Unlock()
		c := mqtt.NewClient(opts)
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			if tok := c.Publish(al.topic, 1, false, al.payload); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				a.mu.Lock()
				al.acked = time.Now()
				a.acked++
				n := a.acked
				a.clients = append(a.clients, c)
				a.mu.Unlock()
				if a.onAck != nil {
					a.onAck(n)
				}
				return
			}
		}
		c.Disconnect(0)
		select {
		case <-a.ctx.Done():
		case <-time.After(200*time.Millisecond + rand.N(200*time.Millisecond)):
		}
	}
}

// stop raises no more alarms; those raised keep being sent until
// acknowledged.
func (a *alarmSender) stop() {
	select {
	case <-a.quit:
	default:
		close(a.quit)
	}
	<-a.done
}

// waitAcked waits until every alarm raised is acknowledged and returns
// how many are not.
func (a *alarmSender) waitAcked(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		a.mu.Lock()
		missing := len(a.alarms) - a.acked
		a.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshot returns copies of the alarms as they are now.
func (a *alarmSender) snapshot() []faultAlarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]faultAlarm, len(a.alarms))
	for i, al := range a.alarms {
		out[i] = *al
	}
	return out
}

// close gives up on what is not acknowledged and disconnects every device.
func (a *alarmSender) close() {
	a.stop()
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	clients := a.clients
	a.clients = nil
	a.mu.Unlock()
	disconnectAll(clients)
}

// incidentWatch watches a console as a crew would: its stream, and
// (since a stream that is down misses what happened meanwhile) the list
// of incidents every half second. It remembers when each site's fire
// incident was first visible.
type incidentWatch struct {
	base   string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	seen map[string]time.Time
}

func watchIncidents(httpAddr string) *incidentWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &incidentWatch{base: "http://" + httpAddr, cancel: cancel, seen: map[string]time.Time{}}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		for ctx.Err() == nil {
			w.stream(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			if list, err := listIncidents(ctx, client, w.base, 300); err == nil {
				for _, in := range list {
					w.saw(in.Type, in.Site)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return w
}

func isFire(in *contract.Incident) bool { return isFireType(in.Type) }

func isFireType(typ string) bool { return typ == "fire" || typ == contract.ConfirmedType("fire") }

func (w *incidentWatch) saw(typ, site string) {
	if !isFireType(typ) {
		return
	}
	w.mu.Lock()
	if _, ok := w.seen[site]; !ok {
		w.seen[site] = time.Now()
	}
	w.mu.Unlock()
}

// stream reads the console's stream until it ends.
func (w *incidentWatch) stream(ctx context.Context) {
	ended, err := simulator.WatchStream(ctx, w.base, func(c *simulator.IncidentChange) { w.saw(c.Incident.Type, c.Incident.Site) })
	if err == nil {
		<-ended
	}
}

// seenAt returns when the site's fire incident was first visible.
func (w *incidentWatch) seenAt(site string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.seen[site]
	return at, ok
}

func (w *incidentWatch) close() {
	w.cancel()
	w.wg.Wait()
}

// listIncidents lists the newest incidents of every status.
func listIncidents(ctx context.Context, client *http.Client, base string, limit int) ([]*contract.Incident, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/incidents?status=all&limit=%d", base, limit), nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list incidents: %s", resp.Status)
	}
	var body struct {
		Incidents []*contract.Incident `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return body.Incidents, nil
}

// healthWatch polls the /healthz of every process of a row four times a
// second, and remembers what each said.
type healthWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	samples []healthSample
}

// healthSample is what every process said at one moment: the checks that
// failed, by process ("unreachable" when it did not answer).
type healthSample struct {
	at       time.Time
	problems map[string][]string
}

func watchHealth(targets map[string]string) *healthWatch {
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthWatch{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 2 * time.Second}
	go func() {
		defer close(h.done)
		for {
			s := healthSample{at: time.Now(), problems: map[string][]string{}}
			for name, addr := range targets {
				if checks := healthProblems(ctx, client, addr); len(checks) > 0 {
					s.problems[name] = checks
				}
			}
			h.mu.Lock()
			h.samples = append(h.samples, s)
			h.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return h
}

// healthProblems returns the checks a process's /healthz names, but the
// clock's (a step of the clock is reported until a restart, and is a
// row of its own).
func healthProblems(ctx context.Context, client *http.Client, addr string) []string {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		return []string{"unreachable"}
	}
	defer resp.Body.Close()
	var body struct {
		Problems []struct {
			Check string `json:"check"`
		} `json:"problems"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return []string{"unreadable"}
	}
	var out []string
	for _, p := range body.Problems {
		if p.Check != "clock" {
			out = append(out, p.Check)
		}
	}
	if resp.StatusCode != http.StatusOK && len(out) == 0 && len(body.Problems) == 0 {
		out = append(out, resp.Status)
	}
	return out
}

// saw reports whether process said check failed between from and to.
func (h *healthWatch) saw(process, check string, from, to time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.samples {
		if !s.at.Before(from) && !s.at.After(to) && slices.Contains(s.problems[process], check) {
			return true
		}
	}
	return false
}

// healthyAfter returns the first moment at or after t from which every
// process said all was well.
func (h *healthWatch) healthyAfter(t time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var at time.Time
	for _, s := range h.samples {
		if s.at.Before(t) {
			continue
		}
		switch {
		case len(s.problems) > 0:
			at = time.Time{}
		case at.IsZero():
			at = s.at
		}
	}
	return at, !at.IsZero()
}

// waitHealthy waits until every process says all is well at or after t.
func (h *healthWatch) waitHealthy(t time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if at, ok := h.healthyAfter(t); ok {
			return at, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// last returns what the processes said last.
func (h *healthWatch) last() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) == 0 {
		return nil
	}
	return h.samples[len(h.samples)-1].problems
}

func (h *healthWatch) close() {
	h.cancel()
	<-h.done
}
