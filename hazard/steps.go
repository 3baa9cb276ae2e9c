package hazard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// The steps a person takes on a hazard: POST /api/v1/hazards/{id}/{step}.
const (
	StepRegister = "register"
	StepDispatch = "dispatch"
	StepDeadline = "deadline"
	StepRectify  = "rectify"
	StepVerify   = "verify"
	StepClose    = "close"
	StepReopen   = "reopen"
	StepReject   = "reject"
	StepHandover = "handover"
)

// Steps lists them in the loop's order.
var Steps = []string{StepRegister, StepDispatch, StepDeadline, StepRectify, StepVerify, StepClose, StepReopen, StepReject, StepHandover}

// Step is one step a person takes, with what it needs.
type Step struct {
	Note   string   `json:"note,omitempty"`
	Photos []Upload `json:"photos,omitempty"`
	// Category, on register, classes the hazard anew.
	Category string `json:"category,omitempty"`
	// Responsible, on dispatch, is who must fix it; Deadline, on
	// dispatch (default: from the category) and deadline, when.
	Responsible *contract.Responsible `json:"responsible,omitempty"`
	Deadline    *time.Time            `json:"deadline,omitempty"`
	// Passed, on verify, says whether the fix holds (default true).
	Passed *bool `json:"passed,omitempty"`
	// To, on handover, is the authority it goes to.
	To string `json:"to,omitempty"`

	// By and Role are who takes it (set by the caller).
	By   string `json:"-"`
	Role string `json:"-"`
}

// Act takes a step on a hazard. A step the hazard's status does not allow
// is refused with 409, a step missing what it needs with 400.
func (l *Ledger) Act(ctx context.Context, id, step string, s Step) (*contract.Hazard, error) {
	if !slices.Contains(Steps, step) {
		return nil, refuse(404, "no step %q: want one of %s", step, strings.Join(Steps, ", "))
	}
	s.Note = strings.TrimSpace(s.Note)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out *contract.Hazard
	var event string
	err := l.tx(ctx, func(tx Tx) error {
		h, err := tx.Lock(id)
		if errors.Is(err, ErrNotFound) {
			return refuse(404, "hazard %s not found", id)
		}
		if err != nil {
			return err
		}
		now := l.clock.Now()
		st := contract.HazardStep{At: now, By: s.By, Role: s.Role, Note: s.Note}
		if event, err = l.apply(tx, h, step, &s, &st, now); err != nil {
			return err
		}
		photos, err := l.photos(h, s.Photos, event, s.By, now)
		if err != nil {
			return err
		}
		for _, p := range photos {
			if err := tx.SavePhoto(p); err != nil {
				return err
			}
		}
		st.Action, st.Photos = event, photoIDs(photos)
		h.Steps = append(h.Steps, st)
		h.UpdatedAt = now
		h.Version++
		if err := tx.Save(h); err != nil {
			return err
		}
		out = h
		return emit(tx, event, now, h)
	})
	if err != nil {
		return nil, err
	}
	l.m.actions.WithLabelValues(event).Inc()
	l.log.Info("hazard "+event, "id", out.ID, "by", s.By, "status", out.Status)
	l.wakeTimers()
	return out.Clone(), nil
}

