package contract

import "time"

// Notification statuses: a notification is pending until it is delivered
// or given up (failed); either is final.
const (
	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
	NotificationFailed    = "failed"
)

// Notification is one message about an incident or hazard change for one
// receiver (a notifier, and for messages to people one person), kept from
// the moment the change is taken until it is delivered or given up, so
// that a crash or a receiver that is down loses none.
type Notification struct {
	// ID is the store's; Key names what it is about, so that a change
	// taken twice is notified once: subject/version/event/notifier, and
	// /recipient for a message to a person.
	ID       int64  `json:"id"`
	Key      string `json:"key"`
	Notifier string `json:"notifier"`
	Target   string `json:"target"`
	// Subject is the id of the incident or hazard it is about.
	Subject string `json:"subject"`
	Event   string `json:"event"`
	Version int    `json:"version"`
	// Body is what the notifier needs to send it (its own encoding).
	Body []byte `json:"-"`
	// Status is pending, delivered or failed.
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	// NextAt is when a pending notification is tried (again).
	NextAt    time.Time `json:"next_at"`
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
