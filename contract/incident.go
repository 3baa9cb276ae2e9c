package contract

import (
	"slices"
	"time"
)

// Status is open until a person resolves the incident.
type Status string

// Statuses.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
)

// Stage is where the crew is with an incident.
type Stage string

// Stages of the 1-3-5 response (1 minute to respond, 3 to be on scene, 5 to
// have it handled).
const (
	StageNew          Stage = "new"
	StageAcknowledged Stage = "acknowledged"
	StageOnScene      Stage = "on_scene"
	StageResolved     Stage = "resolved"
)

// Outcomes a crew may resolve an incident with.
var Outcomes = []string{"fire", "false_alarm", "test", "nuisance", "fault_fixed", "other"}

// The events of an incident change, as consoles, webhooks and the
// incidents topic see them.
const (
	EventOpened       = "opened"
	EventUpdated      = "updated"
	EventConfirmed    = "confirmed"
	EventAcknowledged = "acknowledged"
	EventArrived      = "arrived"
	EventResolved     = "resolved"
	EventEscalated    = "escalated"  // asked further stations and the 119 centre
	EventOverdue      = "overdue"    // a deadline passed; recorded
	EventSupervised   = "supervised" // an overdue ticket went up the grid (挂牌督办)
	EventDelivery     = "delivery"   // a notification's status changed
)

// Step is one timestamped thing that happened to an incident.
type Step struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"`
	Device string    `json:"device,omitempty"`
	Signal string    `json:"signal,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// SignalRef says which rule and which message made an incident what it is.
type SignalRef struct {
	ID      string    `json:"id"`
	Rule    string    `json:"rule"`
	Action  Action    `json:"action"`
	Device  string    `json:"device"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
	Detail  string    `json:"detail,omitempty"`
	// Related lists the other messages a correlation joined.
	Related []string `json:"related,omitempty"`
	// Suppressed says why the signal was recorded only (test, maintenance).
	Suppressed string `json:"suppressed,omitempty"`
	// ClockSkewed is set when the device's clock was wrong.
	ClockSkewed bool `json:"clock_skewed,omitempty"`
}

// Incident is what a duty crew works.
type Incident struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Severity     Severity `json:"severity"`
	Status       Status   `json:"status"`
	Stage        Stage    `json:"stage"`
	Dispatchable bool     `json:"dispatchable"`
	// Cleared is set when the condition has gone away (a pressure back to
	// normal, a device back online); a person still closes the incident.
	Cleared bool `json:"cleared,omitempty"`
	// Period is the period (daily, holiday, major_event, emergency) in
	// force when the incident opened.
	Period Period `json:"period,omitempty"`
	// Confirmed is set when a correlation rule confirmed the incident
	// (several detectors agree): its type becomes ConfirmedType of the
	// original, e.g. confirmed_fire.
	Confirmed bool `json:"confirmed,omitempty"`
	// Notify119 marks the incident for the 119 command centre.
	Notify119 bool `json:"notify_119,omitempty"`
	// Flapping is set when the condition raised and cleared too often: the
	// incident stays open, later raises fold into it.
	Flapping bool `json:"flapping,omitempty"`

	Site        string        `json:"site"`
	SiteName    string        `json:"site_name,omitempty"`
	SiteType    SiteType      `json:"site_type,omitempty"`
	Address     string        `json:"address,omitempty"`
	Devices     []string      `json:"devices"`
	Location    Point         `json:"location"`
	Zone        string        `json:"zone"`
	Community   string        `json:"community"`
	Station     string        `json:"station"`
	StationName string        `json:"station_name,omitempty"`
	Resident    ResidentFlags `json:"resident_flags"`
	Guardian    Contact       `json:"guardian,omitempty"`
	GridWorker  Contact       `json:"grid_worker,omitempty"`

	OpenedAt   time.Time  `json:"opened_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	ArrivedAt  *time.Time `json:"arrived_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Note       string     `json:"note,omitempty"`

	Signals []SignalRef `json:"signals"`
	Steps   []Step      `json:"steps"`
	// Dispatch holds deadlines, escalation and notifications.
	Dispatch
	// Version grows with every change; consoles and consumers keep the
	// highest they have seen and ignore older ones.
	Version int `json:"version"`
}

