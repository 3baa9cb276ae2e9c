package simulator

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
)

// subscribe collects every message on fg/v1/# at url.
func subscribe(t *testing.T, url string) func() []mqtt.Message {
	t.Helper()
	var mu sync.Mutex
	var got []mqtt.Message
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("sim-test-sub"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("fg/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return func() []mqtt.Message {
		mu.Lock()
		defer mu.Unlock()
		return append([]mqtt.Message(nil), got...)
	}
}

// TestMQTTPublisherAgainstMosquitto plays a short scenario through a real
// broker and reads it back.
func TestMQTTPublisherAgainstMosquitto(t *testing.T) {
	url := testenv.Mosquitto(t)
	received := subscribe(t, url)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := NewMQTTPublisher(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{
		Config:    Config{Speed: 1000, NoFleet: true},
		Scenario:  mustParse(t, timelineScenario),
		Devices:   demoDevices(),
		Publisher: pub,
		Clock:     clock.Real{},
		Logger:    slog.New(slog.DiscardHandler),
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(received()) == 6 }, "6 messages through the broker")
	msgs := received()
	if msgs[0].Topic() != "fg/v1/smoke/SD-0001/event" || msgs[5].Topic() != "fg/v1/charger/CH-001/event" {
		t.Errorf("topics %s ... %s", msgs[0].Topic(), msgs[5].Topic())
	}
	var body struct{ Event string }
	if err := json.Unmarshal(msgs[5].Payload(), &body); err != nil || body.Event != "over_temp" {
		t.Errorf("last payload %s: %v", msgs[5].Payload(), err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines back to %d after Close", before)
}

func TestMQTTPublisherErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := NewMQTTPublisher(ctx, "http://localhost:1883", ""); err == nil || !strings.Contains(err.Error(), "want a scheme") {
		t.Errorf("http URL: %v", err)
	}
	// Nothing listens on a fresh free port: the connection is refused.
	addr := testenv.FreeAddr(t)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := NewMQTTPublisher(cctx, "tcp://"+addr, ""); err == nil {
		t.Error("connect to a closed port succeeded")
	}
}
