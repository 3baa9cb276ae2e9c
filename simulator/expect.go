package simulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ExpectKind is what an expectation watches for.
type ExpectKind string

// The kinds of expectation.
const (
	// ExpectIncident wants an incident of a type (for a site or device,
	// routed to a station) opened within a window.
	ExpectIncident ExpectKind = "incident"
	// ExpectCommand wants a downlink command published on
	// fg/v1/{kind}/{device}/cmd.
	ExpectCommand ExpectKind = "command"
	// ExpectEscalation wants an incident escalated: a change of the
	// incident that carries a step whose action starts with "escalat"
	// (escalated, escalation, escalate_119, ...), or a change whose event
	// does.
	ExpectEscalation ExpectKind = "escalation"
)

// Expectation is one thing a scenario wants firegrid to do (or not to do)
// while it plays. Times are offsets from the start of the run in scenario
// time.
type Expectation struct {
	// Index is the expectation's position under expect:, Line its line.
	Index int
	Line  int
	Kind  ExpectKind
	// Type is the incident type (incident, escalation) or the command
	// name (command).
	Type string
	// Site and Device narrow the match: the incident's site, a device
	// among the incident's devices, the command's device.
	Site, Device string
	// Station, when set, is the station the incident must be routed to.
	Station string
	// Severity, when set, is the incident's severity.
	Severity string
	// Port, when set, is the charger port a command names.
	Port int
	// After opens the window (default: the start of the run); Within
	// closes it After+Within later (0: the end of the run).
	After, Within time.Duration
	// None inverts the expectation: nothing matching happens in the
	// window. Its subject (Device or Site) must have spoken in the window,
	// or the expectation proves nothing and fails.
	None bool
	// Skip, when set, says why the expectation is not judged (a capability
	// still to come). It is reported as skipped with that reason; no other
	// expectation is ever skipped.
	Skip string
}

// deadline returns the end of the window in a run of length end.
func (e *Expectation) deadline(end time.Duration) time.Duration {
	if e.Within == 0 {
		return end
	}
	return e.After + e.Within
}

// String says what the expectation wants, in words.
func (e *Expectation) String() string {
	var b strings.Builder
	switch e.Kind {
	case ExpectIncident:
		fmt.Fprintf(&b, "%s incident", e.Type)
	case ExpectEscalation:
		fmt.Fprintf(&b, "escalation of a %s incident", e.Type)
	case ExpectCommand:
		fmt.Fprintf(&b, "%s command", e.Type)
		if e.Port > 0 {
			fmt.Fprintf(&b, " for port %d", e.Port)
		}
	}
	what := b.String()
	b.Reset()
	switch {
	case e.None:
		b.WriteString("no ")
	case what != "" && strings.ContainsRune("aeiou", rune(what[0])):
		b.WriteString("an ")
	default:
		b.WriteString("a ")
	}
	b.WriteString(what)
	if e.Site != "" {
		fmt.Fprintf(&b, " for site %s", e.Site)
	}
	if e.Device != "" {
		if e.Kind == ExpectCommand {
			fmt.Fprintf(&b, " to device %s", e.Device)
		} else {
			fmt.Fprintf(&b, " with device %s", e.Device)
		}
	}
	if e.Severity != "" {
		fmt.Fprintf(&b, ", severity %s", e.Severity)
	}
	if e.Station != "" {
		fmt.Fprintf(&b, ", routed to station %s", e.Station)
	}
	switch {
	case e.Within > 0 && e.After > 0:
		fmt.Fprintf(&b, ", between %v and %v", e.After, e.After+e.Within)
	case e.Within > 0:
		fmt.Fprintf(&b, ", within %v", e.Within)
	case e.After > 0:
		fmt.Fprintf(&b, ", after %v", e.After)
	}
	return b.String()
}

// Observation is one thing firegrid did during a run: an incident change
// from the console stream, or a downlink command.
type Observation struct {
	// At is the offset from the start of the run, in scenario time.
	At      time.Duration
	Change  *IncidentChange
	Command *Command
	// Sent is a message the run published, by device and site.
	Sent *Sent
}

// Sent is one message a run published: which device, of which site.
type Sent struct {
	Device, Site string
}

// IncidentChange is one event of the console stream (GET /api/v1/stream,
// event: incident), decoded from contract v1 JSON. It holds the fields
// expectations and load statistics read.
type IncidentChange struct {
	Event    string       `json:"event"`
	Incident IncidentView `json:"incident"`
}

