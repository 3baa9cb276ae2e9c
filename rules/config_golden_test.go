package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/firegrid/firegrid/internal/conf/conftest"
)

// TestRulesGolden: each bad rules.yaml under testdata/bad gets the errors
// in its expected.err (go test -run RulesGolden -update rewrites them).
func TestRulesGolden(t *testing.T) {
	conftest.Golden(t, "testdata/bad", func(t *testing.T, dir string) error {
		name := filepath.Join(dir, "rules.yaml")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(name, b)
		if (cfg == nil) == (err == nil) {
			t.Errorf("Parse returned %v and %v", cfg, err)
		}
		return err
	})
}

// FuzzParseRules: Parse never panics, and what it returns is nil or
// *conf.Error values naming the file and the problem.
func FuzzParseRules(f *testing.F) {
	conftest.Seeds(f, "testdata/bad", "rules.yaml")
	f.Add(shippedRules(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse("rules.yaml", b)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned %v and %v", cfg, err)
		}
		if err := conftest.Check(err); err != nil {
			t.Fatal(err)
		}
	})
}
