package simulator

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a scenario run with expectations found.
type Report struct {
	Scenario string
	File     string
	// Mode says how time ran: "virtual time", "real time", "10x real time".
	Mode string
	// Played is how much scenario time the run covered; Elapsed the wall
	// time it took.
	Played, Elapsed time.Duration
	Published       int
	Results         []Result
	// Err is set when the run itself failed (publications lost, firegrid
	// unreachable): the expectations are then not to be trusted.
	Err error
}

// OK reports whether the run succeeded and no expectation failed.
func (r *Report) OK() bool {
	if r.Err != nil {
		return false
	}
	for _, res := range r.Results {
		if res.Outcome == Failed {
			return false
		}
	}
	return true
}

// Count returns how many results have outcome o.
func (r *Report) Count(o Outcome) int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == o {
			n++
		}
	}
	return n
}

// WriteSummary writes the human summary: a line for the scenario, then a
// line per expectation saying, for a failure, what was expected and what
// happened instead.
func (r *Report) WriteSummary(w io.Writer) error {
	var b strings.Builder
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s: %d of %d expectations held", verdict, r.Scenario, r.Count(Passed), len(r.Results))
	if n := r.Count(Skipped); n > 0 {
		fmt.Fprintf(&b, ", %d skipped", n)
	}
	fmt.Fprintf(&b, " (%s, %s played in %s, %d messages)\n", r.Mode, fmtAt(r.Played), r.Elapsed.Round(time.Millisecond), r.Published)
	if r.Err != nil {
		fmt.Fprintf(&b, "  error: %v\n", r.Err)
	}
	for _, res := range r.Results {
		e := res.Expectation
		where := fmt.Sprintf("expect[%d]", e.Index)
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d", r.File, e.Line)
		}
		switch res.Outcome {
		case Failed:
			fmt.Fprintf(&b, "  FAIL %s: %s\n", where, res.Detail)
		case Skipped:
			fmt.Fprintf(&b, "  skip %s: %s: %s\n", where, e, res.Detail)
		default:
			fmt.Fprintf(&b, "  ok   %s: %s: %s\n", where, e, res.Detail)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The JUnit XML schema as CI systems (Jenkins, GitLab, GitHub actions)
// read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	File     string      `xml:"file,attr,omitempty"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes reports as JUnit XML: a test suite per scenario, a
// test case per expectation, and an error case for a run that failed.
func WriteJUnit(w io.Writer, reports ...*Report) error {
	var all junitSuites
	var total time.Duration
	for _, r := range reports {
		s := junitSuite{Name: r.Scenario, File: r.File, Time: seconds(r.Elapsed)}
		total += r.Elapsed
		if r.Err != nil {
			s.Cases = append(s.Cases, junitCase{Name: "run", Classname: r.Scenario, File: r.File, Time: seconds(r.Elapsed),
				Error: &junitMessage{Message: r.Err.Error(), Type: "run"}})
			s.Errors++
		}
		for _, res := range r.Results {
			e := res.Expectation
			c := junitCase{Name: fmt.Sprintf("expect[%d] %s", e.Index, e), Classname: r.Scenario, File: r.File, Line: e.Line, Time: "0.000"}
			switch res.Outcome {
			case Failed:
				c.Failure = &junitMessage{Message: res.Detail, Type: "expectation", Text: res.Detail}
				s.Failures++
			case Skipped:
				c.Skipped = &junitMessage{Message: res.Detail}
				s.Skipped++
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Skipped += s.Skipped
		all.Suites = append(all.Suites, s)
	}
	all.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
