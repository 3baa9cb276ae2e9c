package access_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/clock"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func TestAuthTokens(t *testing.T) {
	ctx := context.Background()
	hash, err := access.HashPasswordCost("correct horse", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, "correct horse") || !strings.HasPrefix(hash, "$2a$04$") {
		t.Fatalf("hash %q is not bcrypt", hash)
	}
	clk := clock.NewFake(t0)
	users := []access.User{{Username: "mfs-1", Role: access.RoleCrew, Station: "MFS-1", PasswordHash: hash}}
	a := access.NewAuth(users, []byte("secret"), time.Hour, clk)
	if _, _, _, err := a.Login(ctx, "mfs-1", "wrong horse", "10.0.0.1"); err != access.ErrBadLogin {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, _, err := a.Login(ctx, "nobody", "correct horse", "10.0.0.1"); err != access.ErrBadLogin {
		t.Fatalf("unknown user: %v", err)
	}
	token, p, exp, err := a.Login(ctx, "mfs-1", "correct horse", "10.0.0.1")
	if err != nil || p.Station != "MFS-1" || !exp.Equal(t0.Add(time.Hour)) {
		t.Fatalf("login: %v %+v %v", err, p, exp)
	}
	if got, err := a.Verify(ctx, token); err != nil || got != p {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// Another instance with the same secret accepts it; another secret not.
	if _, err := access.NewAuth(users, []byte("secret"), time.Hour, clk).Verify(ctx, token); err != nil {
		t.Errorf("same secret: %v", err)
	}
	if _, err := access.NewAuth(users, []byte("other"), time.Hour, clk).Verify(ctx, token); err == nil {
		t.Error("a token signed with another secret was accepted")
	}
	// A crew that edits its token into the 119 centre is refused.
	payload, sig, _ := strings.Cut(token, ".")
	if _, err := a.Verify(ctx, payload[:len(payload)-2]+"xx."+sig); err == nil {
		t.Error("a tampered token was accepted")
	}
	// A user moved to another station must log in again.
	moved := access.NewAuth([]access.User{{Username: "mfs-1", Role: access.RoleCrew, Station: "MFS-2", PasswordHash: hash}}, []byte("secret"), time.Hour, clk)
	if _, err := moved.Verify(ctx, token); err == nil {
		t.Error("a token of a changed user was accepted")
	}
	clk.Advance(time.Hour)
	if _, err := a.Verify(ctx, token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
}

func TestUsersFile(t *testing.T) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	hash := func(pw string) string {
		h, err := access.HashPasswordCost(pw, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if err := access.AddUser(path, access.User{Username: "mfs-1", Role: access.RoleCrew, Station: "MFS-1", PasswordHash: hash("first password 1")}); err != nil {
		t.Fatal(err)
	}
	if err := access.AddUser(path, access.User{Username: "c119", Role: access.RoleCenter119, PasswordHash: hash("second password 2")}); err != nil {
		t.Fatal(err)
	}
	// Adding a user again changes its password.
	if err := access.AddUser(path, access.User{Username: "mfs-1", Role: access.RoleCrew, Station: "MFS-1", PasswordHash: hash("third password 3")}); err != nil {
		t.Fatal(err)
	}
	f, err := access.LoadUsers(path, reg)
	if err != nil || len(f.Users) != 2 {
		t.Fatalf("load: %v %+v", err, f)
	}
	if _, _, _, err := access.NewAuth(f.Users, nil, 0, nil).Login(context.Background(), "mfs-1", "third password 3", "10.0.0.1"); err != nil {
		t.Errorf("changed password: %v", err)
	}
	if err := access.AddUser(path, access.User{Username: "x", Role: access.RoleCrew, PasswordHash: hash("fourth password 4")}); err == nil {
		t.Error("a crew without a station was added")
	}
	bad := "users:\n  - username: a\n    role: chief\n    password_hash: plain\n  - username: b\n    role: crew\n    station: MFS-99\n    password_hash: " + f.Users[0].PasswordHash + "\n"
	os.WriteFile(path, []byte(bad), 0o600)
	_, err = access.LoadUsers(path, reg)
	for _, want := range []string{path + ":3:5: users.0.role", path + ":4:5: users.0.password_hash", path + ":7:5: users.1.station"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	os.WriteFile(path, []byte("users:\n  - username: a\n    password: plain\n"), 0o600)
	if _, err := access.LoadUsers(path, reg); err == nil || !strings.Contains(err.Error(), ":3:5: users.0.password: unknown field") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestHazardScopes: who sees which hazard and which zone's rounds: the
// 119 centre and the sub-district all, a community its own, a grid worker
// its zone's, a crew its station's, a property company what is dispatched
// to it, the administrator none.
func TestHazardScopes(t *testing.T) {
	h := &contract.Hazard{Zone: "Z-04", Community: "C-2", Station: "MFS-2"}
	dispatched := h.Clone()
	dispatched.Responsible = &contract.Responsible{Kind: "property", Name: "福寿街物业"}
	for _, tc := range []struct {
		p                  access.Principal
		sees, seesDisp, ar bool
	}{
		{access.Principal{Role: access.RoleCenter119}, true, true, true},
		{access.Principal{Role: access.RoleSubdistrict}, true, true, true},
		{access.Principal{Role: access.RoleCommunity, Area: "C-2"}, true, true, true},
		{access.Principal{Role: access.RoleCommunity, Area: "C-1"}, false, false, false},
		{access.Principal{Role: access.RoleGridWorker, Area: "Z-04"}, true, true, true},
		{access.Principal{Role: access.RoleGridWorker, Area: "Z-05"}, false, false, false},
		{access.Principal{Role: access.RoleCrew, Station: "MFS-2"}, true, true, false},
		{access.Principal{Role: access.RoleCrew, Station: "MFS-1"}, false, false, false},
		{access.Principal{Role: access.RoleProperty, Org: "福寿街物业"}, false, true, false},
		{access.Principal{Role: access.RoleProperty, Org: "另一家物业"}, false, false, false},
		{access.Principal{Role: access.RoleAdmin}, false, false, false},
		{access.Principal{Role: access.RoleCommunity}, false, false, false},
	} {
		if got := tc.p.SeesHazard(h); got != tc.sees {
			t.Errorf("%+v sees a reported hazard: %v", tc.p, got)
		}
		if got := tc.p.SeesHazard(dispatched); got != tc.seesDisp {
			t.Errorf("%+v sees a hazard dispatched to 福寿街物业: %v", tc.p, got)
		}
		if got := tc.p.SeesArea("Z-04", "C-2"); got != tc.ar {
			t.Errorf("%+v sees zone Z-04's rounds: %v", tc.p, got)
		}
	}
}

// TestAreaAndOrgAreInTheSession: a grid worker's zone and a property
// company's name travel in the session; a user moved to another zone must
// log in again.
func TestAreaAndOrgAreInTheSession(t *testing.T) {
	ctx := context.Background()
	hash, _ := access.HashPasswordCost("correct horse", bcrypt.MinCost)
	clk := clock.NewFake(t0)
	a := access.NewAuth([]access.User{{Username: "gw", Role: access.RoleGridWorker, Area: "Z-01", PasswordHash: hash},
		{Username: "pm", Role: access.RoleProperty, Org: "福寿街物业", PasswordHash: hash}}, []byte("s"), time.Hour, clk)
	token, p, _, err := a.Login(ctx, "gw", "correct horse", "10.0.0.1")
	if err != nil || p.Area != "Z-01" {
		t.Fatalf("log-in: %+v %v", p, err)
	}
	if _, p, _, _ := a.Login(ctx, "pm", "correct horse", "10.0.0.1"); p.Org != "福寿街物业" {
		t.Errorf("property company's session: %+v", p)
	}
	moved := access.NewAuth([]access.User{{Username: "gw", Role: access.RoleGridWorker, Area: "Z-02", PasswordHash: hash}}, []byte("s"), time.Hour, clk)
	if _, err := moved.Verify(ctx, token); err == nil {
		t.Error("the session of a grid worker moved to another zone still works")
	}
}
