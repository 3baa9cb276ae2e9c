package tsdb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/tsdb"
)

// Influx1 creates database db on an InfluxDB 1.8 server.
func createDatabase(t testing.TB, base, db string) {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"q": {"CREATE DATABASE " + db}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create database: %s", resp.Status)
	}
}

func count(t testing.TB, base, db, measurement string) int {
	rows := testenv.InfluxQL(t, base, db, "SELECT count(seq) FROM "+measurement)
	if len(rows) == 0 {
		return 0
	}
	n, _ := rows[0]["count"].(float64)
	return int(n)
}

func reading(kind contract.Kind, dev string, seq int, ts time.Time) contract.Reading {
	return contract.Reading{ID: fmt.Sprintf("%s/%d", dev, seq),
		Message: contract.Message{Kind: kind, Device: dev, Channel: contract.ChannelTelemetry, TS: ts, Seq: uint64(seq),
			Values: map[string]float64{"battery_pct": 88}},
		Site: "H-1", Zone: "Z-1", Community: "C-1", Station: "MFS-1"}
}

func newSink(t *testing.T, base string, cfg tsdb.Config) (*tsdb.Sink, context.CancelFunc) {
	t.Helper()
	cfg.URL = base
	s, err := tsdb.New(cfg, tsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return s, stop
}

// TestSinkSchema writes a reading of each kind and an incident change to a
// real InfluxDB 1.8 through its v2 API (bucket "db/rp", no org, no token),
// and reads them back with InfluxQL: the README's schema.
func TestSinkSchema(t *testing.T) {
	base := testenv.Influxd(t, testenv.WithoutFlux())
	createDatabase(t, base, "firegrid")
	cfg := tsdb.DefaultConfig()
	cfg.Bucket = "firegrid/autogen"
	cfg.FlushInterval = 20 * time.Millisecond
	s, _ := newSink(t, base, cfg)

	ts := time.Date(2026, 11, 23, 8, 0, 0, 120e6, time.UTC)
	smoke := reading(contract.KindSmoke, "SD-1", 7, ts)
	smoke.Channel, smoke.Event = contract.ChannelEvent, "alarm"
	smoke.Values["obscuration_pct_m"] = 12.5
	charger := reading(contract.KindCharger, "CH-1", 3, ts)
	charger.Values = map[string]float64{"voltage_v": 229.5}
	charger.Ports = []contract.Port{{Port: 1, CurrentA: 2.1, PowerW: 480, TempC: 41, State: "charging"}, {Port: 2}}
	hydrant := reading(contract.KindHydrant, "HY-1", 1, ts)
	hydrant.Values["pressure_mpa"] = 0.08
	ctx := context.Background()
	for _, r := range []contract.Reading{smoke, charger, hydrant} {
		if err := s.HandleReading(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	// A redelivered reading overwrites itself.
	if err := s.HandleReading(ctx, &smoke); err != nil {
		t.Fatal(err)
	}
	in := &contract.Incident{ID: "INC-1", Type: "fire", Severity: "critical", Status: contract.StatusOpen, Stage: contract.StageNew,
		Site: "H-1", Zone: "Z-1", Community: "C-1", Station: "MFS-1", Devices: []string{"SD-1"}, Version: 1, Dispatchable: true}
	if err := s.HandleIncident(ctx, &contract.IncidentChange{Event: "opened", At: ts.Add(time.Second), Incident: in}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return s.Written() == 7 && s.Buffered() == 0 }, "7 points written")

	rows := testenv.InfluxQL(t, base, "firegrid", "SELECT * FROM smoke")
	if len(rows) != 1 {
		t.Fatalf("smoke rows %v, want 1 (the redelivery overwrote)", rows)
	}
	r := rows[0]
	want := map[string]any{"device": "SD-1", "site": "H-1", "zone": "Z-1", "community": "C-1", "station": "MFS-1",
		"event": "alarm", "obscuration_pct_m": 12.5, "battery_pct": 88.0, "seq": 7.0, "time": "2026-11-23T08:00:00.12Z"}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("smoke %s = %v, want %v", k, r[k], v)
		}
	}
	ports := testenv.InfluxQL(t, base, "firegrid", "SELECT * FROM charger_port GROUP BY port")
	if len(ports) != 2 || ports[0]["port"] != "1" || ports[0]["temp_c"] != 41.0 || ports[0]["state"] != "charging" {
		t.Errorf("charger_port rows %v", ports)
	}
	if rows := testenv.InfluxQL(t, base, "firegrid", "SELECT voltage_v FROM charger"); len(rows) != 1 || rows[0]["voltage_v"] != 229.5 {
		t.Errorf("charger rows %v", rows)
	}
	if rows := testenv.InfluxQL(t, base, "firegrid", "SELECT pressure_mpa FROM hydrant WHERE station = 'MFS-1'"); len(rows) != 1 {
		t.Errorf("hydrant rows %v", rows)
	}
	inc := testenv.InfluxQL(t, base, "firegrid", "SELECT * FROM incident")
	if len(inc) != 1 || inc[0]["id"] != "INC-1" || inc[0]["event"] != "opened" || inc[0]["type"] != "fire" ||
		inc[0]["community"] != "C-1" || inc[0]["version"] != 1.0 || inc[0]["dispatchable"] != true {
		t.Errorf("incident rows %v", inc)
	}
}

