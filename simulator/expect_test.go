package simulator

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

const expectScenario = `
name: expect
steps:
  - at: 5s
    device: SD-0001
    event: alarm
expect:
  - incident: fire
    device: SD-0001
    station: MFS-2
    after: 5s
    within: 10s
  - incident: test
    none: true
  - command: port_off
    device: CH-001
    port: 3
    within: 1m
  - escalation: fire
    site: H-0001
    within: 2m
`

func change(typ, site, station string, devs ...string) *IncidentChange {
	c := &IncidentChange{Event: "opened"}
	c.Incident.ID, c.Incident.Type, c.Incident.Site, c.Incident.Station = "INC-"+site+"-"+typ, typ, site, station
	c.Incident.Severity, c.Incident.Devices = "critical", devs
	return c
}

func TestParseExpectations(t *testing.T) {
	sc := mustParse(t, expectScenario)
	if len(sc.Expect) != 4 {
		t.Fatalf("%d expectations, want 4", len(sc.Expect))
	}
	e := sc.Expect[0]
	want := Expectation{Index: 0, Line: 8, Kind: ExpectIncident, Type: "fire", Device: "SD-0001", Station: "MFS-2", After: 5 * time.Second, Within: 10 * time.Second}
	if e != want {
		t.Errorf("expect[0] = %+v, want %+v", e, want)
	}
	if got := sc.Expect[2]; got.Kind != ExpectCommand || got.Port != 3 || got.Type != "port_off" {
		t.Errorf("expect[2] = %+v", got)
	}
	if got := sc.Expect[1].String(); got != "no test incident" {
		t.Errorf("String() = %q", got)
	}
	if got := sc.Expect[0].String(); got != "a fire incident with device SD-0001, routed to station MFS-2, between 5s and 15s" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseExpectationErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"nothing to watch", "expect:\n  - site: H-1\n", "x.yaml:2:5: expect.0: want one of incident: TYPE, command: NAME or escalation: TYPE"},
		{"two things", "expect:\n  - incident: fire\n    command: port_off\n", "expect.0: incident and command cannot go in one expectation"},
		{"unknown key", "expect:\n  - incident: fire\n    whithin: 5s\n", "x.yaml:3:5: expect.0.whithin: unknown field (want one of incident, command, escalation, site, device, station, severity, port, after, within, none, skip)"},
		{"bad within", "expect:\n  - incident: fire\n    within: soon\n", `x.yaml:3:5: expect.0.within: want a duration like 5s, got "soon"`},
		{"port on incident", "expect:\n  - incident: fire\n    port: 3\n", "x.yaml:3:5: expect.0.port: only a command names a port"},
		{"site on command", "expect:\n  - command: port_off\n    site: H-1\n", "x.yaml:3:5: expect.0.site: a command goes to a device"},
		{"skip without a reason", "expect:\n  - incident: fire\n    skip: \" \"\n", "x.yaml:3:5: expect.0.skip: say why"},
		{"requires is gone", "requires: [escalation]\n", "x.yaml:1:1: requires: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
	sc := mustParse(t, "expect:\n  - incident: fire\n    device: SD-9999\n")
	if err := sc.Check(demoDevices()); err == nil || !strings.Contains(err.Error(), "test.yaml:3:5: expect.0.device: SD-9999 is not in the registry") {
		t.Errorf("Check: %v", err)
	}
}

