package assembly

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/hazard"
)

// TestShippedConfigIsTheDefault: configs/firegrid.yaml parses strictly and
// says what DefaultConfig does about dispatch.
func TestShippedConfigIsTheDefault(t *testing.T) {
	b, err := fs.ReadFile(configs.FS, "firegrid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Dispatch.Timers = nil
	if err := ParseConfig("configs/firegrid.yaml", b, &cfg); err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if len(cfg.Dispatch.Timers) != len(def.Dispatch.Timers) {
		t.Fatalf("timers %d, default %d", len(cfg.Dispatch.Timers), len(def.Dispatch.Timers))
	}
	for i, r := range cfg.Dispatch.Timers {
		d := def.Dispatch.Timers[i]
		if r.Name != d.Name || r.Ack != d.Ack || r.Arrive != d.Arrive || r.Resolve != d.Resolve || r.Escalate != d.Escalate {
			t.Errorf("timer %d: file %+v, default %+v", i, r, d)
		}
	}
	if cfg.Dispatch.Escalation != def.Dispatch.Escalation {
		t.Errorf("escalation: file %+v, default %+v", cfg.Dispatch.Escalation, def.Dispatch.Escalation)
	}
	if cfg.Dispatch.Timers[0].Ack != time.Minute {
		t.Errorf("fire ack %v", cfg.Dispatch.Timers[0].Ack)
	}
	if fmt.Sprintf("%+v", cfg.Sources) != fmt.Sprintf("%+v", def.Sources) { // [] and nil alike
		t.Errorf("sources: file %+v, default %+v", cfg.Sources, def.Sources)
	}
	// The hazards section says the defaults, all of them.
	cfg = DefaultConfig()
	cfg.Hazards = hazard.Config{}
	if err := ParseConfig("configs/firegrid.yaml", b, &cfg); err != nil {
		t.Fatal(err)
	}
	// (Compared as printed: an empty list in the file is a nil one in
	// the default.)
	if got, want := fmt.Sprintf("%+v", cfg.Hazards), fmt.Sprintf("%+v", hazard.DefaultConfig()); got != want {
		t.Errorf("hazards: the file says\n%s\nthe default is\n%s", got, want)
	}
}

// TestDispatchConfigErrors name the file, the line and the key.
func TestDispatchConfigErrors(t *testing.T) {
	doc := `dispatch:
  timers:
    - name: fire
      types: [fire]
      ack: 1m
      escalate: upward
    - name: fire
      severities: [urgent]
  escalation:
    center: ""
`
	cfg := DefaultConfig()
	err := ParseConfig("firegrid.yaml", []byte(doc), &cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"firegrid.yaml:6:7: dispatch.timers.0.escalate",
		"firegrid.yaml:7:7: dispatch.timers.1.name",
		"firegrid.yaml:8:20: dispatch.timers.1.severities.0",
		"dispatch.timers.1: want at least one of ack, arrive, resolve",
		"firegrid.yaml:10:5: dispatch.escalation.center",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	cfg = DefaultConfig()
	err = ParseConfig("firegrid.yaml", []byte("dispatch:\n  timers:\n    - name: x\n      ack: soon\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "firegrid.yaml:4") {
		t.Errorf("bad duration: %v", err)
	}
}

// TestDemoLogins: the demo has one crew per station, the 119 centre, the
// sub-district and an administrator, a user per community, a grid worker
// per community and a property company; each printed password is strong
// enough and logs in, with its zone, community or company.
func TestDemoLogins(t *testing.T) {
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Demo.Enabled = true
	users, logins, err := loadUsers(context.Background(), cfg, reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	communities := len(reg.Areas(devices.LevelCommunity))
	if len(logins) != len(reg.Stations())+3+2*communities+1 || len(users) != len(logins) {
		t.Fatalf("%d logins for %d stations", len(logins), len(reg.Stations()))
	}
	auth := access.NewAuth(users, nil, 0, nil)
	roles := map[access.Role]int{}
	for _, l := range logins {
		if err := access.CheckPassword(l.Username, l.Password); err != nil {
			t.Errorf("demo password of %s: %v", l.Username, err)
		}
		_, p, _, err := auth.Login(context.Background(), l.Username, l.Password, "127.0.0.1")
		if err != nil || p.Role != l.Role || p.Station != l.Station || p.Area != l.Area || p.Org != l.Org {
			t.Errorf("demo login %s: %v %+v", l.Username, err, p)
		}
		roles[l.Role]++
	}
	if err := (&access.UsersFile{Users: users}).Validate(reg); err != nil {
		t.Errorf("the demo's users: %v", err)
	}
	if roles[access.RoleCenter119] != 1 || roles[access.RoleSubdistrict] != 1 || roles[access.RoleAdmin] != 1 ||
		roles[access.RoleCommunity] != communities || roles[access.RoleGridWorker] != communities || roles[access.RoleProperty] != 1 {
		t.Errorf("roles %v", roles)
	}
}
