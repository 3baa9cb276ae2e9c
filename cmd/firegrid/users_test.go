package main

import (
	"bytes"
	"context"
	"github.com/firegrid/firegrid/access"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsersAdd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	var out, errb bytes.Buffer
	t.Setenv("FIREGRID_PASSWORD", "s3cret-password")
	if code := run([]string{"users", "add", "--file", path, "--username", "mfs1", "--role", "crew", "--station", "MFS-1"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), "password_hash: $2") {
		t.Fatalf("users file does not hold a bcrypt hash only:\n%s", b)
	}
	f, err := access.LoadUsers(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := access.NewAuth(f.Users, nil, 0, nil).Login(context.Background(), "mfs1", "s3cret-password", "127.0.0.1"); err != nil {
		t.Errorf("log in with the added user: %v", err)
	}
	errb.Reset()
	if code := run([]string{"users", "add", "--file", path, "--username", "x", "--role", "crew", "--station", "MFS-404"}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "MFS-404") {
		t.Errorf("unknown station: exit %d %s", code, errb.String())
	}
}

// TestUsersAddGridWorker: a grid worker is added with its zone, a
// property company's user with its company; a zone the registry lacks is
// refused.
func TestUsersAddGridWorker(t *testing.T) {
	t.Setenv("FIREGRID_PASSWORD", "a grid worker's secret 1")
	path := filepath.Join(t.TempDir(), "users.yaml")
	var out, errb bytes.Buffer
	if code := run([]string{"users", "add", "--file", path, "--username", "gw", "--role", "grid_worker", "--area", "Z-04"}, &out, &errb); code != 0 {
		t.Fatalf("grid worker: exit %d %s", code, errb.String())
	}
	if code := run([]string{"users", "add", "--file", path, "--username", "pm", "--role", "property", "--org", "福寿街物业"}, &out, &errb); code != 0 {
		t.Fatalf("property company: exit %d %s", code, errb.String())
	}
	f, err := access.LoadUsers(path, nil)
	if err != nil || len(f.Users) != 2 || f.Users[0].Area != "Z-04" || f.Users[1].Org != "福寿街物业" {
		t.Fatalf("users file: %+v %v", f, err)
	}
	errb.Reset()
	if code := run([]string{"users", "add", "--file", path, "--username", "gw2", "--role", "grid_worker", "--area", "Z-99"}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), `--area "Z-99"`) {
		t.Errorf("unknown zone: exit %d %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"users", "add", "--file", path, "--username", "gw3", "--role", "grid_worker"}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "area: required") {
		t.Errorf("no zone: exit %d %s", code, errb.String())
	}
}
