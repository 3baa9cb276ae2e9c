package assembly

import (
	"context"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
)

// TestLoadAgainstServe: `firegrid simulate load` with small numbers against
// a running all-in-one: every message acknowledged over several
// connections, every alarm matched to its incident change on the console
// stream, latency percentiles in order.
func TestLoadAgainstServe(t *testing.T) {
	s := startServe(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Smoke detectors that speak for themselves, so that the load's
	// alarms are alarms.
	var devs []*devices.Device
	for _, d := range s.Registry.Devices("") {
		if d.Kind == contract.KindSmoke && d.Addresses() == (devices.Addresses{}) && len(devs) < 60 {
			devs = append(devs, d)
		}
	}
	creds, _, err := IssueCredentials(ctx, s.Store, devs, nil, IssueAll)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the broker reads new accounts within a second
	res, err := simulator.Load(ctx, simulator.LoadConfig{MQTTURL: s.MQTTURL, HTTP: s.HTTPAddr, Devices: 60, Rate: 300,
		Duration: 1500 * time.Millisecond, Connections: 3, QoS: 1, AlarmShare: 0.05, Credentials: creds}, devs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if !res.Config.PerDevice {
		t.Error("the devices shared connections")
	}
	if res.Failed != 0 || res.Acked != res.Sent || res.Sent < 300 {
		t.Errorf("sent %d, acked %d, failed %d (%s)", res.Sent, res.Acked, res.Failed, res.FirstError)
	}
	if res.Alarms == 0 || int64(res.Matched) != res.Alarms {
		t.Errorf("%d of %d alarms matched to incidents", res.Matched, res.Alarms)
	}
	l := res.Latency
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
}

// BenchmarkPublishRateEmbeddedBroker is the simulator's publishing rate
// through MQTT, QoS 1, into the embedded broker of a running firegrid.
func BenchmarkPublishRateEmbeddedBroker(b *testing.B) {
	cfg := DefaultConfig()
	cfg.HTTP, cfg.MQTT.Listen, cfg.Data, cfg.Log.Level = "127.0.0.1:0", "127.0.0.1:0", b.TempDir(), "error"
	cfg.Ingest.ClientID = "firegrid-ingest-bench"
	cfg.MQTT.Flood.Rate = 0 // one device far above any device's rate
	s, err := Start(context.Background(), Serve, cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	creds, _, err := IssueCredentials(context.Background(), s.Store, s.Registry.Devices(""), nil, IssueAll)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second) // the broker reads new accounts within a second
	b.ResetTimer()
	res, err := simulator.Load(context.Background(), simulator.LoadConfig{MQTTURL: s.MQTTURL, Rate: 1e9, Duration: time.Second,
		Connections: 4, QoS: 1, Credentials: creds}, s.Registry.Devices(""), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.MsgPerSec, "msg/s")
}
