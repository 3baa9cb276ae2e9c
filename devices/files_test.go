package devices

import (
	"errors"
	"github.com/firegrid/firegrid/internal/conf"
	"strings"
	"testing"
	"testing/fstest"
)

// TestMemFS: the in-memory directory LoadFiles reads behaves as an fs.FS.
func TestMemFS(t *testing.T) {
	fsys := memFS{GridFile: []byte("{}"), SitesFile: []byte("id,type,lon,lat\n")}
	if err := fstest.TestFS(fsys, GridFile, SitesFile); err != nil {
		t.Fatal(err)
	}
}

// TestLoadFilesAsLoad: the demo's files read into memory load as the
// directory does, and a broken file is refused naming the file and line.
func TestLoadFilesAsLoad(t *testing.T) {
	files, err := ReadFiles("../configs/demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(FileNames()) {
		t.Fatalf("read %d files, want %d", len(files), len(FileNames()))
	}
	want, err := Load("../configs/demo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Devices("")) != len(want.Devices("")) || len(got.Sites()) != len(want.Sites()) || len(got.Stations()) != len(want.Stations()) {
		t.Errorf("LoadFiles: %d devices, %d sites, %d stations; Load: %d, %d, %d", len(got.Devices("")), len(got.Sites()),
			len(got.Stations()), len(want.Devices("")), len(want.Sites()), len(want.Stations()))
	}

	broken := map[string][]byte{}
	for k, v := range files {
		broken[k] = v
	}
	broken[DevicesFile] = []byte("id,kind,site\nSD-X,smok,H-0001\n")
	_, err = LoadFiles(broken)
	var fe *conf.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), `devices.csv:2:6: kind: unknown device kind "smok"`) {
		t.Errorf("broken devices.csv: %v", err)
	}

	delete(broken, DevicesFile)
	broken["devices.cvs"] = nil
	if _, err := LoadFiles(broken); err == nil || !strings.Contains(err.Error(), "devices.cvs: not a registry file") {
		t.Errorf("unknown file: %v", err)
	}
	delete(broken, "devices.cvs")
	if _, err := LoadFiles(broken); err == nil || !strings.Contains(err.Error(), "devices.csv: missing") {
		t.Errorf("missing devices.csv: %v", err)
	}
}
