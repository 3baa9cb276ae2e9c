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
	"github.com/firegrid/firegrid/internal/testenv"
)

// startServe runs an all-in-one on free ports; mqttURL empty means the
// embedded broker. dataDir empty means a fresh one.
func startServe(t *testing.T, mqttURL, dataDir string, opts ...func(*Config)) *Process {
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
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Serve, cfg, Options{})
	if err != nil {
		t.Fatalf("start serve: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// device is a real MQTT client standing in for devices.
type device struct {
	t      testing.TB
	client mqtt.Client
}

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
	return &device{t: t, client: c}
}

func (d *device) publish(topic string, payload string) {
	d.t.Helper()
	tok := d.client.Publish(topic, 1, false, []byte(payload))
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		d.t.Fatalf("publish %s: %v", topic, tok.Error())
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
