package assembly

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/store"
)

// TestAlarmRoleFromDatabase: the alarm role with registry: db and
// dispatch.users: db refuses to start on an empty database, saying what
// to import; once the registry and users are in PostgreSQL it serves that
// registry and logs users in.
func TestAlarmRoleFromDatabase(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Log.Level = "error"
	cfg.Postgres.DSN = testenv.Postgres(t)
	cfg.Kafka.Brokers = testenv.Kafka(t)
	cfg.Registry = FromDatabase
	cfg.Dispatch.Users = FromDatabase
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := func() (*Process, error) {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		p, err := Start(ctx, RoleAlarm, cfg, Options{})
		if err == nil {
			t.Cleanup(func() { p.Close() })
		}
		return p, err
	}

	if _, err := start(); err == nil || !strings.Contains(err.Error(), "no registry in the database") {
		t.Fatalf("start without a registry: %v", err)
	}
	files, err := devices.ReadFilesFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveRegistry(ctx, files, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "the database has no users") {
		t.Fatalf("start without users: %v", err)
	}
	for _, u := range []access.User{
		{Username: "mfs1", Role: access.RoleCrew, Station: "MFS-1", PasswordHash: quickHash(t, "mfs1-secret-1")},
		{Username: "center119", Role: access.RoleCenter119, PasswordHash: quickHash(t, "center-password")},
	} {
		if err := st.SaveUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	p, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Registry.Devices("")); n != 400 {
		t.Errorf("the role serves %d devices, want the demo's 400", n)
	}
	base := "http://" + p.HTTPAddr
	if code, _ := call(t, "GET", base+"/api/v1/incidents", "", "", nil); code != 401 {
		t.Errorf("incidents without a log-in: %d, want 401", code)
	}
	if code, _ := call(t, "POST", base+"/api/v1/login", "", `{"username":"mfs1","password":"wrong-password"}`, nil); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
	token := login(t, p.HTTPAddr, "mfs1", "mfs1-secret-1")
	if code, _ := call(t, "GET", base+"/api/v1/incidents", token, "", nil); code != 200 {
		t.Errorf("incidents with mfs1's token: %d", code)
	}
}

// TestServeFromDatabase: serve with registry: db and dispatch.users: db
// reads both from SQLite in its data directory.
func TestServeFromDatabase(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(data, "firegrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := devices.ReadFilesFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	// The demo without its last device: the registry served is the
	// database's, not the embedded one.
	lines := strings.SplitAfter(strings.TrimSuffix(string(files[devices.DevicesFile]), "\n"), "\n")
	files[devices.DevicesFile] = []byte(strings.Join(lines[:len(lines)-1], ""))
	if _, err := st.SaveRegistry(ctx, files, "test"); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveUser(ctx, access.User{Username: "subdistrict", Role: access.RoleSubdistrict,
		PasswordHash: quickHash(t, "subdistrict-password")}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s := startServe(t, "", "", func(c *Config) {
		c.Data = data
		c.Registry = FromDatabase
		c.Dispatch.Users = FromDatabase
	})
	if n := len(s.Registry.Devices("")); n != 399 {
		t.Errorf("serve has %d devices, want the database's 399", n)
	}
	token := login(t, s.HTTPAddr, "subdistrict", "subdistrict-password")
	if code, _ := call(t, "GET", "http://"+s.HTTPAddr+"/api/v1/incidents", token, "", nil); code != 200 {
		t.Errorf("incidents with the token: %d", code)
	}
}

// TestUsersFromDatabaseChecked: a user of the database whose station the
// registry lacks is refused, by name.
func TestUsersFromDatabaseChecked(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "firegrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := LoadRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveUser(ctx, access.User{Username: "mfs9", Role: access.RoleCrew, Station: "MFS-9",
		PasswordHash: quickHash(t, "mfs9-secret-1")}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Dispatch.Users = FromDatabase
	_, _, err = loadUsers(ctx, cfg, reg, nil, st)
	if err == nil || !strings.Contains(err.Error(), `user "mfs9" in the database: station: "MFS-9" is not a station of the registry`) {
		t.Errorf("unknown station: %v", err)
	}
}
