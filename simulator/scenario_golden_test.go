package simulator

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// TestScenarioGolden: each bad scenario.yaml under testdata/bad, parsed and
// then checked against the demo registry, gets the errors in its
// expected.err (go test -run ScenarioGolden -update rewrites them).
func TestScenarioGolden(t *testing.T) {
	reg, err := devices.LoadFS(configs.FS, "demo")
	if err != nil {
		t.Fatal(err)
	}
	conftest.Golden(t, "testdata/bad", func(t *testing.T, dir string) error {
		name := filepath.Join(dir, "scenario.yaml")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ParseScenario(name, b)
		if err != nil {
			return err
		}
		return sc.Check(reg.Devices(""))
	})
}