// IncidentView is the part of a contract-v1 incident the simulator reads.
type IncidentView struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Severity string   `json:"severity"`
	Status   string   `json:"status"`
	Site     string   `json:"site"`
	Devices  []string `json:"devices"`
	Station  string   `json:"station"`
	Signals  []struct {
		Message string `json:"message,omitempty"`
	} `json:"signals"`
	Steps []struct {
		At     time.Time `json:"at"`
		Action string    `json:"action"`
		Note   string    `json:"note,omitempty"`
	} `json:"steps"`
}

// ParseIncidentChange decodes a stream event's data.
func ParseIncidentChange(data []byte) (*IncidentChange, error) {
	var c IncidentChange
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("incident change: %w", err)
	}
	return &c, nil
}

// escalated reports whether the change shows an escalation (see
// ExpectEscalation).
func (c *IncidentChange) escalated() bool {
	if isEscalation(c.Event) {
		return true
	}
	for _, s := range c.Incident.Steps {
		if isEscalation(s.Action) {
			return true
		}
	}
	return false
}

func isEscalation(action string) bool {
	return strings.HasPrefix(strings.ToLower(action), "escalat")
}

// Command is a downlink firegrid published to a device.
type Command struct {
	Topic  string
	Device string
	Cmd    string
	Port   int
	// Payload is the command as published.
	Payload []byte
}

