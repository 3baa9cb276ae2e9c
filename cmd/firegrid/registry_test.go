package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/store"
)

// storeArgs are the flags naming a fresh store of each kind.
var storeArgs = map[string]func(t *testing.T) []string{
	"sqlite":   func(t *testing.T) []string { return []string{"--data", t.TempDir()} },
	"postgres": func(t *testing.T) []string { return []string{"--postgres", testenv.Postgres(t)} },
}

// TestRegistryImportExport: the demo imported into a database is what
// check-config --registry db sees; an export imports again unchanged; an
// edited export with an error is refused with the file and line.
func TestRegistryImportExport(t *testing.T) {
	for name, args := range storeArgs {
		t.Run(name, func(t *testing.T) {
			at := args(t)
			code, out, errs := runCmd(append([]string{"registry", "import"}, at...)...)
			if code != 0 || !strings.Contains(out, "registry version 1 imported (the embedded demo territory)") {
				t.Fatalf("import: exit %d\n%s%s", code, out, errs)
			}
			_, demo, _ := runCmd("check-config")
			code, out, errs = runCmd(append([]string{"check-config", "--registry", "db"}, at...)...)
			if code != 0 || out != demo || !strings.Contains(out, "400 devices") {
				t.Fatalf("check-config --registry db: exit %d\n%s%s\nwant\n%s", code, out, errs, demo)
			}

			dir := filepath.Join(t.TempDir(), "territory")
			if code, out, errs := runCmd(append([]string{"registry", "export", "--to", dir}, at...)...); code != 0 {
				t.Fatalf("export: exit %d\n%s%s", code, out, errs)
			}
			if code, _, errs := runCmd(append([]string{"registry", "export", "--to", dir}, at...)...); code == 0 || !strings.Contains(errs, "--force") {
				t.Errorf("export over a registry: exit %d %s", code, errs)
			}
			code, out, errs = runCmd(append([]string{"registry", "import", "--from", dir}, at...)...)
			if code != 0 || !strings.Contains(out, "registry version 1 unchanged") {
				t.Errorf("import of the export: exit %d\n%s%s", code, out, errs)
			}

			devicesCSV := filepath.Join(dir, "devices.csv")
			b, _ := os.ReadFile(devicesCSV)
			lines := strings.SplitAfter(string(b), "\n")
			lines[3] = strings.Replace(lines[3], ",smoke,", ",smok,", 1)
			os.WriteFile(devicesCSV, []byte(strings.Join(lines, "")), 0o644)
			code, _, errs = runCmd(append([]string{"registry", "import", "--from", dir}, at...)...)
			if code != 1 || !strings.Contains(errs, devicesCSV+`:4:9: kind: unknown device kind "smok"`) || !strings.Contains(errs, "nothing imported") {
				t.Errorf("import of a broken registry: exit %d: %s", code, errs)
			}

			// One device fewer is a new version, which check-config sees.
			os.WriteFile(devicesCSV, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "")), 0o644)
			code, out, errs = runCmd(append([]string{"registry", "import", "--from", dir, "--note", "SD moved"}, at...)...)
			if code != 0 || !strings.Contains(out, "registry version 2 imported") || !strings.Contains(out, "399 devices") {
				t.Errorf("import of a changed registry: exit %d\n%s%s", code, out, errs)
			}
			if _, out, _ := runCmd(append([]string{"check-config", "--registry", "db"}, at...)...); !strings.Contains(out, "399 devices") {
				t.Errorf("check-config after version 2: %s", out)
			}
		})
	}
	if code, _, errs := runCmd("check-config", "--registry", "db", "--data", t.TempDir()); code != 1 || !strings.Contains(errs, "no registry in the database") {
		t.Errorf("empty database: exit %d %s", code, errs)
	}
}

// TestUsersAddDatabase: users add --postgres (or --data) writes the user
// into the store, where a log-in finds it; the station is checked against
// the database's registry once it holds one.
func TestUsersAddDatabase(t *testing.T) {
	t.Setenv("FIREGRID_PASSWORD", "s3cret-password")
	for name, args := range storeArgs {
		t.Run(name, func(t *testing.T) {
			at := args(t)
			add := func(more ...string) (int, string, string) {
				return runCmd(append(append([]string{"users", "add"}, at...), more...)...)
			}
			if code, out, errs := add("--username", "mfs1", "--role", "crew", "--station", "MFS-1"); code != 0 ||
				!strings.Contains(out, "user mfs1 (crew) written to") {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if code, _, errs := add("--username", "x", "--role", "crew", "--station", "MFS-404"); code == 0 || !strings.Contains(errs, "MFS-404") {
				t.Errorf("unknown station: exit %d %s", code, errs)
			}
			if code, _, errs := add("--username", "x", "--role", "center119", "--file", filepath.Join(t.TempDir(), "u.yaml")); code == 0 ||
				!strings.Contains(errs, "give one") {
				t.Errorf("--file with a database: exit %d %s", code, errs)
			}
			// A territory whose MFS-3 is called MFS-9: once imported, the
			// station is checked against it, not the embedded demo.
			dir := renamedStation(t, "MFS-3", "MFS-9")
			if code, out, errs := runCmd(append([]string{"registry", "import", "--from", dir}, at...)...); code != 0 {
				t.Fatalf("import: exit %d\n%s%s", code, out, errs)
			}
			if code, _, errs := add("--username", "mfs9", "--role", "crew", "--station", "MFS-9"); code != 0 {
				t.Errorf("station of the database's registry: exit %d %s", code, errs)
			}
			if code, _, errs := add("--username", "mfs3", "--role", "crew", "--station", "MFS-3"); code == 0 || !strings.Contains(errs, "MFS-3") {
				t.Errorf("station of the demo only: exit %d %s", code, errs)
			}

			st := openStore(t, at)
			us, err := st.Users(context.Background())
			if err != nil || len(us) != 2 {
				t.Fatalf("users in the database: %+v %v", us, err)
			}
			if _, _, _, err := access.NewAuth(us, nil, 0, nil).Login(context.Background(), "mfs1", "s3cret-password", "127.0.0.1"); err != nil {
				t.Errorf("log in with the added user: %v", err)
			}
		})
	}
}

// openStore opens the store the flags name.
func openStore(t *testing.T, args []string) *store.SQL {
	t.Helper()
	ctx := context.Background()
	var st *store.SQL
	var err error
	switch args[0] {
	case "--data":
		st, err = store.OpenSQLite(ctx, filepath.Join(args[1], "firegrid.db"))
	default:
		var db *sql.DB
		if db, err = sql.Open("pgx", args[1]); err == nil {
			st, err = store.New(ctx, db, store.Postgres)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// renamedStation writes the demo territory with a station renamed.
func renamedStation(t *testing.T, from, to string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := devices.ReadFilesFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		b = []byte(strings.ReplaceAll(string(b), `"`+from+`"`, `"`+to+`"`))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