// TestEvaluateSaysWhatHappenedInstead: each failing expectation names what
// was expected and what happened instead.
func TestEvaluateSaysWhatHappenedInstead(t *testing.T) {
	sc := mustParse(t, expectScenario)
	sc.Expect[3].Skip = "escalation is judged in its own test"
	end := 3 * time.Minute
	fire := Observation{At: 6 * time.Second, Change: change("fire", "H-0001", "MFS-2", "SD-0001")}
	cmd, _ := ParseCommand("fg/v1/charger/CH-001/cmd", []byte(`{"cmd":"port_off","port":3,"reason":"over_temp"}`))
	portOff := Observation{At: 50 * time.Second, Command: cmd}
	for _, tc := range []struct {
		name string
		obs  []Observation
		want []string // per expectation: "ok", "skip" or a piece of the failure
	}{
		{"all held", []Observation{fire, portOff}, []string{"ok", "ok", "ok", "skip"}},
		{"wrong station", []Observation{{At: 6 * time.Second, Change: change("fire", "H-0001", "MFS-1", "SD-0001")}, portOff},
			[]string{"expected a fire incident with device SD-0001, routed to station MFS-2, between 5s and 15s; instead fire incident INC-H-0001-fire for site H-0001 (devices SD-0001, station MFS-1) at 6s was routed to station MFS-1, not MFS-2", "ok", "ok", "skip"}},
		{"too late", []Observation{{At: 20 * time.Second, Change: fire.Change}, portOff},
			[]string{"instead fire incident INC-H-0001-fire for site H-0001 (devices SD-0001, station MFS-2) at 20s, 5s late", "ok", "ok", "skip"}},
		{"none at all", []Observation{{At: time.Second, Change: change("low_battery", "H-0009", "MFS-1", "SD-0009")}},
			[]string{"instead no matching incident opened in the 3m0s run; seen: low_battery for site H-0009 at 1s", "ok",
				"expected a port_off command for port 3 to device CH-001, within 1m0s; instead no matching command was published in the 3m0s run, and none at all", "skip"}},
		{"unwanted", []Observation{fire, {At: 7 * time.Second, Change: change("test", "H-0002", "MFS-1", "SD-0002")}, portOff},
			[]string{"ok", "expected no test incident; instead test incident INC-H-0002-test for site H-0002 (devices SD-0002, station MFS-1) at 7s", "ok", "skip"}},
		{"wrong port", []Observation{fire, {At: 50 * time.Second, Command: &Command{Device: "CH-001", Cmd: "port_off", Port: 2}}},
			[]string{"ok", "ok", "instead port_off command for port 2 of CH-001 at 50s was for port 2, not 3", "skip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Evaluate(sc, tc.obs, end)
			for i, want := range tc.want {
				got := res[i]
				switch want {
				case "ok":
					if got.Outcome != Passed {
						t.Errorf("expect[%d]: %s %s, want it to hold", i, got.Outcome, got.Detail)
					}
				case "skip":
					if got.Outcome != Skipped {
						t.Errorf("expect[%d]: %s %s", i, got.Outcome, got.Detail)
					}
				default:
					if got.Outcome != Failed || !strings.Contains(got.Detail, want) {
						t.Errorf("expect[%d]: %s %q\nwant a failure containing\n%q", i, got.Outcome, got.Detail, want)
					}
				}
			}
		})
	}
}

// TestEvaluateEscalation: an escalation is a step whose action starts with
// "escalat"; it is always judged: nothing escalated is a failure, never a
// skip.
func TestEvaluateEscalation(t *testing.T) {
	sc := mustParse(t, expectScenario)
	fire := change("fire", "H-0001", "MFS-2", "SD-0001")
	res := Evaluate(sc, []Observation{{At: 6 * time.Second, Change: fire}}, 3*time.Minute)
	if res[3].Outcome != Failed || !strings.Contains(res[3].Detail, "no matching incident escalated") {
		t.Errorf("nothing escalated: %s %s, want a failure", res[3].Outcome, res[3].Detail)
	}
	esc := change("fire", "H-0001", "MFS-2", "SD-0001")
	esc.Event = "updated"
	esc.Incident.Steps = append(esc.Incident.Steps, struct {
		At     time.Time `json:"at"`
		Action string    `json:"action"`
		Note   string    `json:"note,omitempty"`
	}{Action: "Escalated_to_119"})
	res = Evaluate(sc, []Observation{{At: 6 * time.Second, Change: fire}, {At: 70 * time.Second, Change: esc}}, 3*time.Minute)
	if res[3].Outcome != Passed || !strings.Contains(res[3].Detail, "at 1m10s") {
		t.Errorf("escalated at 70s: %s %s", res[3].Outcome, res[3].Detail)
	}
	other := change("fire", "H-0002", "MFS-2", "SD-0002")
	other.Incident.Steps = esc.Incident.Steps
	res = Evaluate(sc, []Observation{{At: 70 * time.Second, Change: other}}, 3*time.Minute)
	if res[3].Outcome != Failed {
		t.Errorf("another site escalated: %s %s, want a failure", res[3].Outcome, res[3].Detail)
	}
}

