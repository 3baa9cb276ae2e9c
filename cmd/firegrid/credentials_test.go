package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/alarm"
	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// TestDevicesCredentials: issuing gives every device one secret, written
// to the credentials file and kept as a hash; issuing again changes
// nothing; rotating changes one device's; revoking removes an account;
// the generated Mosquitto files name every account.
func TestDevicesCredentials(t *testing.T) {
	for name, args := range storeArgs {
		t.Run(name, func(t *testing.T) {
			at := args(t)
			dir := t.TempDir()
			out, mosq := filepath.Join(dir, "creds.csv"), filepath.Join(dir, "mosquitto")
			code, stdout, errs := runCmd(append([]string{"devices", "credentials", "issue", "--out", out,
				"--service", "firegrid-ingest=ingest", "--mosquitto", mosq}, at...)...)
			if code != 0 || !strings.Contains(stdout, "issued 400 device secrets of 400 devices") {
				t.Fatalf("issue: exit %d\n%s%s", code, stdout, errs)
			}
			creds, err := simulator.LoadCredentials(out)
			if err != nil || len(creds) != 400 {
				t.Fatalf("credentials file: %d rows, %v", len(creds), err)
			}
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("credentials file mode %v, want 0600", st.Mode().Perm())
			}
			ingest, err := os.ReadFile(filepath.Join(dir, "firegrid-ingest.password"))
			if err != nil || len(strings.TrimSpace(string(ingest))) != 32 {
				t.Fatalf("ingest's password file: %q %v", ingest, err)
			}
			pw, _ := os.ReadFile(filepath.Join(mosq, "passwd"))
			acl, _ := os.ReadFile(filepath.Join(mosq, "acl"))
			if n := strings.Count(string(pw), ":$7$101$"); n != 401 {
				t.Errorf("passwd has %d $7$ entries, want 401 (400 devices and ingest)", n)
			}
			for _, c := range creds {
				if strings.Contains(string(pw), c.Password) || strings.Contains(string(acl), c.Password) {
					t.Fatal("a secret is in Mosquitto's files")
				}
			}
			if !strings.Contains(string(acl), "\nuser SD-0001\ntopic write fg/v1/smoke/SD-0001/event\n") {
				t.Errorf("acl lacks SD-0001's lines")
			}

			code, stdout, _ = runCmd(append([]string{"devices", "credentials", "issue", "--out", out, "--service", "firegrid-ingest=ingest"}, at...)...)
			again, _ := simulator.LoadCredentials(out)
			ingest2, _ := os.ReadFile(filepath.Join(dir, "firegrid-ingest.password"))
			if code != 0 || !strings.Contains(stdout, "issued 0 device secrets") || again["SD-0001"] != creds["SD-0001"] || string(ingest2) != string(ingest) {
				t.Errorf("issuing again changed secrets: exit %d %s", code, stdout)
			}
			code, stdout, errs = runCmd(append([]string{"devices", "credentials", "rotate", "--device", "SD-0001", "--out", out}, at...)...)
			rotated, _ := simulator.LoadCredentials(out)
			if code != 0 || rotated["SD-0001"] == creds["SD-0001"] || rotated["SD-0002"] != creds["SD-0002"] || len(rotated) != 400 {
				t.Errorf("rotate: exit %d %s%s", code, stdout, errs)
			}
			code, stdout, _ = runCmd(append([]string{"devices", "credentials", "revoke", "--username", "SD-0002"}, at...)...)
			if code != 0 || !strings.Contains(stdout, "revoked 1 of 1") {
				t.Errorf("revoke: exit %d %s", code, stdout)
			}
			code, stdout, _ = runCmd(append([]string{"devices", "credentials", "list"}, at...)...)
			if code != 0 || !strings.Contains(stdout, "400 MQTT accounts") || strings.Contains(stdout, "SD-0002 ") || !strings.Contains(stdout, "firegrid-ingest") {
				t.Errorf("list: exit %d\n%s", code, stdout)
			}
			emqx := filepath.Join(dir, "emqx")
			if code, stdout, errs := runCmd(append([]string{"devices", "credentials", "emqx", "--out", emqx}, at...)...); code != 0 {
				t.Errorf("emqx: exit %d %s%s", code, stdout, errs)
			}
			users, _ := os.ReadFile(filepath.Join(emqx, "users.csv"))
			if !strings.HasPrefix(string(users), "user_id,password_hash,salt,is_superuser\n") || strings.Count(string(users), "\n") != 401 {
				t.Errorf("EMQX users.csv:\n%.300s", users)
			}
			if code, _, errs := runCmd(append([]string{"devices", "credentials", "issue", "--no-devices", "--service", "SD-0003=observer"}, at...)...); code == 0 {
				t.Error("a service named like a device was issued")
			} else if !strings.Contains(errs, "is a device") {
				t.Errorf("service named like a device: %s", errs)
			}
		})
	}
}

