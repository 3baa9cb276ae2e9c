package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/internal/testenv"
)

// asFiregrid makes the test binary run as firegrid when the bench starts
// it as its server (`firegrid serve`): the bench starts the executable it
// runs in.
const asFiregrid = "FIREGRID_TEST_RUN_AS_FIREGRID"

func TestMain(m *testing.M) {
	if os.Getenv(asFiregrid) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchSmall runs firegrid bench scaled down: a rate scenario and a
// storm against a bare Mosquitto and firegrid serve, each its own process,
// and checks that both sides are measured, side by side, with the goals.
func TestBenchSmall(t *testing.T) {
	mosquitto := os.Getenv(testenv.EnvMosquitto)
	if mosquitto == "" {
		mosquitto = testenv.Binary(t, "mosquitto")
	}
	t.Setenv(asFiregrid, "1")
	out := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := runCmd("bench", "--mosquitto", mosquitto, "--scenarios", "20k,storm", "--scale", "0.01",
		"--duration", "2s", "--devices", "20", "--alarm-rate", "5", "--storm-window", "1s", "--storm-alarm-rate", "5",
		"--households", "300", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Log(stdout)
	for _, want := range []string{"bare Mosquitto", "firegrid serve", "alarm p50/p90/p99/max (ms)", "goal: no alarm lost", "resident a connection (KB)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Scenarios []benchScenario `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 2 {
		t.Fatalf("%d scenarios, want 2", len(res.Scenarios))
	}
	rate := res.Scenarios[0]
	for name, side := range map[string]benchSide{"mosquitto": rate.Bare, "firegrid": rate.Firegrid} {
		l := side.Load
		if l == nil || l.Acked == 0 || l.Alarms == 0 {
			t.Fatalf("%s: nothing measured: %+v", name, l)
		}
		if l.Failed != 0 || int64(l.Matched) != l.Alarms || side.Taken != l.Acked {
			t.Errorf("%s: acknowledged %d, failed %d, taken %d; alarms %d, arrived %d", name, l.Acked, l.Failed, side.Taken, l.Alarms, l.Matched)
		}
	}
	storm := res.Scenarios[1]
	for name, side := range map[string]benchSide{"mosquitto": storm.Bare, "firegrid": storm.Firegrid} {
		s := side.Storm
		if s == nil || s.Connected != 180 || s.Readings != 180 || side.ResidentHeld == 0 {
			t.Errorf("%s: storm %+v, resident held %d", name, s, side.ResidentHeld)
		}
	}
	if len(rate.Goals) == 0 || len(storm.Goals) == 0 {
		t.Error("no goals judged")
	}
}
