package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfigDemo(t *testing.T) {
	code, out, errs := runCmd("check-config")
	if code != 0 || !strings.Contains(out, "configuration ok") || !strings.Contains(out, "gap: zone_without_station Z-06") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// TestCheckConfigErrors: a wrong file gets a message naming the file, the
// line and the key; so do bad rules and a bad registry.
func TestCheckConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "firegrid.yaml")
	os.WriteFile(cfg, []byte("http: 127.0.0.1:8080\ningest:\n  max_payload: 10\n"), 0o644)
	code, _, errs := runCmd("check-config", "--config", cfg)
	if code != 1 || !strings.Contains(errs, cfg+":3:3: ingest.max_payload") {
		t.Errorf("bad config: exit %d: %s", code, errs)
	}
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("heartbeat_timeouts: {smoke: 5m}\nrules:\n  - id: a\n    kind: smoke\n    events: [alarm]\n    incident: fire\n    severity: urgent\n"), 0o644)
	code, _, errs = runCmd("check-config", "--rules", rules)
	if code != 1 || !strings.Contains(errs, rules+":7:5: rules.0.severity (id \"a\"): \"urgent\"") {
		t.Errorf("bad rules: exit %d: %s", code, errs)
	}
	code, _, errs = runCmd("check-config", "--registry", filepath.Join(dir, "nowhere"))
	if code != 1 || !strings.Contains(errs, "registry") {
		t.Errorf("missing registry: exit %d: %s", code, errs)
	}
}

func TestUsage(t *testing.T) {
	if code, _, errs := runCmd("explode"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %s", code, errs)
	}
	if code, _, errs := runCmd("serve", "--no-such-flag"); code != 1 || !strings.Contains(errs, "no-such-flag") {
		t.Errorf("unknown flag: %d %s", code, errs)
	}
}
