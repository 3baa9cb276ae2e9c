package devices_test

import (
	"io/fs"
	"os"
	"path"
	"testing"
	"testing/fstest"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// caseFS is the demo registry in directory dir, with the files that the
// case directory dir holds in place of the demo's.
func caseFS(t testing.TB, dir string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range devices.FileNames() {
		b, err := fs.ReadFile(configs.FS, path.Join("demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if own, err := os.ReadFile(path.Join(dir, name)); err == nil {
			b = own
		}
		fsys[path.Join(dir, name)] = &fstest.MapFile{Data: b}
	}
	return fsys
}

// TestRegistryGolden: each case under testdata/bad, the demo registry with
// the case's files in place of the demo's, gets the errors in its
// expected.err (go test -run RegistryGolden -update rewrites them).
func TestRegistryGolden(t *testing.T) {
	conftest.Golden(t, "testdata/bad", func(t *testing.T, dir string) error {
		r, err := devices.LoadFS(caseFS(t, dir), dir)
		if (r == nil) == (err == nil) {
			t.Errorf("LoadFS returned %v and %v", r, err)
		}
		return err
	})
}

// FuzzLoadRegistry feeds arbitrary bytes as devices.csv, the other files
// being the demo's: loading never panics, and its errors are *conf.Error
// values naming the file and the problem.
func FuzzLoadRegistry(f *testing.F) {
	conftest.Seeds(f, "testdata/bad", devices.DevicesFile)
	demo, err := fs.ReadFile(configs.FS, "demo/devices.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demo)
	fsys := caseFS(f, "reg")
	f.Fuzz(func(t *testing.T, b []byte) {
		files := fstest.MapFS{}
		for k, v := range fsys {
			files[k] = v
		}
		files["reg/devices.csv"] = &fstest.MapFile{Data: b}
		r, err := devices.LoadFS(files, "reg")
		if (r == nil) == (err == nil) {
			t.Fatalf("LoadFS returned %v and %v", r, err)
		}
		if err := conftest.Check(err); err != nil {
			t.Fatal(err)
		}
	})
}
