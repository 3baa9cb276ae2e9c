package contract

import (
	"slices"
	"time"
)

// HazardStatus is where a hazard is in the closed loop (闭环管理): reported,
// registered (立案), dispatched to whoever must fix it (派遣), rectified by
// them (整改), verified by someone else (核查), closed (结案, 销号); or
// rejected as no hazard (a duplicate, nothing there). A look back (回头看)
// may reopen a closed or rejected hazard.
type HazardStatus string

// Hazard statuses.
const (
	HazardReported   HazardStatus = "reported"
	HazardRegistered HazardStatus = "registered"
	HazardDispatched HazardStatus = "dispatched"
	HazardRectified  HazardStatus = "rectified"
	HazardVerified   HazardStatus = "verified"
	HazardClosed     HazardStatus = "closed"
	HazardRejected   HazardStatus = "rejected"
)

// HazardStatuses lists every status in the loop's order.
var HazardStatuses = []HazardStatus{HazardReported, HazardRegistered, HazardDispatched, HazardRectified, HazardVerified, HazardClosed, HazardRejected}

// Where a hazard came from.
const (
	SourceGridWorker = "grid_worker" // found by a grid worker (or the community's staff)
	SourceResident   = "resident"    // a resident told a grid worker
	Source12345      = "12345"       // a work order of the 12345 hotline or the city operations platform
	SourceInspection = "inspection"  // a failed item of an inspection round
	SourceDevice     = "device"      // a device ticket (dead detector, hydrant without pressure)
)

// HazardSources lists every source.
var HazardSources = []string{SourceGridWorker, SourceResident, Source12345, SourceInspection, SourceDevice}

// The events of a hazard change, which are also its steps' actions.
const (
	HazardEventReported        = "reported"
	HazardEventRegistered      = "registered"
	HazardEventDispatched      = "dispatched"
	HazardEventRectified       = "rectified"
	HazardEventVerified        = "verified"
	HazardEventVerifyFailed    = "verification_failed" // the verifier found it not fixed: back to the party
	HazardEventClosed          = "closed"
	HazardEventReopened        = "reopened"
	HazardEventRejected        = "rejected"
	HazardEventHandedOver      = "handed_over"      // handed to another authority (a police station)
	HazardEventDeadlineChanged = "deadline_changed" // the rectification deadline moved, with a reason
	HazardEventOverdue         = "overdue"          // a deadline passed; recorded
	HazardEventSupervised      = "supervised"       // an overdue hazard went up the grid (挂牌督办)
	HazardEventDelivery        = "delivery"         // a notification's status changed
)

// HazardEvents lists the events a notifier may select.
var HazardEvents = []string{HazardEventReported, HazardEventRegistered, HazardEventDispatched, HazardEventRectified,
	HazardEventVerified, HazardEventVerifyFailed, HazardEventClosed, HazardEventReopened, HazardEventRejected,
	HazardEventHandedOver, HazardEventDeadlineChanged, HazardEventOverdue, HazardEventSupervised}

// The deadlines of a hazard, as named in Overdue.
const (
	// DeadlineRespond runs from the report to the dispatch (24 h).
	DeadlineRespond = "respond"
	// DeadlineRectify is set at the dispatch, from the category (48 h
	// for a serious hazard), and may be moved with a reason.
	DeadlineRectify = "rectify"
)

// Responsible is who must fix a hazard (整改责任人): a property company, the
// owner, a unit.
type Responsible struct {
	// Kind is property, owner, unit or other.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Org is the organisation whose users work the hazard (a property
	// company's users see what is dispatched to it); empty means Name.
	Org   string `json:"org,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// ResponsibleKinds lists who may be made responsible.
var ResponsibleKinds = []string{"property", "owner", "unit", "other"}

// OrgName is the organisation that works a hazard dispatched to r.
func (r *Responsible) OrgName() string {
	if r == nil {
		return ""
	}
	if r.Org != "" {
		return r.Org
	}
	return r.Name
}

// WorkOrder names the work order of another platform a hazard came in as
// (12345, the city operations platform): status updates go back under it.
type WorkOrder struct {
	// Channel is the inbound channel's name, ID the order's id there.
	Channel    string    `json:"channel"`
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
}

// InspectionRef names the check-in and checklist item that found a hazard.
type InspectionRef struct {
	Plan    string `json:"plan"`
	CheckIn string `json:"checkin"`
	Item    string `json:"item"`
}

// HazardPhoto is a photo kept with a hazard; GET /api/v1/photos/{id}
// serves it.
type HazardPhoto struct {
	ID          string    `json:"id"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
	At          time.Time `json:"at"`
	By          string    `json:"by,omitempty"`
	// Step is the action it was taken for (reported, rectified, ...).
	Step string `json:"step"`
}

// HazardStep is one thing that happened to a hazard: who, when, a note,
// photos.
type HazardStep struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"`
	// Role is the role the person acted in.
	Role   string   `json:"role,omitempty"`
	Note   string   `json:"note,omitempty"`
	Photos []string `json:"photos,omitempty"`
	// Deadline is the rectification deadline a dispatch set or a change
	// moved.
	Deadline *time.Time `json:"deadline,omitempty"`
	// To is whom a dispatch or a hand-over went to, or the area a
	// supervision went up to.
	To string `json:"to,omitempty"`
}

