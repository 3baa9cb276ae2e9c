package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf"
)

func demoFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := devices.ReadFilesFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRegistry: the demo's files go in and come back as the same registry;
// an invalid registry is refused with the loader's file and line and
// leaves nothing behind; each changed import is a new version.
func TestRegistry(t *testing.T) {
	want, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if _, _, err := s.LoadRegistry(ctx); !errors.Is(err, ErrNoRegistry) {
				t.Fatalf("empty database: %v, want ErrNoRegistry", err)
			}

			files := demoFiles(t)
			v1, err := s.SaveRegistry(ctx, files, "demo")
			if err != nil || v1 != 1 {
				t.Fatalf("save demo: version %d, %v", v1, err)
			}
			reg, v, err := s.LoadRegistry(ctx)
			if err != nil || v != v1 {
				t.Fatalf("load: version %d, %v", v, err)
			}
			if len(reg.Devices("")) != len(want.Devices("")) || len(reg.Sites()) != len(want.Sites()) ||
				len(reg.Stations()) != len(want.Stations()) || len(reg.Areas(devices.LevelZone)) != len(want.Areas(devices.LevelZone)) {
				t.Errorf("loaded %d devices, %d sites, %d stations; the demo has %d, %d, %d", len(reg.Devices("")), len(reg.Sites()),
					len(reg.Stations()), len(want.Devices("")), len(want.Sites()), len(want.Stations()))
			}
			// CH-004 is in the zone without a station: the nearest answers.
			for id, station := range map[string]string{"SD-0001": "MFS-1", "CH-004": "MFS-3"} {
				d, ok := reg.Device(id)
				if !ok {
					t.Fatalf("device %s not loaded", id)
				}
				if _, st := reg.Route(d.Location); st == nil || st.ID != station || d.Station() != station {
					t.Errorf("%s routed to %v (device says %s), want %s", id, st, d.Station(), station)
				}
			}
			back, _, err := s.RegistryFiles(ctx, v1)
			if err != nil || len(back) != len(files) || !bytes.Equal(back[devices.GridFile], files[devices.GridFile]) {
				t.Errorf("files back: %d of %d, %v", len(back), len(files), err)
			}

			// The same files again: no new version.
			if v, err := s.SaveRegistry(ctx, demoFiles(t), "again"); err != nil || v != v1 {
				t.Errorf("unchanged import: version %d, %v; want %d", v, err, v1)
			}

			// A device of an unknown kind on line 2: refused, nothing saved.
			bad := demoFiles(t)
			lines := strings.SplitAfter(string(bad[devices.DevicesFile]), "\n")
			lines[1] = strings.Replace(lines[1], ",smoke,", ",smok,", 1)
			bad[devices.DevicesFile] = []byte(strings.Join(lines, ""))
			_, err = s.SaveRegistry(ctx, bad, "broken")
			var fe *conf.Error
			if !errors.As(err, &fe) || fe.File != devices.DevicesFile || fe.Line != 2 || fe.Field != "kind" || !strings.Contains(err.Error(), `devices.csv:2:9: kind: unknown device kind "smok"`) {
				t.Errorf("invalid registry: %v, want the loader's devices.csv:2 error", err)
			}
			if vs, err := s.RegistryVersions(ctx); err != nil || len(vs) != 1 {
				t.Errorf("after a refused import: %d versions, %v; want 1", len(vs), err)
			}

			// One device fewer: version 2, in force.
			fewer := demoFiles(t)
			lines = strings.SplitAfter(strings.TrimSuffix(string(fewer[devices.DevicesFile]), "\n"), "\n")
			fewer[devices.DevicesFile] = []byte(strings.Join(lines[:len(lines)-1], ""))
			v2, err := s.SaveRegistry(ctx, fewer, "one device removed")
			if err != nil || v2 != v1+1 {
				t.Fatalf("changed import: version %d, %v; want %d", v2, err, v1+1)
			}
			reg, v, err = s.LoadRegistry(ctx)
			if err != nil || v != v2 || len(reg.Devices("")) != len(want.Devices(""))-1 {
				t.Errorf("latest: version %d, %v", v, err)
			}
			vs, err := s.RegistryVersions(ctx)
			if err != nil || len(vs) != 2 || vs[0].Version != v2 || vs[0].Note != "one device removed" || vs[0].LoadedAt.IsZero() {
				t.Errorf("versions: %+v %v", vs, err)
			}
			if _, _, err := s.RegistryFiles(ctx, 9); err == nil {
				t.Error("version 9 found")
			}
		})
	}
}

// TestUsers: users go in and come back; saving a username again replaces
// the user, as in the users file; a user the users file would refuse is
// refused.
func TestUsers(t *testing.T) {
	hash := func(pw string) string {
		h, err := access.HashPasswordCost(pw, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			if us, err := s.Users(ctx); err != nil || len(us) != 0 {
				t.Fatalf("empty: %v %v", us, err)
			}
			crew := access.User{Username: "mfs1", Name: "王队长", Role: access.RoleCrew, Station: "MFS-1", PasswordHash: hash("first-secret-1")}
			center := access.User{Username: "center119", Role: access.RoleCenter119, PasswordHash: hash("center-secret-1")}
			for _, u := range []access.User{crew, center} {
				if err := s.SaveUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			us, err := s.Users(ctx)
			if err != nil || len(us) != 2 || us[0] != center || us[1] != crew {
				t.Fatalf("users: %+v %v", us, err)
			}
			// The same username again: a new password and station.
			crew.Station, crew.PasswordHash = "MFS-2", hash("second-secret-2")
			if err := s.SaveUser(ctx, crew); err != nil {
				t.Fatal(err)
			}
			us, _ = s.Users(ctx)
			if len(us) != 2 || us[1] != crew {
				t.Fatalf("after replacing mfs1: %+v", us)
			}
			auth := access.NewAuth(us, nil, 0, nil)
			if _, p, _, err := auth.Login(ctx, "mfs1", "second-secret-2", "127.0.0.1"); err != nil || p.Station != "MFS-2" {
				t.Errorf("log in with the new password: %+v %v", p, err)
			}
			if _, _, _, err := auth.Login(ctx, "mfs1", "first-secret-1", "127.0.0.1"); err == nil {
				t.Error("the old password still logs in")
			}
			for _, bad := range []access.User{
				{Username: "nostation", Role: access.RoleCrew, PasswordHash: hash("some-secret-3")},
				{Username: "plain", Role: access.RoleCenter119, PasswordHash: "not-a-hash"},
				{Username: "x", Role: "chief", PasswordHash: hash("some-secret-3")},
			} {
				if err := s.SaveUser(ctx, bad); err == nil {
					t.Errorf("user %+v saved", bad)
				}
			}
			if us, _ := s.Users(ctx); len(us) != 2 {
				t.Errorf("refused users were saved: %+v", us)
			}
			// The hazard loop's users keep their zone, community or company.
			gw := access.User{Username: "gw-z01", Role: access.RoleGridWorker, Area: "Z-01", PasswordHash: hash("grid-secret-4")}
			pm := access.User{Username: "pm", Role: access.RoleProperty, Org: "福寿街物业", PasswordHash: hash("prop-secret-5")}
			for _, u := range []access.User{gw, pm} {
				if err := s.SaveUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if us, _ := s.Users(ctx); len(us) != 4 || us[1] != gw || us[3] != pm {
				t.Errorf("grid worker and property company: %+v", us)
			}
		})
	}
}
