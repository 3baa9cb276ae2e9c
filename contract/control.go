package contract

import "time"

// Control is an administrative change every instance of a stage must
// apply: the rules in force or the period. It travels on the control
// topic, which every rules instance reads in a group of its own; the change
// itself is kept in the store, so an instance that starts later, or missed
// the message, reads it there. A Control is a nudge to look, and applying
// one twice changes nothing.
type Control struct {
	// ID identifies the change.
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// What changed: ControlRules or ControlPeriod.
	What string `json:"what"`
	// RulesVersion is the rules version now in force (ControlRules).
	RulesVersion int `json:"rules_version,omitempty"`
	// By is who made the change.
	By string `json:"by,omitempty"`
}

// What a Control announces.
const (
	ControlRules  = "rules"
	ControlPeriod = "period"
)