// TestSkipOnlyWithAReason: an expectation is skipped only when the
// scenario says why, and the report carries the reason.
func TestSkipOnlyWithAReason(t *testing.T) {
	sc := mustParse(t, expectScenario+"  - incident: gas_leak\n    skip: gas detectors are not in this territory yet\n")
	res := Evaluate(sc, nil, time.Minute)
	last := res[len(res)-1]
	if last.Outcome != Skipped || !strings.Contains(last.Detail, "gas detectors are not in this territory yet") {
		t.Errorf("%s %s", last.Outcome, last.Detail)
	}
	for _, r := range res[:len(res)-1] {
		if r.Outcome == Skipped {
			t.Errorf("%s skipped without a reason: %s", r.Expectation, r.Detail)
		}
	}
}

// TestNoneNeedsItsSubject: "no offline incident for SD-0041" holds only
// when SD-0041 spoke during the window; otherwise it proves nothing and
// fails, saying so.
func TestNoneNeedsItsSubject(t *testing.T) {
	sc := mustParse(t, "expect:\n  - incident: offline\n    device: SD-0041\n    within: 1m\n    none: true\n  - incident: fire\n    site: H-0041\n    none: true\n")
	res := Evaluate(sc, nil, 2*time.Minute)
	for i, r := range res {
		if r.Outcome != Failed || !strings.Contains(r.Detail, "subject never happened") {
			t.Errorf("expect[%d] with nothing published: %s %s", i, r.Outcome, r.Detail)
		}
	}
	late := []Observation{{At: 90 * time.Second, Sent: &Sent{Device: "SD-0041", Site: "H-0041"}}}
	res = Evaluate(sc, late, 2*time.Minute)
	if res[0].Outcome != Failed {
		t.Errorf("SD-0041 spoke only after the window: %s %s", res[0].Outcome, res[0].Detail)
	}
	if res[1].Outcome != Passed {
		t.Errorf("H-0041 spoke: %s %s", res[1].Outcome, res[1].Detail)
	}
}

// TestJUnitXML: the JUnit report parses, counts tests, failures and skips,
// and carries the failure's message.
func TestJUnitXML(t *testing.T) {
	sc := mustParse(t, expectScenario)
	sc.Expect[3].Skip = "a reason"
	rep := &Report{Scenario: "expect", File: "test.yaml", Mode: "virtual time", Played: 3 * time.Minute, Elapsed: 120 * time.Millisecond,
		Results: Evaluate(sc, []Observation{{At: 20 * time.Second, Change: change("fire", "H-0001", "MFS-2", "SD-0001")}}, 3*time.Minute)}
	ok := &Report{Scenario: "empty", File: "empty.yaml", Elapsed: time.Millisecond}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, rep, ok); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Tests int    `xml:"tests,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, buf.String())
	}
	if got.Tests != 4 || got.Failures != 2 || got.Skipped != 1 || len(got.Suites) != 2 || got.Suites[0].Name != "expect" {
		t.Fatalf("tests %d failures %d skipped %d suites %d, want 4, 2, 1, 2\n%s", got.Tests, got.Failures, got.Skipped, len(got.Suites), buf.String())
	}
	c := got.Suites[0].Cases[0]
	if c.Failure == nil || !strings.Contains(c.Failure.Message, "at 20s, 5s late") || c.Line != 8 {
		t.Errorf("first case %+v, want a failure saying it came 5s late, line 8", c)
	}
	if got.Suites[0].Cases[3].Skipped == nil {
		t.Error("the escalation case is not marked skipped")
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	for _, want := range []string{"FAIL expect: 1 of 4 expectations held, 1 skipped (virtual time, 3m0s played in 120ms, 0 messages)",
		"  FAIL test.yaml:8: expected a fire incident", "  ok   test.yaml:13: no test incident: none seen", "  skip test.yaml:"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}
