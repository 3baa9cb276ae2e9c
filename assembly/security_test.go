package assembly

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// mosquittoClient runs mosquitto_pub or mosquitto_sub against url with
// args; it returns the combined output and whether the tool succeeded.
func mosquittoClient(t *testing.T, tool, url string, args ...string) (string, bool) {
	t.Helper()
	bin := testenv.Binary(t, tool)
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// TestDemoDevicesHaveCredentials is the issue's check against `serve
// --demo` with real clients: the demo writes every device's credentials
// to its data directory and its fleet connects with them, one connection
// per device; without credentials mosquitto_pub is refused; with a
// device's it publishes to its own topics only; reading # is refused. A
// restart on the same data directory keeps the secrets.
func TestDemoDevicesHaveCredentials(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "", data, func(c *Config) { c.Demo.Enabled = true })
	if s.DemoCredentials == "" || !strings.HasPrefix(s.DemoCredentials, data) {
		t.Fatalf("credentials file %q, want one in %s", s.DemoCredentials, data)
	}
	st, err := os.Stat(s.DemoCredentials)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v, want 0600", err, st.Mode())
	}
	creds, err := simulator.LoadCredentials(s.DemoCredentials)
	if err != nil || len(creds) != len(s.Registry.Devices("")) {
		t.Fatalf("%d credentials for %d devices: %v", len(creds), len(s.Registry.Devices("")), err)
	}
	n := float64(len(creds))
	testenv.Eventually(t, 20*time.Second, func() bool { return metric(t, s.HTTPAddr, "firegrid_broker_clients_connected") >= n },
		"the demo fleet is not connected one connection per device")

	d := elderlyDetector(t, s.Registry)
	c := creds[d.ID]
	payload := `{"ts":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","seq":1,"values":{"battery_pct":90}}`
	if out, ok := mosquittoClient(t, "mosquitto_pub", s.MQTTURL, "-q", "1", "-t", "fg/v1/smoke/"+d.ID+"/telemetry", "-m", payload); ok {
		t.Errorf("mosquitto_pub without credentials succeeded: %s", out)
	}
	before := metric(t, s.HTTPAddr, `firegrid_ingest_messages_received_total{kind="smoke"}`)
	if out, ok := mosquittoClient(t, "mosquitto_pub", s.MQTTURL, "-u", c.Username, "-P", c.Password, "-q", "1",
		"-t", "fg/v1/smoke/"+d.ID+"/telemetry", "-m", payload); !ok {
		t.Fatalf("mosquitto_pub as %s to its own topic: %s", d.ID, out)
	}
	if metric(t, s.HTTPAddr, `firegrid_ingest_messages_received_total{kind="smoke"}`) <= before {
		t.Error("the device's own message did not reach ingest")
	}
	other := s.Registry.Devices("smoke")[0].ID
	if other == d.ID {
		other = s.Registry.Devices("smoke")[1].ID
	}
	denied := metric(t, s.HTTPAddr, `firegrid_broker_refused_total{reason="publish_denied"}`)
	mosquittoClient(t, "mosquitto_pub", s.MQTTURL, "-u", c.Username, "-P", c.Password, "-q", "1",
		"-t", "fg/v1/smoke/"+other+"/event", "-m", `{"seq":1,"event":"alarm"}`)
	if metric(t, s.HTTPAddr, `firegrid_broker_refused_total{reason="publish_denied"}`) != denied+1 {
		t.Error("publishing another device's alarm was not refused")
	}
	if out, _ := mosquittoClient(t, "mosquitto_sub", s.MQTTURL, "-u", c.Username, "-P", c.Password, "-t", "#", "-W", "3", "-v"); !strings.Contains(out, "denied") ||
		strings.Contains(out, "fg/v1/") {
		t.Errorf("mosquitto_sub # as a device: %q, want it denied", out)
	}
	if metric(t, s.HTTPAddr, `firegrid_broker_refused_total{reason="no_credentials"}`) < 1 {
		t.Error("the refused connection without credentials is not counted")
	}
	s.Close()

	s2 := startServe(t, "", data, func(c *Config) { c.Demo.Enabled = true })
	again, err := simulator.LoadCredentials(s2.DemoCredentials)
	if err != nil || again[d.ID] != c {
		t.Errorf("after a restart the secret of %s changed: %v", d.ID, err)
	}
}
