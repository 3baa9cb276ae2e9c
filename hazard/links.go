package hazard

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/firegrid/firegrid/contract"
)

// deviceCategory returns the category of the hazard a device ticket gets,
// or false when it gets none (a fire is no hazard ticket; a test is
// nothing).
func (l *Ledger) deviceCategory(in *contract.Incident) (string, bool) {
	if !in.Dispatchable {
		return "", false
	}
	var kinds []contract.Kind
	for _, id := range in.Devices {
		if d, ok := l.reg.Device(id); ok {
			kinds = append(kinds, d.Kind)
		}
	}
	for _, d := range l.cfg.DeviceTickets {
		if !slices.Contains(d.Types, in.Type) {
			continue
		}
		if len(d.Kinds) > 0 && !slices.ContainsFunc(kinds, func(k contract.Kind) bool { return slices.Contains(d.Kinds, k) }) {
			continue
		}
		return d.Category, true
	}
	return "", false
}

// HandleIncident is the handler of the incidents topic: a device ticket
// (a dead detector, a hydrant without pressure) stays an incident, and
// gets a linked hazard of source device, so that one list shows what a
// community must fix. The hazard follows the incident: its deadlines are
// the incident's, its supervision the incident's, and the incident's
// resolution is its rectification (or its rejection, for a false alarm);
// verification and closing are the community's, as for any hazard.
// Redelivered changes change nothing.
func (l *Ledger) HandleIncident(ctx context.Context, c *contract.IncidentChange) error {
	in := c.Incident
	if in == nil {
		return nil
	}
	cat, ok := l.deviceCategory(in)
	if !ok {
		return nil
	}
	id := hazardID("incident", in.ID)
	h, err := l.store.Hazard(ctx, id)
	if errors.Is(err, ErrNotFound) {
		if in.Status != contract.StatusOpen {
			return nil // resolved before anyone linked it: nothing to fix
		}
		if h, err = l.linkIncident(ctx, in, cat); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	return l.follow(ctx, h.ID, in)
}

// linkIncident makes the hazard of a device ticket.
func (l *Ledger) linkIncident(ctx context.Context, in *contract.Incident, category string) (*contract.Hazard, error) {
	desc := fmt.Sprintf("device ticket %s: %s at %s", in.ID, in.Type, firstOf(in.SiteName, in.Site))
	if in.Address != "" {
		desc += " (" + in.Address + ")"
	}
	r := Report{Category: category, Description: desc, Site: in.Site, Source: contract.SourceDevice, By: "firegrid",
		Incident: in.ID, Devices: in.Devices}
	if _, ok := l.reg.Site(in.Site); !ok {
		r.Site, r.Location, r.Address = "", &in.Location, in.Address
	}
	h, _, err := l.Report(ctx, r)
	var re *Error
	if errors.As(err, &re) {
		// A ticket the registry cannot place: logged, never redelivered
		// for ever.
		l.log.Warn("device ticket without a hazard", "incident", in.ID, "why", re.Msg)
		return nil, fmt.Errorf("%w: %v", contract.ErrPoison, re)
	}
	return h, err
}

// follow brings a device ticket's hazard in line with its incident: the
// incident's deadlines, its supervision and missed deadlines, registered
// at once (the system reported it), rectified (or rejected) when the
// incident is resolved.
func (l *Ledger) follow(ctx context.Context, id string, in *contract.Incident) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var event string
	err := l.tx(ctx, func(tx Tx) error {
		event = ""
		h, err := tx.Lock(id)
		if err != nil {
			return err
		}
		if h.Source != contract.SourceDevice || h.Reopened > 0 {
			return nil // a look back made it the people's
		}
		now := l.clock.Now()
		changed := false
		if h.Status == contract.HazardReported {
			h.Status, h.RegisteredAt = contract.HazardRegistered, &now
			h.Steps = append(h.Steps, contract.HazardStep{At: now, Action: contract.HazardEventRegistered, By: "firegrid",
				Note: "device ticket " + in.ID})
			event, changed = contract.HazardEventRegistered, true
		}
		if dl := in.Deadlines; dl != nil {
			if dl.Ack != nil && (h.RespondBy == nil || !h.RespondBy.Equal(*dl.Ack)) {
				h.RespondBy, changed = dl.Ack, true
			}
			if dl.Resolve != nil && h.DispatchedAt == nil && (h.RectifyBy == nil || !h.RectifyBy.Equal(*dl.Resolve)) {
				h.RectifyBy, changed = dl.Resolve, true
			}
		}
		for _, o := range in.Overdue {
			kind := map[string]string{"ack": contract.DeadlineRespond, "resolve": contract.DeadlineRectify}[o]
			if kind != "" && !slices.Contains(h.Overdue, kind) {
				h.Overdue = append(h.Overdue, kind)
				h.Steps = append(h.Steps, contract.HazardStep{At: now, Action: contract.HazardEventOverdue, By: "firegrid",
					Note: "incident " + in.ID + ": " + o + " overdue"})
				event, changed = contract.HazardEventOverdue, true
			}
		}
		for _, a := range in.Supervision {
			if !slices.Contains(h.Supervision, a) {
				h.Supervision = append(h.Supervision, a)
				h.Steps = append(h.Steps, contract.HazardStep{At: now, Action: contract.HazardEventSupervised, By: "firegrid", To: a,
					Note: "incident " + in.ID + " supervised (挂牌督办) by " + a})
				event, changed = contract.HazardEventSupervised, true
			}
		}
		if in.Status == contract.StatusResolved && (h.Status == contract.HazardRegistered || h.Status == contract.HazardDispatched) {
			by := "firegrid"
			for _, s := range in.Steps {
				if s.Action == contract.EventResolved && s.By != "" {
					by = s.By
				}
			}
			note := "incident " + in.ID + " resolved: " + in.Outcome
			if in.Note != "" {
				note += "; " + in.Note
			}
			switch in.Outcome {
			case "false_alarm", "test", "nuisance":
				h.Status, h.RejectedAt = contract.HazardRejected, in.ResolvedAt
				event = contract.HazardEventRejected
			default:
				h.Status, h.RectifiedAt, h.RectifiedBy = contract.HazardRectified, in.ResolvedAt, by
				event = contract.HazardEventRectified
			}
			h.Steps = append(h.Steps, contract.HazardStep{At: now, Action: event, By: by, Note: note})
			changed = true
		}
		if !changed {
			return nil
		}
		if event == "" {
			event = contract.HazardEventDeadlineChanged // the incident's deadlines moved
		}
		h.UpdatedAt = now
		h.Version++
		if err := tx.Save(h); err != nil {
			return err
		}
		return emit(tx, event, now, h)
	})
	return err
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
