package assembly

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/simulator/territory"
)

// benchTerritory is the territory size of the memory benchmark:
// FIREGRID_BENCH_FULL=1 gives the city of 236,555 devices the figures are
// quoted for (200,000 households, 5,000 hydrants, 500 sheds); otherwise a
// town of about 6,000, so that the test run, which runs every benchmark
// once, stays quick.
func benchTerritory() territory.Options {
	if os.Getenv("FIREGRID_BENCH_FULL") == "1" {
		return territory.Options{Seed: 1, Households: 200000, Hydrants: 5000, Sheds: 500}
	}
	return territory.Options{Seed: 1, Households: 5000, Hydrants: 200, Sheds: 20}
}

// rss returns the process's resident memory after a collection that
// returns what it can to the operating system.
func rss(b *testing.B) int64 {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkServeMemoryPerDevice measures what a registered device costs a
// running serve (resident memory after a collection, minus the same for a
// territory of one household), and how long serve takes from start to
// healthy with the territory.
func BenchmarkServeMemoryPerDevice(b *testing.B) {
	small, err := territory.Generate(territory.Options{Seed: 1, Households: 1, Hydrants: 1, Sheds: 1})
	if err != nil {
		b.Fatal(err)
	}
	big, err := territory.Generate(benchTerritory())
	if err != nil {
		b.Fatal(err)
	}
	dirs := map[string]string{"small": b.TempDir(), "big": b.TempDir()}
	if err := small.Write(dirs["small"]); err != nil {
		b.Fatal(err)
	}
	if err := big.Write(dirs["big"]); err != nil {
		b.Fatal(err)
	}
	devices := big.Counts().Devices()
	small, big = nil, nil
	serve := func(dir string) (*Process, time.Duration) {
		cfg := DefaultConfig()
		cfg.Log.Level = "error"
		cfg.HTTP, cfg.MQTT.Listen, cfg.Data, cfg.Registry = "127.0.0.1:0", "127.0.0.1:0", b.TempDir(), dir
		start := time.Now()
		p, err := Start(context.Background(), Serve, cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		return p, time.Since(start)
	}
	for b.Loop() {
		p, _ := serve(dirs["small"])
		base := rss(b)
		p.Close()
		p, took := serve(dirs["big"])
		full := rss(b)
		p.Close()
		b.ReportMetric(float64(full-base)/float64(devices), "B/device")
		b.ReportMetric(float64(took.Milliseconds()), "ms-to-healthy")
		b.ReportMetric(float64(devices), "devices")
	}
}
