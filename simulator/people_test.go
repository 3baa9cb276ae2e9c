package simulator_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/simulator"
)

// TestPeopleFiles: the demo's people file parses; a wrong one is refused
// with the file, line and field of each problem.
func TestPeopleFiles(t *testing.T) {
	b, err := fs.ReadFile(configs.FS, "people/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := simulator.ParsePeople("configs/people/demo.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) < 8 || p.Steps[0].Report == nil || !p.Steps[0].Photo {
		t.Errorf("demo people: %+v", p.Steps)
	}
	bad := `name: bad
steps:
  - at: 20s
    as: gw
    report: {name: a, category: other, site: H-1, description: x}
  - at: 10s
    as: c-1
    step: approve
    hazard: b
  - at: 30s
    report: {name: c}
    step: close
    hazard: a
  - at: 40s
    as: gw
    colour: red
`
	_, err = simulator.ParsePeople("people.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "people.yaml:16:5: steps.3.colour") {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = simulator.ParsePeople("people.yaml", []byte(strings.Replace(bad, "    colour: red\n", "    checkin: {plan: door-knocking, object: H-1}\n", 1)))
	for _, want := range []string{
		`people.yaml:6:5: steps.1.at: 10s is before the step above`,
		`people.yaml:8:5: steps.1.step: "approve"`,
		`people.yaml:9:5: steps.1.hazard: "b": no report or order above is named so`,
		`people.yaml:10:5: steps.2.as: required`,
		`people.yaml:10:5: steps.2: want exactly one of report, step, checkin, order`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