// Hazard is a fire hazard (隐患) worked through the closed loop: what was
// found where, who must fix it by when, and every step with who and when.
type Hazard struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	// CategoryName is the category's name for people (飞线充电).
	CategoryName string `json:"category_name,omitempty"`
	// Serious hazards get the short rectification deadline (48 h
	// intervention).
	Serious     bool         `json:"serious"`
	Source      string       `json:"source"`
	Status      HazardStatus `json:"status"`
	Description string       `json:"description"`

	// The place: a site of the registry, or a point and an address.
	Site       string   `json:"site,omitempty"`
	SiteName   string   `json:"site_name,omitempty"`
	SiteType   SiteType `json:"site_type,omitempty"`
	Address    string   `json:"address,omitempty"`
	Location   Point    `json:"location"`
	Zone       string   `json:"zone"`
	Community  string   `json:"community"`
	Station    string   `json:"station,omitempty"`
	GridWorker Contact  `json:"grid_worker,omitempty"`

	// Reporter is the person who reported it (a resident through a grid
	// worker, a 12345 caller); ReportedBy the user or channel that
	// entered it.
	Reporter   Contact `json:"reporter,omitempty"`
	ReportedBy string  `json:"reported_by"`
	// Order is set for a hazard that came in as a work order.
	Order *WorkOrder `json:"order,omitempty"`
	// Incident and Devices are set for a device ticket's hazard.
	Incident string   `json:"incident,omitempty"`
	Devices  []string `json:"devices,omitempty"`
	// Inspection is set for a hazard an inspection round found.
	Inspection *InspectionRef `json:"inspection,omitempty"`

	Responsible *Responsible `json:"responsible,omitempty"`
	// HandedOverTo is the authority the hazard was handed to.
	HandedOverTo string `json:"handed_over_to,omitempty"`

	ReportedAt   time.Time  `json:"reported_at"`
	RegisteredAt *time.Time `json:"registered_at,omitempty"`
	DispatchedAt *time.Time `json:"dispatched_at,omitempty"`
	RectifiedAt  *time.Time `json:"rectified_at,omitempty"`
	VerifiedAt   *time.Time `json:"verified_at,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	RejectedAt   *time.Time `json:"rejected_at,omitempty"`
	// RectifiedBy is who recorded the rectification: the verifier must be
	// someone else.
	RectifiedBy string `json:"rectified_by,omitempty"`

	// RespondBy is the response deadline (report to dispatch), RectifyBy
	// the rectification deadline set at dispatch.
	RespondBy *time.Time `json:"respond_by,omitempty"`
	RectifyBy *time.Time `json:"rectify_by,omitempty"`
	// Overdue lists the deadlines (respond, rectify) that passed before
	// their step was done; Supervision the areas supervising the hazard
	// (挂牌督办), lowest first.
	Overdue     []string `json:"overdue,omitempty"`
	Supervision []string `json:"supervision,omitempty"`
	// Reopened counts the look-backs (回头看) that reopened it.
	Reopened int `json:"reopened,omitempty"`

	Photos     []HazardPhoto `json:"photos,omitempty"`
	Steps      []HazardStep  `json:"steps"`
	Deliveries []Delivery    `json:"deliveries,omitempty"`

	UpdatedAt time.Time `json:"updated_at"`
	// Version grows with every change.
	Version int `json:"version"`
}

// Open reports whether the hazard still needs work: not closed nor
// rejected.
func (h *Hazard) Open() bool { return h.Status != HazardClosed && h.Status != HazardRejected }

// IsOverdue reports whether a deadline of the hazard has passed at now
// with its step undone.
func (h *Hazard) IsOverdue(now time.Time) bool {
	if !h.Open() {
		return false
	}
	if h.DispatchedAt == nil && h.RespondBy != nil && now.After(*h.RespondBy) {
		return true
	}
	return h.RectifiedAt == nil && h.RectifyBy != nil && now.After(*h.RectifyBy) && h.Status == HazardDispatched
}

// Clone returns a deep copy.
func (h *Hazard) Clone() *Hazard {
	c := *h
	c.Devices = slices.Clone(h.Devices)
	c.Overdue = slices.Clone(h.Overdue)
	c.Supervision = slices.Clone(h.Supervision)
	c.Photos = slices.Clone(h.Photos)
	c.Steps = slices.Clone(h.Steps)
	c.Deliveries = slices.Clone(h.Deliveries)
	if h.Responsible != nil {
		r := *h.Responsible
		c.Responsible = &r
	}
	if h.Order != nil {
		o := *h.Order
		c.Order = &o
	}
	if h.Inspection != nil {
		i := *h.Inspection
		c.Inspection = &i
	}
	return &c
}

// HazardChange is one change of a hazard, as the hazards topic carries it
// to notifiers (a work order's status back to 12345), keyed by the
// hazard's id.
type HazardChange struct {
	Event  string    `json:"event"`
	At     time.Time `json:"at"`
	Hazard *Hazard   `json:"hazard"`
}

// Record returns the record of a hazard change, keyed by hazard.
func (c *HazardChange) Record() Record {
	return Record{Topic: TopicHazards, Key: c.Hazard.ID, Value: c, Time: c.At}
}