// ParseCommand decodes a downlink: the device from the topic
// fg/v1/{kind}/{id}/cmd, the command and port from the payload.
func ParseCommand(topic string, payload []byte) (*Command, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "fg" || parts[1] != "v1" || parts[4] != "cmd" {
		return nil, fmt.Errorf("command topic %q: want fg/v1/{kind}/{id}/cmd", topic)
	}
	var body struct {
		Cmd  string `json:"cmd"`
		Port int    `json:"port"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, fmt.Errorf("command on %s: %w", topic, err)
	}
	return &Command{Topic: topic, Device: parts[3], Cmd: body.Cmd, Port: body.Port, Payload: slices.Clone(payload)}, nil
}

// Outcome is how an expectation fared.
type Outcome string

// Outcomes.
const (
	Passed  Outcome = "ok"
	Failed  Outcome = "FAIL"
	Skipped Outcome = "skip"
)

// Result is an expectation and how it fared. Detail says what happened:
// for a failure, what happened instead.
type Result struct {
	Expectation *Expectation
	Outcome     Outcome
	Detail      string
}

// Evaluate judges every expectation of sc against what firegrid did
// during a run of length end. Observations must be in time order.
//
// An expectation is skipped only when it says why (skip:); a "none"
// expectation whose device or site published nothing in its window fails,
// since it would pass whatever firegrid did.
func Evaluate(sc *Scenario, obs []Observation, end time.Duration) []Result {
	out := make([]Result, 0, len(sc.Expect))
	for i := range sc.Expect {
		e := &sc.Expect[i]
		if e.Skip != "" {
			out = append(out, Result{Expectation: e, Outcome: Skipped, Detail: "skipped: " + e.Skip})
			continue
		}
		if e.None && (e.Device != "" || e.Site != "") && !spoke(e, obs, end) {
			out = append(out, Result{Expectation: e, Outcome: Failed, Detail: fmt.Sprintf("expected %s; but its subject never happened: "+
				"nothing was published for it between %s and %s, so the expectation would hold whatever firegrid did",
				e, fmtAt(e.After), fmtAt(e.deadline(end)))})
			continue
		}
		out = append(out, evaluate(e, obs, end))
	}
	return out
}

// spoke reports whether the device or site of e published in e's window.
func spoke(e *Expectation, obs []Observation, end time.Duration) bool {
	for _, o := range obs {
		if o.Sent == nil || o.At < e.After || o.At > e.deadline(end) {
			continue
		}
		if (e.Device == "" || o.Sent.Device == e.Device) && (e.Site == "" || o.Sent.Site == e.Site) {
			return true
		}
	}
	return false
}

// candidate is one incident or command that matches an expectation's
// what and where, at the first moment it did.
type candidate struct {
	at      time.Duration
	desc    string
	station string
	sev     string
	port    int
	inc     string
}

func evaluate(e *Expectation, obs []Observation, end time.Duration) Result {
	cands := candidates(e, obs)
	from, to := e.After, e.deadline(end)
	inWindow := func(c candidate) bool { return c.at >= from && c.at <= to }
	fits := func(c candidate) bool {
		return (e.Station == "" || c.station == e.Station) && (e.Severity == "" || c.sev == e.Severity) &&
			(e.Port == 0 || c.port == e.Port)
	}
	if e.None {
		for _, c := range cands {
			if inWindow(c) && fits(c) {
				return Result{e, Failed, fmt.Sprintf("expected %s; instead %s at %s", e, c.desc, fmtAt(c.at))}
			}
		}
		return Result{e, Passed, "none seen"}
	}
	for _, c := range cands {
		if inWindow(c) && fits(c) {
			return Result{e, Passed, fmt.Sprintf("%s at %s", c.desc, fmtAt(c.at))}
		}
	}
	// What happened instead: the nearest miss first.
	for _, c := range cands {
		if inWindow(c) {
			var why []string
			if e.Station != "" && c.station != e.Station {
				why = append(why, fmt.Sprintf("routed to station %s, not %s", orNone(c.station), e.Station))
			}
			if e.Severity != "" && c.sev != e.Severity {
				why = append(why, fmt.Sprintf("severity %s, not %s", orNone(c.sev), e.Severity))
			}
			if e.Port != 0 && c.port != e.Port {
				why = append(why, fmt.Sprintf("for port %d, not %d", c.port, e.Port))
			}
			return Result{e, Failed, fmt.Sprintf("expected %s; instead %s at %s was %s", e, c.desc, fmtAt(c.at), strings.Join(why, " and "))}
		}
	}
	if len(cands) > 0 {
		c := cands[0]
		when := fmt.Sprintf("%s late", fmtAt(c.at-to))
		if c.at < from {
			when = fmt.Sprintf("before the window opened at %s", fmtAt(from))
		}
		return Result{e, Failed, fmt.Sprintf("expected %s; instead %s at %s, %s", e, c.desc, fmtAt(c.at), when)}
	}
	return Result{e, Failed, fmt.Sprintf("expected %s; instead %s", e, nothing(e, obs, end))}
}

// candidates lists the incidents (or commands) of the expectation's type
// and target, each at the first observation where it matched.
func candidates(e *Expectation, obs []Observation) []candidate {
	var out []candidate
	seen := make(map[string]bool)
	for _, o := range obs {
		switch {
		case e.Kind == ExpectCommand && o.Command != nil:
			c := o.Command
			if c.Cmd != e.Type || e.Device != "" && c.Device != e.Device {
				continue
			}
			desc := fmt.Sprintf("%s command to %s", c.Cmd, c.Device)
			if c.Port > 0 {
				desc = fmt.Sprintf("%s command for port %d of %s", c.Cmd, c.Port, c.Device)
			}
			out = append(out, candidate{at: o.At, desc: desc, port: c.Port})
		case e.Kind != ExpectCommand && o.Change != nil:
			in := &o.Change.Incident
			if in.Type != e.Type || e.Site != "" && in.Site != e.Site || e.Device != "" && !slices.Contains(in.Devices, e.Device) {
				continue
			}
			if e.Kind == ExpectEscalation && !o.Change.escalated() {
				continue
			}
			if seen[in.ID] {
				continue
			}
			seen[in.ID] = true
			what := "incident"
			if e.Kind == ExpectEscalation {
				what = "incident escalated"
			}
			out = append(out, candidate{at: o.At, inc: in.ID, station: in.Station, sev: in.Severity,
				desc: fmt.Sprintf("%s %s %s for site %s (devices %s, station %s)", in.Type, what, in.ID, in.Site,
					strings.Join(in.Devices, ", "), orNone(in.Station))})
		}
	}
	return out
}

// nothing describes a run where nothing matched an expectation: what it
// saw of the kind, so that a wrong site or type shows at once.
func nothing(e *Expectation, obs []Observation, end time.Duration) string {
	var seen []string
	ids := make(map[string]bool)
	for _, o := range obs {
		switch {
		case e.Kind == ExpectCommand && o.Command != nil:
			seen = append(seen, fmt.Sprintf("%s to %s (port %d) at %s", o.Command.Cmd, o.Command.Device, o.Command.Port, fmtAt(o.At)))
		case e.Kind != ExpectCommand && o.Change != nil && !ids[o.Change.Incident.ID]:
			in := &o.Change.Incident
			ids[in.ID] = true
			seen = append(seen, fmt.Sprintf("%s for site %s at %s", in.Type, in.Site, fmtAt(o.At)))
		}
	}
	var b strings.Builder
	switch e.Kind {
	case ExpectCommand:
		fmt.Fprintf(&b, "no matching command was published in the %s run", fmtAt(end))
	case ExpectEscalation:
		fmt.Fprintf(&b, "no matching incident escalated in the %s run", fmtAt(end))
	default:
		fmt.Fprintf(&b, "no matching incident opened in the %s run", fmtAt(end))
	}
	if len(seen) == 0 {
		b.WriteString(", and none at all")
		return b.String()
	}
	const most = 6
	b.WriteString("; seen: ")
	b.WriteString(strings.Join(seen[:min(len(seen), most)], "; "))
	if len(seen) > most {
		fmt.Fprintf(&b, "; and %d more", len(seen)-most)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// fmtAt writes an offset the way scenario files do, to the millisecond.
func fmtAt(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}
