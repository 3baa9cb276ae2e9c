package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/firegrid/firegrid/contract"
)

// embedded starts a broker on a free port whose Accept is accept.
func embedded(t *testing.T, accept Accept, reg prometheus.Registerer) *Embedded {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ln, Options{Accept: accept, Registerer: reg, MaxAcceptWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func client(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false).SetConnectRetry(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestUplinkAcknowledgedOnlyOnceKept: the device's PUBACK waits for
// Accept; what Accept refuses is not acknowledged, and the MQTT 3.1.1
// device is disconnected so that it sends the message again.
func TestUplinkAcknowledgedOnlyOnceKept(t *testing.T) {
	var mu sync.Mutex
	release := make(chan struct{})
	var got []string
	accept := func(ctx context.Context, u *contract.Uplink) error {
		if strings.HasSuffix(u.Topic, "/telemetry") {
			return errors.New("disk full")
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		got = append(got, u.Topic+" "+string(u.Payload))
		mu.Unlock()
		return nil
	}
	reg := prometheus.NewRegistry()
	b := embedded(t, accept, reg)
	c := client(t, b.URL(), "SD-0001")
	tok := c.Publish("fg/v1/smoke/SD-0001/event", 1, false, `{"seq":1}`)
	if tok.WaitTimeout(100 * time.Millisecond) {
		t.Fatal("PUBACK before Accept returned")
	}
	close(release)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("no PUBACK once kept: %v", tok.Error())
	}
	mu.Lock()
	if len(got) != 1 || got[0] != `fg/v1/smoke/SD-0001/event {"seq":1}` {
		t.Errorf("accepted %v", got)
	}
	mu.Unlock()
	// Other topics are not uplinks: no Accept, delivered as usual.
	if tok := c.Publish("site/notes", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("a non-uplink topic: %v", tok.Error())
	}
	// Refused: no PUBACK, and the connection closes.
	tok = c.Publish("fg/v1/smoke/SD-0001/telemetry", 1, false, `{"seq":2}`)
	if tok.WaitTimeout(time.Second) && tok.Error() == nil {
		t.Fatal("a refused message was acknowledged")
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Error("the device stays connected after a refusal it cannot see")
	}
	if v := testutil.ToFloat64(b.m.refused.WithLabelValues("not_kept")); v != 1 {
		t.Errorf("firegrid_broker_refused_total{reason=not_kept} = %v, want 1", v)
	}
}

func TestCommandReachesItsDevice(t *testing.T) {
	b := embedded(t, func(context.Context, *contract.Uplink) error { return nil }, nil)
	c := client(t, b.URL(), "CH-001")
	got := make(chan string, 1)
	if tok := c.Subscribe("fg/v1/charger/CH-001/cmd", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	cmd := &contract.Command{Kind: contract.KindCharger, Device: "CH-001", Cmd: "port_off", Port: 3, Incident: "INC-1"}
	if err := b.PublishCommand(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != string(cmd.Payload()) {
			t.Errorf("payload %s", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no command")
	}
}