// apply changes h for a step inside its transaction and returns the
// event it is.
func (l *Ledger) apply(tx Tx, h *contract.Hazard, step string, s *Step, st *contract.HazardStep, now time.Time) (string, error) {
	status := h.Status
	allowed := func(want ...contract.HazardStatus) error {
		if slices.Contains(want, status) {
			return nil
		}
		names := make([]string, len(want))
		for i, w := range want {
			names[i] = string(w)
		}
		return refuse(409, "hazard %s is %s: %s needs it %s", h.ID, status, step, strings.Join(names, " or "))
	}
	needNote := func(why string) error {
		if s.Note == "" {
			return refuse(400, "note: required: %s", why)
		}
		return nil
	}
	cat, _ := l.cfg.Category(h.Category)
	switch step {
	case StepRegister:
		if err := allowed(contract.HazardReported); err != nil {
			return "", err
		}
		if s.Category != "" && s.Category != h.Category {
			c, ok := l.cfg.Category(s.Category)
			if !ok {
				return "", refuse(400, "category %q: want one of %s", s.Category, l.cfg.categoryIDs())
			}
			st.Note = strings.TrimSpace("category " + h.Category + " → " + c.ID + "; " + st.Note)
			h.Category, h.CategoryName, h.Serious = c.ID, c.Name, c.Serious
		}
		h.Status, h.RegisteredAt = contract.HazardRegistered, &now
		return contract.HazardEventRegistered, nil

	case StepDispatch:
		if err := allowed(contract.HazardRegistered, contract.HazardDispatched); err != nil {
			return "", err
		}
		r := s.Responsible
		if r == nil || strings.TrimSpace(r.Name) == "" || !slices.Contains(contract.ResponsibleKinds, r.Kind) {
			return "", refuse(400, "responsible: want {\"kind\": property|owner|unit|other, \"name\": ..., \"phone\": ...}: who must fix it")
		}
		due := now.Add(cat.Rectify)
		if s.Deadline != nil {
			if !s.Deadline.After(now) {
				return "", refuse(400, "deadline %s is not in the future", s.Deadline.Format(time.RFC3339))
			}
			due = s.Deadline.UTC()
		}
		first := h.DispatchedAt == nil
		h.Status, h.Responsible, h.RectifyBy = contract.HazardDispatched, r, &due
		if first {
			h.DispatchedAt = &now
		}
		st.To, st.Deadline = r.Name, &due
		if err := tx.DeleteTimer(h.ID, contract.DeadlineRespond); err != nil {
			return "", err
		}
		if ownTimers(h) {
			if err := tx.SetTimer(Timer{ID: h.ID, Kind: contract.DeadlineRectify, DueAt: due}); err != nil {
				return "", err
			}
		}
		return contract.HazardEventDispatched, nil

	case StepDeadline:
		if err := allowed(contract.HazardDispatched); err != nil {
			return "", err
		}
		if err := needNote("why the deadline moves"); err != nil {
			return "", err
		}
		if s.Deadline == nil || !s.Deadline.After(now) {
			return "", refuse(400, "deadline: want a time in the future (RFC 3339)")
		}
		due := s.Deadline.UTC()
		st.Note = "deadline " + h.RectifyBy.Format(time.RFC3339) + " → " + due.Format(time.RFC3339) + ": " + s.Note
		h.RectifyBy, st.Deadline = &due, &due
		if ownTimers(h) {
			if err := tx.SetTimer(Timer{ID: h.ID, Kind: contract.DeadlineRectify, DueAt: due}); err != nil {
				return "", err
			}
		}
		return contract.HazardEventDeadlineChanged, nil

	case StepRectify:
		if err := allowed(contract.HazardDispatched); err != nil {
			return "", err
		}
		if s.Note == "" && len(s.Photos) == 0 {
			return "", refuse(400, "note or photos: required: say or show what was done")
		}
		h.Status, h.RectifiedAt, h.RectifiedBy = contract.HazardRectified, &now, s.By
		return contract.HazardEventRectified, tx.DeleteTimer(h.ID, contract.DeadlineRectify)

	case StepVerify:
		if err := allowed(contract.HazardRectified); err != nil {
			return "", err
		}
		if s.By == h.RectifiedBy {
			return "", refuse(409, "%s recorded the rectification: someone else must verify it", s.By)
		}
		if s.Passed != nil && !*s.Passed {
			if err := needNote("what is still wrong"); err != nil {
				return "", err
			}
			// Back to whoever must fix it, under the deadline it had: one
			// already passed escalates at once.
			h.Status, h.RectifiedAt, h.RectifiedBy = contract.HazardDispatched, nil, ""
			if ownTimers(h) && h.RectifyBy != nil {
				if err := tx.SetTimer(Timer{ID: h.ID, Kind: contract.DeadlineRectify, DueAt: *h.RectifyBy}); err != nil {
					return "", err
				}
			}
			return contract.HazardEventVerifyFailed, nil
		}
		h.Status, h.VerifiedAt = contract.HazardVerified, &now
		return contract.HazardEventVerified, nil

	case StepClose:
		if err := allowed(contract.HazardVerified); err != nil {
			return "", err
		}
		h.Status, h.ClosedAt = contract.HazardClosed, &now
		return contract.HazardEventClosed, deleteTimers(tx, h.ID)

	case StepReopen:
		if err := allowed(contract.HazardClosed, contract.HazardRejected); err != nil {
			return "", err
		}
		if err := needNote("what the look back (回头看) found"); err != nil {
			return "", err
		}
		respond := now.Add(cat.Respond)
		h.Status, h.Reopened = contract.HazardRegistered, h.Reopened+1
		h.RegisteredAt, h.DispatchedAt, h.RectifiedAt, h.RectifiedBy, h.VerifiedAt, h.ClosedAt, h.RejectedAt = &now, nil, nil, "", nil, nil, nil
		h.RespondBy, h.RectifyBy, h.Overdue, h.Supervision = &respond, nil, nil, nil
		return contract.HazardEventReopened, tx.SetTimer(Timer{ID: h.ID, Kind: contract.DeadlineRespond, DueAt: respond})

	case StepReject:
		if err := allowed(contract.HazardReported, contract.HazardRegistered); err != nil {
			return "", err
		}
		if err := needNote("why it is no hazard (a duplicate, nothing there)"); err != nil {
			return "", err
		}
		h.Status, h.RejectedAt = contract.HazardRejected, &now
		return contract.HazardEventRejected, deleteTimers(tx, h.ID)

	case StepHandover:
		if !h.Open() {
			return "", refuse(409, "hazard %s is %s", h.ID, status)
		}
		s.To = strings.TrimSpace(s.To)
		if s.To == "" {
			return "", refuse(400, "to: required: the authority it goes to (a police station, the housing bureau)")
		}
		h.HandedOverTo, st.To = s.To, s.To
		return contract.HazardEventHandedOver, nil
	}
	return "", refuse(404, "no step %q", step)
}

func deleteTimers(tx Tx, id string) error {
	if err := tx.DeleteTimer(id, contract.DeadlineRespond); err != nil {
		return err
	}
	return tx.DeleteTimer(id, contract.DeadlineRectify)
}
