package assembly

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// TestConfigGolden: each bad firegrid.yaml under testdata/bad gets the
// errors in its expected.err (go test -run ConfigGolden -update rewrites
// them).
func TestConfigGolden(t *testing.T) {
	conftest.Golden(t, "testdata/bad", func(t *testing.T, dir string) error {
		name := filepath.Join(dir, "firegrid.yaml")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		return ParseConfig(name, b, &cfg)
	})
}

// FuzzParseConfig: ParseConfig never panics, and what it returns is nil or
// *conf.Error values naming the file and the problem.
func FuzzParseConfig(f *testing.F) {
	conftest.Seeds(f, "testdata/bad", "firegrid.yaml")
	if b, err := os.ReadFile("../../configs/firegrid.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := DefaultConfig()
		if err := conftest.Check(ParseConfig("firegrid.yaml", b, &cfg)); err != nil {
			t.Fatal(err)
		}
	})
}
