package access_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// TestUsersGolden: each bad users.yaml under testdata/bad, checked against
// the demo registry, gets the errors in its expected.err (go test -run
// UsersGolden -update rewrites them).
func TestUsersGolden(t *testing.T) {
	reg := demoRegistry(t)
	conftest.Golden(t, "testdata/bad", func(t *testing.T, dir string) error {
		name := filepath.Join(dir, "users.yaml")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := access.ParseUsers(name, b, reg)
		if (f == nil) == (err == nil) {
			t.Errorf("ParseUsers returned %v and %v", f, err)
		}
		return err
	})
}

// FuzzParseUsers: ParseUsers never panics, and what it returns is nil or
// *conf.Error values naming the file and the problem.
func FuzzParseUsers(f *testing.F) {
	conftest.Seeds(f, "testdata/bad", "users.yaml")
	reg := demoRegistry(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := access.ParseUsers("users.yaml", b, reg)
		if (u == nil) == (err == nil) {
			t.Fatalf("ParseUsers returned %v and %v", u, err)
		}
		if err := conftest.Check(err); err != nil {
			t.Fatal(err)
		}
	})
}

func demoRegistry(t testing.TB) *devices.Registry {
	t.Helper()
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