// TestSinkOutageBuffersAndCounts: while InfluxDB is down, handlers return
// at once and points wait in the buffer; beyond the buffer the oldest are
// dropped and counted exactly; once InfluxDB is back the rest arrive.
func TestSinkOutageBuffersAndCounts(t *testing.T) {
	srv := testenv.StartInfluxd(t, testenv.WithoutFlux())
	createDatabase(t, srv.URL, "firegrid")
	cfg := tsdb.DefaultConfig()
	cfg.Bucket = "firegrid"
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.BatchSize = 10
	cfg.Buffer = 50
	cfg.Timeout = time.Second
	cfg.MaxRetryInterval = 200 * time.Millisecond
	s, stop := newSink(t, srv.URL, cfg)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	seq := 0
	add := func(n int) {
		for range n {
			seq++
			start := time.Now()
			rd := reading(contract.KindHydrant, "HY-1", seq, t0.Add(time.Duration(seq)*time.Second))
			if err := s.HandleReading(ctx, &rd); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("handler took %v while InfluxDB is down", d)
			}
		}
	}
	add(20)
	testenv.Eventually(t, 10*time.Second, func() bool { return s.Written() == 20 }, "20 points before the outage")

	srv.Stop()
	add(80) // 30 more than the buffer holds
	if got := s.Dropped(tsdb.DropBufferFull); got != 30 {
		t.Errorf("dropped %v, want exactly 30 (80 points into a buffer of 50)", got)
	}
	// The checkpoint cannot pass points InfluxDB could still take.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond) // a few failed retries
	err := s.Flush(short)
	cancel()
	if err == nil {
		t.Fatal("Flush returned nil with InfluxDB down and points buffered")
	}
	srv.Start()
	long, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Flush(long); err != nil {
		t.Fatal(err)
	}
	if s.Written() != 70 || s.Buffered() != 0 {
		t.Fatalf("Flush returned with %v written and %d buffered; want 70 and 0", s.Written(), s.Buffered())
	}
	if n := count(t, srv.URL, "firegrid", "hydrant"); n != 70 {
		t.Errorf("InfluxDB holds %d points, want 70 (100 sent, 30 dropped)", n)
	}
	// The newest were kept: the oldest of the outage were dropped.
	rows := testenv.InfluxQL(t, srv.URL, "firegrid", "SELECT min(seq), max(seq) FROM hydrant WHERE time > '"+t0.Add(20*time.Second).Format(time.RFC3339)+"'")
	if len(rows) != 1 || rows[0]["min"] != 51.0 || rows[0]["max"] != 100.0 {
		t.Errorf("kept seq range %v, want 51..100", rows)
	}

	// Points still buffered at shutdown are counted as such.
	srv.Stop()
	add(5)
	stop()
	if got := s.Dropped(tsdb.DropShutdown); got != 5 {
		t.Errorf("dropped at shutdown %v, want 5", got)
	}
}

func TestConfigValidate(t *testing.T) {
	c := tsdb.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("disabled default: %v", err)
	}
	c.URL = "influx:8086"
	c.Bucket = ""
	c.Buffer = 10
	err := c.Validate()
	for _, want := range []string{"url:", "bucket:", "buffer:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}
