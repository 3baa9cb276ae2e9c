package contract

import (
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// Reason says why ingest rejected a device message; it labels the
// rejection counter and the dead letter.
type Reason string

// Rejection reasons.
const (
	ReasonBadTopic        Reason = "bad_topic"
	ReasonOversized       Reason = "oversized"
	ReasonMalformed       Reason = "malformed_json"
	ReasonMissingField    Reason = "missing_field"
	ReasonInvalidField    Reason = "invalid_field"
	ReasonUnknownDevice   Reason = "unknown_device"
	ReasonKindMismatch    Reason = "kind_mismatch"
	ReasonFutureTimestamp Reason = "future_timestamp"
	// ReasonBadFrame: a binary frame (GB/T 26875.3) that is not one: no
	// start or end mark, a length over the limit or beyond the frame, an
	// object cut short.
	ReasonBadFrame Reason = "bad_frame"
	// ReasonBadChecksum: a frame whose checksum does not match its bytes.
	ReasonBadChecksum Reason = "bad_checksum"
	// ReasonUnknownSource: a frame or push from a sender that is allowed
	// to connect but is not configured as the source it claims to be (a
	// transmission unit address not configured for its network).
	ReasonUnknownSource Reason = "unknown_source"
)

// Reasons lists every reason, so that counters start at zero for each.
var Reasons = []Reason{ReasonBadTopic, ReasonOversized, ReasonMalformed, ReasonMissingField,
	ReasonInvalidField, ReasonUnknownDevice, ReasonKindMismatch, ReasonFutureTimestamp,
	ReasonBadFrame, ReasonBadChecksum, ReasonUnknownSource}

// MaxDeadLetterPayload bounds how much of a rejected payload is kept.
const MaxDeadLetterPayload = 4096

// DeadLetter is a device message ingest rejected, with the reason. On the
// bus it is keyed by the reason.
type DeadLetter struct {
	At     time.Time `json:"at"`
	Reason Reason    `json:"reason"`
	Detail string    `json:"detail"`
	Topic  string    `json:"topic"`
	Size   int       `json:"size"`
	// Payload is the message as text, cut to 4 KiB; Encoding is "base64"
	// when it was not valid UTF-8 (then Payload is base64 of the cut).
	Payload   string `json:"payload"`
	Encoding  string `json:"encoding,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// NewDeadLetter keeps what a person needs to see of a rejected message.
func NewDeadLetter(at time.Time, topic string, payload []byte, reason Reason, detail string) *DeadLetter {
	d := &DeadLetter{At: at, Reason: reason, Detail: detail, Topic: topic, Size: len(payload)}
	cut := payload
	if len(cut) > MaxDeadLetterPayload {
		cut, d.Truncated = cut[:MaxDeadLetterPayload], true
	}
	if utf8.Valid(cut) {
		d.Payload = string(cut)
	} else {
		d.Payload, d.Encoding = base64.StdEncoding.EncodeToString(cut), "base64"
	}
	return d
}
