package assembly

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/internal/conf/conftest"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/notify"
)

// want lists, by hand, what a process must run: consumer groups (with the
// topics each reads) and tasks. It is written from what the configuration
// asks for, not from the catalogue, so that a capability missing from a
// role, or running twice, fails here.
type want struct {
	consumers map[string]string // group -> topics, comma-separated
	tasks     []string          // component/task
}

func (w want) sorted() []string {
	var out []string
	for g, topics := range w.consumers {
		out = append(out, "consumer "+g+" ["+topics+"]")
	}
	for _, t := range w.tasks {
		out = append(out, "task "+t)
	}
	slices.Sort(out)
	return out
}

func running(p *Process) []string {
	var out []string
	for _, r := range p.Running() {
		if r.Kind == "consumer" {
			out = append(out, "consumer "+r.Name+" ["+strings.Join(r.Topics, ",")+"]")
		} else {
			out = append(out, "task "+r.Component+"/"+r.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestEachProcessRunsWhatItsConfigurationAsks starts serve and each role,
// with and without notifiers and InfluxDB, and compares the consumer
// groups and tasks that run with what the configuration asks for: every
// capability of the alarm role (timers, relay, hazards, notifications, recent
// values, console stream, dead letters) runs in serve and in the alarm
// role alike.
func TestEachProcessRunsWhatItsConfigurationAsks(t *testing.T) {
	pg := testenv.Postgres(t)
	mqttURL := testenv.Mosquitto(t)
	brokers := testenv.Kafka(t)
	alarmBase := map[string]string{
		"alarm":          "signals",
		"hazards":        "incidents",
		"recent-i1":      "telemetry,events",
		"console-i1":     "incidents",
		"deadletters-i1": "deadletters",
	}
	alarmTasks := []string{"alarm/timers", "alarm/relay", "hazards/deadlines"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	rulesGroups := map[string]string{"rules": "telemetry,events", "rules-control-i1": "control"}
	sinkGroups := map[string]string{"sink-readings": "telemetry,events", "sink-incidents": "incidents"}
	serveAll := with(with(alarmBase, "rules", "telemetry,events", "rules-control-i1", "control", "downlink", "commands"))
	for _, tc := range []struct {
		name      string
		role      string
		notifiers bool
		influx    bool
		demo      bool
		want      want
	}{
		{"serve", Serve, false, false, false, want{serveAll, append(slices.Clone(alarmTasks), "rules/ticks", "journal/checkpoints", "ingest/mqtt", "ingest/field")}},
		{"serve with notifiers, InfluxDB and the demo", Serve, true, true, true, want{
			with(serveAll, "notify", "incidents", "notify-hazards", "hazards", "sink-readings", "telemetry,events", "sink-incidents", "incidents"),
			append(slices.Clone(alarmTasks), "notify/deliveries", "rules/ticks", "sink/writer", "journal/checkpoints", "ingest/mqtt", "ingest/field", "demo/fleet", "demo/people")}},
		{"ingest", RoleIngest, true, true, false, want{map[string]string{"downlink": "commands"}, []string{"ingest/mqtt", "ingest/field"}}},
		{"rules", RoleRules, true, true, false, want{rulesGroups, []string{"rules/ticks"}}},
		{"alarm", RoleAlarm, false, false, false, want{alarmBase, alarmTasks}},
		{"alarm with notifiers", RoleAlarm, true, true, false, want{with(alarmBase, "notify", "incidents", "notify-hazards", "hazards"),
			append(slices.Clone(alarmTasks), "notify/deliveries")}},
		{"sink", RoleSink, true, true, false, want{sinkGroups, []string{"sink/writer"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.HTTP, cfg.Instance = "127.0.0.1:0", "i1"
			cfg.Data = t.TempDir()
			cfg.Ingest.ClientID = fmt.Sprintf("fg-plan-%d", time.Now().UnixNano())
			if tc.role == Serve {
				cfg.MQTT.Listen = testenv.FreeAddr(t)
			} else {
				cfg.MQTT.URL, cfg.Postgres.DSN, cfg.Kafka.Brokers = mqttURL, pg, brokers
			}
			if tc.notifiers {
				cfg.Dispatch.Notifiers = []notify.Config{{Name: "province", URL: "http://127.0.0.1:9/cap", Format: "json", Secret: "s3cret"}}
			}
			if tc.influx {
				cfg.Influx.URL = "http://127.0.0.1:9" // nothing listens: the sink buffers and retries
			}
			cfg.Demo.Enabled = tc.demo
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p, err := Start(ctx, tc.role, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			got, exp := running(p), tc.want.sorted()
			if !slices.Equal(got, exp) {
				t.Errorf("runs\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
			}
			// The catalogue says the same.
			plan, err := Expected(tc.role, "i1", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) != len(p.Running()) {
				t.Errorf("the plan lists %d consumers and tasks, the process runs %d", len(plan), len(p.Running()))
			}
		})
	}
}

// TestStagesImportOnlyTheContract: the layout is the architecture. A
// stage imports the contract and the registry, never another stage or an
// adapter; adapters never import the assembly; the time-series sink does
// not even depend on the incident core.
func TestStagesImportOnlyTheContract(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "github.com/firegrid/firegrid/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/firegrid/firegrid/"
	floor := map[string]int{
		"contract": 0, "ingest/gb26875": 0, "internal/clock": 0, "internal/conf": 0, "internal/minheap": 0, "configs": 0,
		"devices": 1,
		"ingest":  2, "rules": 2, "alarm": 2, "access": 2, "hazard": 2,
		"bus": 3, "broker": 3, "store": 3, "tsdb": 3, "notify": 3, "capalert": 3, "console": 3,
		"simulator": 3, "simulator/territory": 3, "journal": 3, "gateway": 3,
		"assembly": 4,
	}
	stages := map[string]bool{"ingest": true, "rules": true, "alarm": true, "access": true, "hazard": true}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		pkg = strings.TrimPrefix(pkg, mod)
		f, ok := floor[pkg]
		if !ok {
			continue // commands, tools, test helpers
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			dep, ok := strings.CutPrefix(imp, mod)
			if !ok {
				continue
			}
			df, known := floor[dep]
			switch {
			case !known:
				t.Errorf("%s imports %s, which has no place in the layout", pkg, dep)
			case stages[pkg] && stages[dep]:
				t.Errorf("stage %s imports stage %s: its messages belong in contract", pkg, dep)
			case df >= f && !(f == 3 && df == 3 && adapterMayUse(pkg, dep)):
				t.Errorf("%s (floor %d) imports %s (floor %d): an import against the pipeline", pkg, f, dep, df)
			}
		}
	}
	if checked < len(floor)-1 {
		t.Errorf("checked %d packages, want %d", checked, len(floor))
	}
	deps, err := exec.Command("go", "list", "-deps", "github.com/firegrid/firegrid/tsdb").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(deps), mod+"alarm\n") {
		t.Error("go list -deps ./tsdb contains alarm")
	}
}

// adapterMayUse lists the adapters that build on another: the notifiers
// and the console write CAP through capalert.
func adapterMayUse(pkg, dep string) bool {
	return dep == "capalert" && (pkg == "notify" || pkg == "console")
}

// TestREADMEListsWhatEachRoleRuns: the README's table of what each role
// runs is the catalogue's (go test -run READMEListsWhatEachRoleRuns
// -update rewrites it).
func TestREADMEListsWhatEachRoleRuns(t *testing.T) {
	const begin, end = "<!-- roles: generated from assembly.RolesTable -->\n", "<!-- /roles -->\n"
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q section", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	want := RolesTable()
	if got := s[i+len(begin) : j]; got != want {
		if conftest.Updating() {
			if err := os.WriteFile("../README.md", []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's roles table is not the catalogue's (-update rewrites it); want\n%s", want)
	}
}

// TestSinkRoleWithoutInfluxSaysSo: a role with nothing to run is refused
// with what it needs.
func TestSinkRoleWithoutInfluxSaysSo(t *testing.T) {
	cfg := testConfig(t)
	cfg.Influx.URL = ""
	_, err := Start(context.Background(), RoleSink, cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "influx.url") {
		t.Errorf("sink role without InfluxDB: %v", err)
	}
}
