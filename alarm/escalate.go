package alarm

import (
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"slices"
	"strings"
	"time"

	"github.com/firegrid/firegrid/devices"
)

// fire acts on one claimed timer inside its transaction: it locks the
// incident, escalates when the timer's step is still undone, and re-arms
// or removes the timer. It returns the changed incident and the events to
// publish, or no events when the step was done in time.
func (m *Manager) fire(tx Tx, t Timer, now time.Time) (*contract.Incident, []string, error) {
	in, err := tx.Lock(t.Incident)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, tx.DeleteTimer(t.Incident, t.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	if in.Status != contract.StatusOpen || !in.Dispatchable || stepDone(in, t.Kind) {
		return nil, nil, tx.DeleteTimer(t.Incident, t.Kind)
	}
	var r *TimerRule
	if in.Deadlines != nil {
		r = m.dispatch.ruleNamed(in.Deadlines.Rule)
	}
	if r == nil {
		r = m.dispatch.rule(in)
	}
	policy, period := EscalateNone, time.Duration(0)
	if r != nil {
		policy = r.Escalate
		switch t.Kind {
		case TimerAck:
			period = r.Ack
		case TimerArrive:
			period = r.Arrive
		case TimerResolve:
			period = r.Resolve
		}
	}
	firstMiss := !slices.Contains(in.Overdue, t.Kind)
	if firstMiss {
		in.Overdue = append(in.Overdue, t.Kind)
	}
	late := fmt.Sprintf("%s overdue: due %s", stepName(t.Kind), t.DueAt.UTC().Format(time.RFC3339))
	if period > 0 {
		late = fmt.Sprintf("not %s within %s of the alarm", stepDoneName(t.Kind), fmtDuration(t.DueAt.Sub(in.OpenedAt).Truncate(time.Second)))
	}

	event, again := contract.EventOverdue, false
	switch policy {
	case EscalateStations:
		var asked []string
		if t.Kind == TimerAck {
			if st, dist := m.nextStation(in); st != nil && len(in.EscalatedTo) < m.dispatch.Escalation.Stations {
				in.EscalatedTo = append(in.EscalatedTo, st.ID)
				asked = append(asked, fmt.Sprintf("%s %s (%.0f m)", st.ID, st.Name, dist))
			}
			again = len(in.EscalatedTo) < m.dispatch.Escalation.Stations
		}
		if in.CenterAt == nil {
			in.CenterAt = &now
			asked = append(asked, "the "+m.dispatch.Escalation.Center+" centre")
		}
		if len(asked) > 0 {
			event = contract.EventEscalated
			in.Steps = append(in.Steps, contract.Step{At: now, Action: contract.EventEscalated, By: "timer", Note: late + "; asked " + strings.Join(asked, " and ")})
		} else {
			in.Steps = append(in.Steps, contract.Step{At: now, Action: contract.EventOverdue, By: "timer", Note: late})
		}
	case EscalateGrid:
		if a := m.nextSupervisor(in); a != nil {
			in.Supervision = append(in.Supervision, a.ID)
			event = contract.EventSupervised
			in.Steps = append(in.Steps, contract.Step{At: now, Action: contract.EventSupervised, By: "timer",
				Note: fmt.Sprintf("%s; supervised (挂牌督办) by %s %s %s", late, a.Level, a.ID, a.Name)})
			again = m.nextSupervisor(in) != nil
		} else {
			in.Steps = append(in.Steps, contract.Step{At: now, Action: contract.EventOverdue, By: "timer", Note: late})
		}
	default:
		in.Steps = append(in.Steps, contract.Step{At: now, Action: contract.EventOverdue, By: "timer", Note: late})
	}
	if again && period > 0 {
		// Still nobody: ask again one period later.
		err = tx.SetTimer(Timer{Incident: in.ID, Kind: t.Kind, DueAt: t.DueAt.Add(period)})
	} else {
		err = tx.DeleteTimer(t.Incident, t.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	in.UpdatedAt = now
	in.Version++
	if err := tx.Save(in); err != nil {
		return nil, nil, err
	}
	return in, []string{event}, nil
}

// stepDone reports whether the step a timer watches was done.
func stepDone(in *contract.Incident, kind string) bool {
	switch kind {
	case TimerAck:
		return in.AckedAt != nil
	case TimerArrive:
		return in.ArrivedAt != nil
	}
	return in.ResolvedAt != nil
}

func stepName(kind string) string {
	switch kind {
	case TimerAck:
		return "response"
	case TimerArrive:
		return "arrival"
	}
	return "handling"
}

func stepDoneName(kind string) string {
	switch kind {
	case TimerAck:
		return "acknowledged"
	case TimerArrive:
		return "on scene"
	}
	return "handled"
}

// fmtDuration writes 1m rather than 1m0s, 24h rather than 24h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// nextStation is the nearest station, by distance from the incident, that
// has not been asked yet.
func (m *Manager) nextStation(in *contract.Incident) (*devices.Station, float64) {
	for _, st := range m.reg.NearestStations(in.Location) {
		if st.ID != in.Station && !slices.Contains(in.EscalatedTo, st.ID) {
			return st, devices.Distance(in.Location, st.Location)
		}
	}
	return nil, 0
}

// nextSupervisor is the next level up the grid that does not supervise
// the ticket yet: the community above the zone, then the sub-district
// above the community.
func (m *Manager) nextSupervisor(in *contract.Incident) *devices.Area {
	if in.Zone == "" && in.Community != "" && !slices.Contains(in.Supervision, in.Community) {
		// A ticket placed in no zone starts at its community.
		if c, ok := m.reg.Area(in.Community); ok {
			return c
		}
	}
	from := in.Zone
	if from == "" {
		from = in.Community
	}
	return m.reg.NextUp(from, in.Supervision)
}