// ConfirmedType is the type an incident of type typ takes once a
// correlation rule confirmed it: fire becomes confirmed_fire.
func ConfirmedType(typ string) string { return "confirmed_" + typ }

// HasSignal reports whether the signal with id changed the incident.
func (in *Incident) HasSignal(id string) bool {
	for _, s := range in.Signals {
		if s.ID == id {
			return true
		}
	}
	return false
}

// HasDevice reports whether the device is among the incident's.
func (in *Incident) HasDevice(id string) bool { return slices.Contains(in.Devices, id) }

// InScope reports whether a station's crew works an incident: its own, or
// one escalated to it.
func (in *Incident) InScope(station string) bool {
	return station != "" && (in.Station == station || slices.Contains(in.EscalatedTo, station))
}

// Clone returns a deep copy.
func (in *Incident) Clone() *Incident {
	c := *in
	c.Devices = slices.Clone(in.Devices)
	c.Signals = slices.Clone(in.Signals)
	c.Steps = slices.Clone(in.Steps)
	c.Dispatch = in.Dispatch.clone()
	return &c
}

// Durations are how long each step took from the incident's opening; nil
// when the step was not done.
type Durations struct {
	Ack     *time.Duration
	Arrive  *time.Duration
	Resolve *time.Duration
}

// StepDurations reports how long each step took.
func (in *Incident) StepDurations() Durations {
	since := func(t *time.Time) *time.Duration {
		if t == nil {
			return nil
		}
		d := t.Sub(in.OpenedAt)
		return &d
	}
	return Durations{Ack: since(in.AckedAt), Arrive: since(in.ArrivedAt), Resolve: since(in.ResolvedAt)}
}

// Deadlines are when each step of an incident is due.
type Deadlines struct {
	Rule    string     `json:"rule"`
	Ack     *time.Time `json:"ack,omitempty"`
	Arrive  *time.Time `json:"arrive,omitempty"`
	Resolve *time.Time `json:"resolve,omitempty"`
}

// Dispatch is the part of an incident the timers, escalation and
// notifications keep.
type Dispatch struct {
	Deadlines *Deadlines `json:"deadlines,omitempty"`
	// Overdue lists the deadlines that passed before their step was done.
	Overdue []string `json:"overdue,omitempty"`
	// EscalatedTo lists the further stations asked to respond, nearest
	// first; they see and work the incident like its own station.
	EscalatedTo []string `json:"escalated_to,omitempty"`
	// CenterAt is when the 119 centre was called in.
	CenterAt *time.Time `json:"center_at,omitempty"`
	// Supervision lists the areas supervising an overdue ticket (挂牌督办),
	// lowest first.
	Supervision []string `json:"supervision,omitempty"`
	// Deliveries are the notifications sent about the incident.
	Deliveries []Delivery `json:"deliveries,omitempty"`
}

func (d Dispatch) clone() Dispatch {
	c := d
	c.Overdue = slices.Clone(d.Overdue)
	c.EscalatedTo = slices.Clone(d.EscalatedTo)
	c.Supervision = slices.Clone(d.Supervision)
	c.Deliveries = slices.Clone(d.Deliveries)
	return c
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryRetrying  = "retrying"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is the status of one notification about an incident, kept on
// the incident so that a crew sees who was told and what failed.
type Delivery struct {
	Notifier string `json:"notifier"`
	// Target is the receiving system or person (a webhook's host, a phone).
	Target string `json:"target,omitempty"`
	// Event and Version say which change of the incident was notified.
	Event    string    `json:"event"`
	Version  int       `json:"version"`
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// IncidentChange is one change of an incident, as pushed to consoles, to
// notifiers and the time-series sink, and kept on the incidents topic (as
// JSON, an audit log other systems may read). On the bus it is keyed by the
// incident's id.
type IncidentChange struct {
	Event    string    `json:"event"`
	At       time.Time `json:"at"`
	Incident *Incident `json:"incident"`
	// ReceivedAt is when ingest received the device message behind the
	// change, if one was: the console measures the alarm's latency from it.
	ReceivedAt time.Time `json:"received_at,omitzero"`
}