// TestGeneratedMosquittoConfiguration runs a real Mosquitto with the
// password and ACL files firegrid generates, as docker-compose.yml does:
// no credentials are refused; a device publishes its own topics only and
// may not read #; firegrid's ingest subscribes (a shared subscription)
// with its own account and takes the device's alarm into an incident.
func TestGeneratedMosquittoConfiguration(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	out, mosq := filepath.Join(dir, "creds.csv"), filepath.Join(dir, "mosquitto")
	if code, stdout, errs := runCmd("devices", "credentials", "issue", "--data", data, "--out", out,
		"--service", "firegrid-ingest=ingest", "--mosquitto", mosq); code != 0 {
		t.Fatalf("issue: exit %d\n%s%s", code, stdout, errs)
	}
	pw, _ := os.ReadFile(filepath.Join(mosq, "passwd"))
	acl, _ := os.ReadFile(filepath.Join(mosq, "acl"))
	url := testenv.Mosquitto(t, testenv.WithMosquittoFile("passwd", pw), testenv.WithMosquittoFile("acl", acl),
		testenv.WithMosquittoConfig("allow_anonymous false\npassword_file passwd\nacl_file acl"))
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "tcp://"), ":")
	client := func(tool string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		b, err := exec.CommandContext(ctx, testenv.Binary(t, tool), append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		return string(b), err
	}

	cfg := assembly.DefaultConfig()
	cfg.HTTP, cfg.Data, cfg.MQTT.URL, cfg.Log.Level = "127.0.0.1:0", data, url, "error"
	cfg.MQTT.Username, cfg.MQTT.PasswordFile = "firegrid-ingest", filepath.Join(dir, "firegrid-ingest.password")
	cfg.Ingest.SharedGroup = "firegrid-ingest"
	cfg.Ingest.ClientID = fmt.Sprintf("firegrid-ingest-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := assembly.Start(ctx, assembly.Serve, cfg, assembly.Options{})
	if err != nil {
		t.Fatalf("ingest with its own account on Mosquitto: %v", err)
	}
	defer s.Close()

	creds, _ := simulator.LoadCredentials(out)
	d := s.Registry.Devices(contract.KindSmoke)[3]
	c := creds[d.ID]
	msg := fmt.Sprintf(`{"ts":%q,"seq":1,"event":"alarm"}`, time.Now().UTC().Format(time.RFC3339Nano))
	if o, err := client("mosquitto_pub", "-q", "1", "-t", "fg/v1/smoke/"+d.ID+"/event", "-m", msg); err == nil {
		t.Errorf("mosquitto_pub without credentials: %s", o)
	}
	if o, err := client("mosquitto_pub", "-u", c.Username, "-P", "wrong", "-q", "1", "-t", "fg/v1/smoke/"+d.ID+"/event", "-m", msg); err == nil {
		t.Errorf("mosquitto_pub with a wrong secret: %s", o)
	}
	if o, err := client("mosquitto_sub", "-u", c.Username, "-P", c.Password, "-t", "#", "-W", "2", "-v"); !strings.Contains(o, "denied") && err == nil {
		t.Errorf("mosquitto_sub # as a device: %q %v", o, err)
	}
	other := s.Registry.Devices(contract.KindSmoke)[4].ID
	if o, err := client("mosquitto_pub", "-u", c.Username, "-P", c.Password, "-q", "1", "-t", "fg/v1/smoke/"+other+"/event", "-m", msg); err != nil {
		t.Logf("publishing another's topic: %s %v", o, err)
	}
	if o, err := client("mosquitto_pub", "-u", c.Username, "-P", c.Password, "-q", "1", "-t", "fg/v1/smoke/"+d.ID+"/event", "-m", msg); err != nil {
		t.Fatalf("mosquitto_pub as %s: %s %v", d.ID, o, err)
	}
	open := func() []*contract.Incident {
		list, _ := s.Manager.List(context.Background(), alarm.Filter{Status: contract.StatusOpen})
		return list
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(open()) > 0 }, "the device's alarm did not become an incident")
	time.Sleep(500 * time.Millisecond)
	if list := open(); len(list) != 1 || list[0].Devices[0] != d.ID {
		t.Errorf("incidents %d, want one, of %s (the alarm published on another's topic must not arrive)", len(list), d.ID)
	}
}
