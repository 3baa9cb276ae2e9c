package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/contract"
)

// runCLI runs the firegrid command with args and returns its exit code and
// output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestSimulateTestLibrary: `firegrid simulate test` plays the embedded
// library in virtual time, exits 0 and writes JUnit XML.
func TestSimulateTestLibrary(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "junit.xml")
	code, out, errOut := runCLI(t, "simulate", "test", "--junit", junit)
	if code != 0 {
		t.Fatalf("exit code %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "PASS kitchen-fire: 3 of 3 expectations held") || !strings.Contains(out, " scenarios, 0 failed") {
		t.Errorf("summary:\n%s", out)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit: %v", err)
	}
	if suites.Failures != 0 || suites.Tests < 20 || len(suites.Suites) < 10 {
		t.Errorf("junit: %d tests, %d failures, %d suites", suites.Tests, suites.Failures, len(suites.Suites))
	}
}

// TestSimulateWrongExpectationExitsOne: a scenario whose expectation is
// wrong makes the command exit 1, and the summary (and the JUnit failure)
// says what was expected and what happened instead.
func TestSimulateWrongExpectationExitsOne(t *testing.T) {
	src, err := os.ReadFile("../../configs/scenarios/hydrant-hit-by-car.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrong := strings.Replace(string(src), "    after: 42s\n    within: 1s", "    within: 20s", 1)
	file := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(file, []byte(wrong), 0o644); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "junit.xml")
	code, out, errOut := runCLI(t, "simulate", "test", "--junit", junit, file)
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"FAIL " + file + ":25: expected a low_pressure incident for site HYD-002, routed to station MFS-1, within 20s; instead low_pressure incident INC-",
		" for site HYD-002 (devices HY-002, station MFS-1) at 42s, 22s late\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary:\n%s\nwant it to contain\n%s", out, want)
		}
	}
	if !strings.Contains(errOut, "expectations failed") {
		t.Errorf("stderr %q", errOut)
	}
	b, _ := os.ReadFile(junit)
	if !strings.Contains(string(b), `<failure message="expected a low_pressure incident`) {
		t.Errorf("junit has no failure:\n%s", b)
	}
}

// TestSimulateVirtualRecordIsByteIdentical: two virtual runs of a library
// scenario with one seed record byte-identical captures to their files;
// another seed records another.
func TestSimulateVirtualRecordIsByteIdentical(t *testing.T) {
	dir := t.TempDir()
	record := func(name, seed string) []byte {
		t.Helper()
		file := filepath.Join(dir, name)
		code, out, errOut := runCLI(t, "simulate", "--virtual", "--scenario", "../../configs/scenarios/kitchen-fire.yaml",
			"--seed", seed, "--record", file)
		if code != 0 {
			t.Fatalf("exit code %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "PASS kitchen-fire") || !strings.Contains(out, "messages written to "+file) {
			t.Errorf("output:\n%s", out)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := record("a.jsonl", "7"), record("b.jsonl", "7"), record("c.jsonl", "8")
	if len(a) < 10000 || !bytes.Equal(a, b) {
		t.Fatalf("two runs with seed 7 recorded different captures (%d and %d bytes)", len(a), len(b))
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 7 and 8 recorded the same capture")
	}
}

// TestSimulateGenerate: `firegrid simulate generate` writes a registry
// that loads, with the devices asked for; the same seed writes the same
// bytes.
func TestSimulateGenerate(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		code, out, errOut := runCLI(t, "simulate", "generate", "--out", dir, "--households", "1000", "--hydrants", "50", "--sheds", "12", "--seed", "4")
		if code != 0 {
			t.Fatalf("exit code %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "1000 households") || !strings.Contains(out, "12 charging sheds, 50 hydrants") {
			t.Errorf("summary: %s", out)
		}
	}
	reg, err := assembly.LoadRegistry(a)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Devices(contract.KindHydrant)); n != 50 {
		t.Errorf("%d hydrant monitors, want 50", n)
	}
	if n := len(reg.Devices(contract.KindCharger)); n != 12 {
		t.Errorf("%d chargers, want 12", n)
	}
	for _, name := range []string{"grid.geojson", "sites.csv", "devices.csv", "residents.csv", "stations.geojson"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: two runs with seed 4 differ (or wrote nothing)", name)
		}
	}
	if code, _, errOut := runCLI(t, "simulate", "generate", "--households", "10"); code != 1 || !strings.Contains(errOut, "--out DIR is required") {
		t.Errorf("without --out: exit code %d, %s", code, errOut)
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 4, 5, 0, time.FixedZone("CST", 8*3600))
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"07:30", time.Date(2026, 11, 23, 7, 30, 0, 0, now.Location())},
		{"19:30:15", time.Date(2026, 11, 23, 19, 30, 15, 0, now.Location())},
		{"2026-11-20T03:00:00Z", time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)},
	} {
		got, err := parseStart(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseStart(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseStart("7.30", now); err == nil {
		t.Error(`parseStart("7.30"): no error`)
	}
}
