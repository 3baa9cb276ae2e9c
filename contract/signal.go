package contract

import (
	"fmt"
	"time"
)

// Severity ranks incidents; the console orders its queue by it.
type Severity string

// Severities, highest first.
const (
	SeverityCritical Severity = "critical"
	SeverityMajor    Severity = "major"
	SeverityMinor    Severity = "minor"
	SeverityInfo     Severity = "info"
)

// Rank orders severities: critical is 0, info (and anything unknown) 3.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityMajor:
		return 1
	case SeverityMinor:
		return 2
	}
	return 3
}

// Valid reports whether s is one of the four severities.
func (s Severity) Valid() bool {
	switch s {
	case SeverityCritical, SeverityMajor, SeverityMinor, SeverityInfo:
		return true
	}
	return false
}

// Period is one of the four periods (四个时期) of the fire-prevention
// plans; in the higher ones rules may tighten thresholds or raise
// severities.
type Period string

// The four periods, lowest first.
const (
	PeriodDaily      Period = "daily"
	PeriodHoliday    Period = "holiday"
	PeriodMajorEvent Period = "major_event"
	PeriodEmergency  Period = "emergency"
)

// Periods lists the periods, lowest first.
var Periods = []Period{PeriodDaily, PeriodHoliday, PeriodMajorEvent, PeriodEmergency}

// Index returns the period's place in Periods, lowest first.
func (p Period) Index() (int, bool) {
	for i, q := range Periods {
		if q == p {
			return i, true
		}
	}
	return 0, false
}

// ParsePeriod returns the period named s.
func ParsePeriod(s string) (Period, error) {
	if _, ok := Period(s).Index(); ok {
		return Period(s), nil
	}
	return "", fmt.Errorf("period %q: want daily, holiday, major_event or emergency", s)
}

// PeriodOverride is a period set by a person, in force until Until (zero:
// until changed), over the calendar.
type PeriodOverride struct {
	Period Period    `json:"period"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	SetAt  time.Time `json:"set_at"`
}

// Action is what a signal asks of the alarm stage.
type Action string

// Signal actions.
const (
	ActionRaise Action = "raise"
	ActionClear Action = "clear"
)

// Suppression reasons: a suppressed signal is recorded, never dispatched,
// and never counts towards a correlation.
const (
	SuppressedTest        = "test"
	SuppressedMaintenance = "maintenance"
)

// Signal is the rule engine's output: a rule fired on a message (or on
// silence). The alarm stage makes incidents of signals; on the bus they are
// keyed by Site.
type Signal struct {
	// ID is deterministic: the rule and the message (or deadline) that
	// fired it, so that a redelivered message yields the same signal.
	ID           string   `json:"id"`
	Rule         string   `json:"rule"`
	Action       Action   `json:"action"`
	Type         string   `json:"type"`
	Severity     Severity `json:"severity"`
	Dispatchable bool     `json:"dispatchable"`
	Kind         Kind     `json:"kind"`
	Device       string   `json:"device"`
	Site         string   `json:"site"`
	Port         int      `json:"port,omitempty"`
	// Message is the id of the reading that fired the signal; for an
	// absence, the last reading heard (empty when none since start).
	Message string   `json:"message,omitempty"`
	Event   string   `json:"event,omitempty"`
	Value   *float64 `json:"value,omitempty"`
	// At is when the condition was met (device time for messages, engine
	// time for durations and absences).
	At time.Time `json:"at"`
	// ReceivedAt is when ingest received the message that led here; the
	// alarm stage measures its latency from it.
	ReceivedAt time.Time `json:"received_at"`
	// Command is sent to the device when the signal raises an incident.
	Command string `json:"command,omitempty"`
	Detail  string `json:"detail,omitempty"`

	// Period is the period in force when the rule fired.
	Period Period `json:"period,omitempty"`
	// Confirmed is set by a correlation rule: several devices agree, the
	// incident is a confirmed one (a fire becomes confirmed_fire).
	Confirmed bool `json:"confirmed,omitempty"`
	// Notify119 marks the incident for the 119 command centre.
	Notify119 bool `json:"notify_119,omitempty"`
	// Flapping says the condition raised and cleared too often: this raise
	// stands for the ones that follow, until the condition is quiet.
	Flapping bool `json:"flapping,omitempty"`
	// Suppressed, when set, says why the signal is recorded only: "test"
	// or "maintenance".
	Suppressed string `json:"suppressed,omitempty"`
	// Related lists the other messages a correlation joined.
	Related []string `json:"related,omitempty"`
	// ClockSkewed is set when the message came from a device whose clock
	// was wrong (its ts was replaced by the receive time).
	ClockSkewed bool `json:"clock_skewed,omitempty"`
}
