package assembly

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// startServe runs an all-in-one on free ports; mqttURL empty means the
// embedded broker. dataDir empty means a fresh one.
func startServe(t *testing.T, mqttURL, dataDir string, opts ...func(*Config)) *Process {
	t.Helper()
	return startServeWith(t, Options{}, mqttURL, dataDir, opts...)
}

// startServeWith is startServe with the process's options (a journal's
// file system).
func startServeWith(t *testing.T, o Options, mqttURL, dataDir string, opts ...func(*Config)) *Process {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP = "127.0.0.1:0"
	cfg.MQTT.Listen = testenv.FreeAddr(t)
	cfg.MQTT.URL = mqttURL
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg.Data = dataDir
	cfg.Ingest.ClientID = fmt.Sprintf("firegrid-ingest-%d", time.Now().UnixNano())
	cfg.Log.Level = "warn"
	if l := os.Getenv("FIREGRID_TEST_LOG_LEVEL"); l != "" {
		cfg.Log.Level = l
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Serve, cfg, o)
	if err != nil {
		t.Fatalf("start serve: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// device is real MQTT clients standing in for devices: one anonymous
// connection for every device on an external test broker (which lets
// anyone in), or against serve's embedded broker one connection per
// device with credentials issued into the process's store, as real
// devices connect.
type device struct {
	t      testing.TB
	url    string
	client mqtt.Client // the shared connection; nil on the embedded broker
	p      *Process

	mu    sync.Mutex
	conns map[string]mqtt.Client
}

// connectDevice connects one anonymous client to an external broker.
func connectDevice(t testing.TB, url string) *device {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-device-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect device client to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &device{t: t, url: url, client: c}
}

// connectDevices stands in for the devices of a process: on its embedded
// broker each with its own credentials, on an external one anonymously.
func connectDevices(t testing.TB, s *Process) *device {
	t.Helper()
	if s.Subscriber != nil {
		return connectDevice(t, s.MQTTURL)
	}
	d := &device{t: t, url: s.MQTTURL, p: s, conns: map[string]mqtt.Client{}}
	t.Cleanup(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range d.conns {
			c.Disconnect(50)
		}
	})
	return d
}

// credentials issues a device of s's registry a new secret.
func credentials(t testing.TB, s *Process, id string) simulator.Credential {
	t.Helper()
	dev, ok := s.Registry.Device(id)
	if !ok {
		t.Fatalf("no device %s in the registry", id)
	}
	creds, _, err := IssueCredentials(context.Background(), s.Store, []*devices.Device{dev}, nil, IssueAll)
	if err != nil {
		t.Fatal(err)
	}
	return creds[id]
}

// dialAs connects as a device with its credentials; a device issued a
// moment ago may take the broker a moment to see.
func dialAs(t testing.TB, url string, c simulator.Credential) mqtt.Client {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(c.Username).SetUsername(c.Username).
			SetPassword(c.Password).SetCleanSession(true).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
		tok := cl.Connect()
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			return cl
		}
		err = tok.Error()
	}
	t.Fatalf("connect as %s to %s: %v", c.Username, url, err)
	return nil
}

// conn is the connection of the device a topic names.
func (d *device) conn(topic string) mqtt.Client {
	d.t.Helper()
	if d.client != nil {
		return d.client
	}
	parts := strings.Split(topic, "/")
	if len(parts) != 5 {
		d.t.Fatalf("topic %s names no device", topic)
	}
	id := parts[3]
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.conns[id]; ok && c.IsConnectionOpen() {
		return c
	}
	c := dialAs(d.t, d.url, credentials(d.t, d.p, id))
	d.conns[id] = c
	return c
}

func (d *device) publish(topic string, payload string) {
	d.t.Helper()
	tok := d.conn(topic).Publish(topic, 1, false, []byte(payload))
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// close disconnects every connection.
func (d *device) close() {
	if d.client != nil {
		d.client.Disconnect(50)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range d.conns {
		c.Disconnect(50)
		delete(d.conns, id)
	}
}

// subscribe subscribes the connection of the topic's device.
func (d *device) subscribe(topic string, f mqtt.MessageHandler) {
	d.t.Helper()
	tok := d.conn(topic).Subscribe(topic, 1, f)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		d.t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
}

// stream reads a console's SSE stream.
type stream struct {
	mu     sync.Mutex
	events []contract.IncidentChange
	ch     chan contract.IncidentChange
	hello  chan struct{}
}

func openStream(t testing.TB, addr string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream content type %q", ct)
	}
	s := &stream{ch: make(chan contract.IncidentChange, 1024), hello: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var event, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "":
				if event == "hello" {
					close(s.hello)
				}
				if event == "incident" {
					var c contract.IncidentChange
					if err := json.Unmarshal([]byte(data), &c); err == nil {
						s.ch <- c
					}
				}
				event, data = "", ""
			}
		}
	}()
	select {
	case <-s.hello:
	case <-time.After(5 * time.Second):
		t.Fatal("no hello on the stream")
	}
	return s
}

// next waits for the next incident change that matches.
func (s *stream) next(t testing.TB, timeout time.Duration, match func(contract.IncidentChange) bool) contract.IncidentChange {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-s.ch:
			if match(c) {
				return c
			}
		case <-deadline:
			t.Fatalf("no matching incident change on the stream within %v", timeout)
			return contract.IncidentChange{}
		}
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("POST %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// metric scrapes /metrics and returns the value of one series (0 when
// absent).
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, series+" "), "%g", &v)
			return v
		}
	}
	return 0
}

func alarmPayload(seq int, ts time.Time) string {
	return fmt.Sprintf(`{"ts":%q,"seq":%d,"event":"alarm","values":{"obscuration_pct_m":12.5,"temp_c":41.0,"battery_pct":88,"rssi_dbm":-91}}`,
		ts.UTC().Format(time.RFC3339Nano), seq)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
