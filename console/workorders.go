package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/hazard"
)

// InboundChannel is a platform that sends work orders (12345, the city
// operations platform), with the secret its orders are signed with.
type InboundChannel struct {
	Name string
	// Source is the source its hazards get.
	Source string
	Secret []byte
	// MaxSkew is how old a signature's timestamp may be (default 5 min).
	MaxSkew time.Duration
}

// The signature headers of an inbound work order: the same scheme
// firegrid signs its own webhooks with (notify.Sign): "sha256=" and the
// hex HMAC-SHA256, keyed with the channel's secret, of the timestamp (Unix
// seconds), a dot and the body.
const (
	headerSignature = "X-Firegrid-Signature"
	headerTimestamp = "X-Firegrid-Timestamp"
)

// WorkOrder is the body of POST /api/v1/workorders/{channel}: an order of
// another platform that opens a hazard. OrderID identifies it on that
// platform: the same order sent again changes nothing.
type WorkOrder struct {
	OrderID string `json:"order_id"`
	// Category is firegrid's category id, or the platform's word for it
	// (an alias: 占用消防通道); unknown words make an "other" hazard.
	Category    string `json:"category"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description"`
	// Site, or Location (and Address): where.
	Site     string          `json:"site,omitempty"`
	Location *contract.Point `json:"location,omitempty"`
	Address  string          `json:"address,omitempty"`
	// Caller is the resident who called.
	Caller     contract.Contact `json:"caller,omitzero"`
	ReceivedAt *time.Time       `json:"received_at,omitempty"`
	Photos     []hazard.Upload  `json:"photos,omitempty"`
}

// WorkOrderResponse answers a work order: the hazard it opened, and
// whether the order had come before.
type WorkOrderResponse struct {
	Hazard    *contract.Hazard `json:"hazard"`
	Duplicate bool             `json:"duplicate"`
}

// verifyWorkOrder checks an order's signature and timestamp.
func verifyWorkOrder(ch *InboundChannel, r *http.Request, body []byte, now time.Time) error {
	ts, sig := r.Header.Get(headerTimestamp), r.Header.Get(headerSignature)
	if ts == "" || sig == "" {
		return fmt.Errorf("sign the order: %s (Unix seconds) and %s: sha256=HMAC-SHA256(secret, timestamp + \".\" + body)", headerTimestamp, headerSignature)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: want Unix seconds", headerTimestamp)
	}
	skew := ch.MaxSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	if d := now.Sub(time.Unix(secs, 0)); d > skew || d < -skew {
		return fmt.Errorf("%s is %s away from firegrid's clock (at most %s): an old order, or a clock to set", headerTimestamp, d.Round(time.Second), skew)
	}
	mac := hmac.New(sha256.New, ch.Secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("bad signature")
	}
	return nil
}

// workOrder serves POST /api/v1/workorders/{channel}: a signed order opens
// a hazard (201); the same order again answers the same hazard (200).
// firegrid's status updates go back through a notifier of format hazard.
func (a *API) workOrder(w http.ResponseWriter, r *http.Request) {
	l := a.ledger(w)
	if l == nil {
		return
	}
	name := r.PathValue("channel")
	var ch *InboundChannel
	for i := range a.Inbound {
		if a.Inbound[i].Name == name {
			ch = &a.Inbound[i]
		}
	}
	if ch == nil {
		writeError(w, http.StatusNotFound, "no work-order channel "+name+" (hazards.inbound)")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.bodyLimit())
	body, err := readAll(r)
	if err != nil {
		writeError(w, tooLarge(err, http.StatusBadRequest), "could not read body: "+err.Error())
		return
	}
	if err := verifyWorkOrder(ch, r, body, a.now()); err != nil {
		a.m.denied.WithLabelValues("401").Inc()
		a.Log.Warn("work order refused", "channel", name, "why", err.Error())
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var o WorkOrder
	if err := decodeStrict(body, &o); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if o.OrderID = strings.TrimSpace(o.OrderID); o.OrderID == "" || len(o.OrderID) > 128 {
		writeError(w, http.StatusBadRequest, "order_id: required (at most 128 bytes): it makes a repeated order change nothing")
		return
	}
	received := a.now()
	if o.ReceivedAt != nil {
		received = o.ReceivedAt.UTC()
	}
	desc := strings.TrimSpace(strings.TrimSpace(o.Title) + "\n" + o.Description)
	source := ch.Source
	if source == "" {
		source = contract.Source12345
	}
	h, created, err := l.Report(r.Context(), hazard.Report{Category: o.Category, Description: desc, Site: o.Site, Location: o.Location,
		Address: o.Address, Reporter: o.Caller, Source: source, Photos: o.Photos, By: name,
		Order: &contract.WorkOrder{Channel: name, ID: o.OrderID, ReceivedAt: received}})
	if err != nil {
		a.hazardError(w, "take the work order", err)
		return
	}
	code := http.StatusCreated
	if !created {
		code = http.StatusOK
	}
	writeJSON(w, code, WorkOrderResponse{Hazard: h, Duplicate: !created})
}
