package testenv

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// connectMQTT connects a paho client to url and disconnects it at cleanup.
func connectMQTT(t *testing.T, url, clientID string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(clientID).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", clientID, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func TestMosquittoPubSubQoS1(t *testing.T) {
	t.Parallel()
	url := Mosquitto(t)
	if !strings.HasPrefix(url, "tcp://127.0.0.1:") {
		t.Fatalf("Mosquitto() = %q, want tcp://127.0.0.1:PORT", url)
	}
	sub := connectMQTT(t, url, "testenv-sub")
	pub := connectMQTT(t, url, "testenv-pub")

	// More messages than mosquitto's default of 20 in flight, sent without
	// waiting, so that a broker left at its defaults would still pass but
	// one that drops or stalls would not.
	const n = 200
	got := make(chan string, n)
	tok := sub.Subscribe("fg/v1/smoke/+/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	toks := make([]mqtt.Token, 0, n)
	for i := range n {
		toks = append(toks, pub.Publish(fmt.Sprintf("fg/v1/smoke/smk-%d/event", i), 1, false,
			fmt.Sprintf(`{"seq":%d,"event":"alarm"}`, i)))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: not acknowledged: %v", i, tok.Error())
		}
	}
	seen := make(map[string]bool, n)
	Eventually(t, 10*time.Second, func() bool {
		for {
			select {
			case m := <-got:
				seen[m] = true
			default:
				return len(seen) == n
			}
		}
	}, "subscriber did not see all %d messages", n)
	if !seen[`fg/v1/smoke/smk-7/event {"seq":7,"event":"alarm"}`] {
		t.Error("message 7 arrived altered")
	}
}

func TestMosquittoWithCommandLineClients(t *testing.T) {
	t.Parallel()
	subBin, pubBin := Binary(t, "mosquitto_sub"), Binary(t, "mosquitto_pub")
	url := Mosquitto(t)
	port := strings.TrimPrefix(url, "tcp://127.0.0.1:")

	// mosquitto_sub -C 1 exits after one message; -W bounds its wait.
	sub := exec.Command(subBin, "-h", "127.0.0.1", "-p", port, "-q", "1", "-C", "1", "-W", "20",
		"-i", "testenv-cli-sub", "-t", "fg/v1/hydrant/+/telemetry", "-v")
	var out strings.Builder
	sub.Stdout = &out
	sub.Stderr = &out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()

	// The subscription exists once the broker logs it; publish until the
	// subscriber has it, since a message sent before then is not kept.
	payload := `{"values":{"pressure_mpa":0.31}}`
	var subErr error
	Eventually(t, 20*time.Second, func() bool {
		select {
		case subErr = <-done:
			return true
		default:
		}
		pub := exec.Command(pubBin, "-h", "127.0.0.1", "-p", port, "-q", "1",
			"-i", "testenv-cli-pub", "-t", "fg/v1/hydrant/hyd-1/telemetry", "-m", payload)
		if b, err := pub.CombinedOutput(); err != nil {
			t.Logf("mosquitto_pub: %v: %s", err, b)
		}
		return false
	}, "mosquitto_sub received nothing")
	if subErr != nil {
		t.Fatalf("mosquitto_sub: %v: %s", subErr, out.String())
	}
	if want := "fg/v1/hydrant/hyd-1/telemetry " + payload; strings.TrimSpace(out.String()) != want {
		t.Fatalf("mosquitto_sub printed %q, want %q", out.String(), want)
	}
}

func TestMosquittoBrokersAreSeparate(t *testing.T) {
	t.Parallel()
	a, b := Mosquitto(t), Mosquitto(t)
	if a == b {
		t.Fatalf("two brokers share %s", a)
	}
}

func TestMosquittoWithConfig(t *testing.T) {
	t.Parallel()
	url := Mosquitto(t, WithMosquittoConfig("allow_anonymous false"))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("anonymous").
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false).SetConnectRetry(false))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect did not finish")
	}
	if tok.Error() == nil {
		c.Disconnect(100)
		t.Fatal("anonymous client connected although the added line forbids it")
	}
}

func TestMosquittoRejectsBadConfig(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	if url := Mosquitto(rec, WithMosquittoConfig("no_such_option 1")); url != "" {
		t.Fatalf("Mosquitto() = %q for a configuration the broker refuses", url)
	}
	if !strings.Contains(rec.fatal, "did not start") || !strings.Contains(rec.fatal, "no_such_option") {
		t.Fatalf("failure = %q, want it to say the broker did not start and show its log", rec.fatal)
	}
}

func TestMosquittoConfigMerge(t *testing.T) {
	conf := mosquittoConfig(t, 1234, "# a comment\nlog_type all\nallow_anonymous false\nlistener 1883\npassword_file pw\n")
	count := func(line string) int {
		n := 0
		for _, l := range strings.Split(conf, "\n") {
			if l == line {
				n++
			}
		}
		return n
	}
	for line, want := range map[string]int{
		"listener 1234 127.0.0.1": 1, // the helper's listener stays
		"listener 1883":           0,
		"allow_anonymous true":    0, // replaced
		"allow_anonymous false":   1,
		"log_type error":          0, // every log_type replaced
		"log_type all":            1,
		"password_file pw":        1,
		"persistence false":       1, // untouched
		"log_dest stderr":         1,
	} {
		if got := count(line); got != want {
			t.Errorf("%q appears %d times, want %d, in:\n%s", line, got, want, conf)
		}
	}
}

// TestMosquittoRestartKeepsQueuedMessages: with persistence on, a message
// queued for a persistent session that is away survives a graceful
// restart of the broker on the same URL.
func TestMosquittoRestartKeepsQueuedMessages(t *testing.T) {
	t.Parallel()
	s := StartMosquitto(t, WithMosquittoConfig("persistence true\npersistence_location ./"))
	got := make(chan string, 4)
	opts := mqtt.NewClientOptions().AddBroker(s.URL).SetClientID("testenv-persistent").SetCleanSession(false).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	sub := mqtt.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	if tok := sub.Subscribe("fg/v1/smoke/+/event", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sub.Disconnect(100)

	pub := connectMQTT(t, s.URL, "testenv-pub")
	if tok := pub.Publish("fg/v1/smoke/SD-0001/event", 1, false, "kept"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	pub.Disconnect(100)
	s.Stop()
	if dialTCP(strings.TrimPrefix(s.URL, "tcp://")) == nil {
		t.Fatal("the stopped broker still accepts connections")
	}
	s.Start()
	sub = mqtt.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect after the restart: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	select {
	case m := <-got:
		if m != "kept" {
			t.Errorf("got %q, want the message queued before the restart", m)
		}
	case <-time.After(10 * time.Second):
		t.Error("the message queued for the session before the restart never came")
	}
}
