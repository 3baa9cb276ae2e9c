// Package conftest holds what the tests of firegrid's configuration
// loaders share: golden files of bad configurations and the property their
// fuzz tests check.
//
// A loader's golden cases live in its package, one directory per case:
//
//	testdata/bad/<case>/<the bad file(s)>
//	testdata/bad/<case>/expected.err
//
// expected.err holds the exact text of the error the loader returns for
// the case (err.Error(), a line per problem, and a final newline).
// Run the package's golden test with -update to rewrite the expected.err
// files from what the loader says now, then read the diff.
package conftest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/internal/conf"
)

var update = flag.Bool("update", false, "rewrite the expected.err files of the golden tests with the errors the loaders return")

// Golden runs load on each case directory under dir and compares the text
// of the error it returns with the case's expected.err; with -update it
// writes expected.err instead. Every case must fail, with *conf.Error
// values only (see Check).
func Golden(t *testing.T, dir string, load func(t *testing.T, caseDir string) error) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range entries {
		if !c.IsDir() {
			continue
		}
		n++
		caseDir := filepath.ToSlash(filepath.Join(dir, c.Name()))
		t.Run(c.Name(), func(t *testing.T) {
			err := load(t, caseDir)
			if err == nil {
				t.Fatalf("%s loaded without error", caseDir)
			}
			if bad := Check(err); bad != nil {
				t.Error(bad)
			}
			got := err.Error() + "\n"
			golden := filepath.Join(caseDir, "expected.err")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run the test with -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("the errors differ from %s (-update rewrites it)\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no cases in %s", dir)
	}
}

// Check returns nil when err is nil or is, or joins, only *conf.Error
// values that name a file and say what is wrong on one line; otherwise an
// error saying which is not.
func Check(err error) error {
	var bad []error
	for _, e := range conf.Unwrap(err) {
		ce, ok := e.(*conf.Error)
		switch {
		case !ok:
			bad = append(bad, fmt.Errorf("%T is not a *conf.Error: %v", e, e))
		case ce.File == "":
			bad = append(bad, fmt.Errorf("no file: %#v", ce))
		case ce.Msg == "":
			bad = append(bad, fmt.Errorf("no message: %#v", ce))
		case strings.ContainsAny(ce.Error(), "\n\r"):
			bad = append(bad, fmt.Errorf("more than one line: %q", ce.Error()))
		case ce.Line < 0 || ce.Column < 0 || ce.Line == 0 && ce.Column != 0:
			bad = append(bad, fmt.Errorf("bad position: %#v", ce))
		}
	}
	return errors.Join(bad...)
}

// Seeds adds the file named name of each case directory under dir to f's
// seed corpus.
func Seeds(f *testing.F, dir, name string) {
	files, err := filepath.Glob(filepath.Join(dir, "*", name))
	if err != nil || len(files) == 0 {
		f.Fatalf("no %s under %s (%v)", name, dir, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// Updating reports whether the test run was asked to rewrite its golden
// files (-update).
func Updating() bool { return *update }
