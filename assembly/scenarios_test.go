package assembly

import (
	"context"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/simulator"
)

// libraryScenario loads one scenario of configs/scenarios.
func libraryScenario(t *testing.T, name string) *simulator.Scenario {
	t.Helper()
	b, err := fs.ReadFile(configs.FS, "scenarios/"+name)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := simulator.ParseScenario(path.Join("configs/scenarios", name), b)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestScenarioLibrary is the test command of the scenario library: every
// scenario of configs/scenarios with expectations plays against a fresh
// in-process firegrid in virtual time, and each expectation must hold.
func TestScenarioLibrary(t *testing.T) {
	files, _ := fs.Glob(configs.FS, "scenarios/*.yaml")
	ran := 0
	for _, f := range files {
		name := path.Base(f)
		sc := libraryScenario(t, name)
		if len(sc.Expect) == 0 {
			continue
		}
		ran++
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := RunScenario(ctx, testConfig(t), sc, ScenarioRun{Source: captureSource(t, sc)})
			if err != nil {
				t.Fatal(err)
			}
			var sum strings.Builder
			rep.WriteSummary(&sum)
			t.Log(sum.String())
			if !rep.OK() {
				t.Error("expectations failed")
			}
			for _, r := range rep.Results {
				if r.Outcome == simulator.Skipped {
					t.Logf("skipped %s: %s", r.Expectation, r.Detail)
				}
			}
		})
	}
	if ran < 5 {
		t.Errorf("only %d scenarios with expectations in configs/scenarios", ran)
	}
}

// captureSource opens the embedded capture a scenario replays; nil when
// it has none.
func captureSource(t *testing.T, sc *simulator.Scenario) simulator.Source {
	t.Helper()
	p := sc.CapturePath()
	if p == "" {
		return nil
	}
	f, err := configs.FS.Open(strings.TrimPrefix(p, "configs/"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := simulator.ReadCapture(p, f)
	if err != nil {
		t.Fatal(err)
	}
	return simulator.NewReplay(recs)
}

// testConfig is the default configuration, quiet.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Log.Level = "warn"
	return cfg
}

// TestWrongExpectationFails: the kitchen fire with a deliberately wrong
// station fails, and the summary says what was expected and what happened
// instead.
func TestWrongExpectationFails(t *testing.T) {
	sc := libraryScenario(t, "kitchen-fire.yaml")
	sc.Expect[0].Station = "MFS-9"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := RunScenario(ctx, testConfig(t), sc, ScenarioRun{Source: captureSource(t, sc)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("a wrong station passed")
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	for _, want := range []string{
		"FAIL configs/scenarios/kitchen-fire.yaml:48: expected a fire incident for site H-0108 with device SD-0108, severity critical, routed to station MFS-9, between 5s and 15s; instead fire incident INC-",
		" for site H-0108 (devices SD-0108, station MFS-2) at 5s was routed to station MFS-2, not MFS-9\n",
	} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary:\n%s\nwant it to contain\n%s", sum.String(), want)
		}
	}
	if rep.Count(simulator.Passed) != 2 {
		t.Errorf("%d expectations held, want the other 2", rep.Count(simulator.Passed))
	}
}
