package rules

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// member is one raise a correlation remembers.
type member struct {
	Device   string         `json:"device"`
	Site     string         `json:"site"`
	Rule     string         `json:"rule"`
	Message  string         `json:"message"`
	At       time.Time      `json:"at"`
	Location contract.Point `json:"location"`
}

// members is a correlation's memory: the latest raises (bounded), and the
// sites it has confirmed, so that a confirmation is raised once per spell.
type members struct {
	List  []member             `json:"members"`
	Fired map[string]time.Time `json:"fired,omitempty"`
}

func (m *members) add(x member, window time.Duration, limit int) {
	from := x.At.Add(-window)
	kept := m.List[:0]
	for _, y := range m.List {
		if y.At.Before(from) || y.Device == x.Device && y.Rule == x.Rule {
			continue
		}
		kept = append(kept, y)
	}
	kept = append(kept, x)
	if len(kept) > limit {
		kept = kept[len(kept)-limit:]
	}
	m.List = kept
	for site, t := range m.Fired {
		if t.Before(from) {
			delete(m.Fired, site)
		}
	}
}

// radiusState holds correlations that join sites within a radius. They
// see every site of this engine; scaled out on Kafka, only the sites of the
// partitions one engine holds.
type radiusState struct {
	mu   sync.Mutex
	bufs map[string]*members
}

// merge adds a snapshot's members of the sites keep accepts to a radius
// correlation's memory.
func (r *radiusState) merge(rule string, m members, keep func(string) bool) {
	cur := r.bufs[rule]
	if cur == nil {
		cur = &members{}
		r.bufs[rule] = cur
	}
	for _, x := range m.List {
		if keep(x.Site) && !slices.ContainsFunc(cur.List, func(y member) bool { return y == x }) {
			cur.List = append(cur.List, x)
		}
	}
	slices.SortFunc(cur.List, func(a, b member) int { return a.At.Compare(b.At) })
	for site, t := range m.Fired {
		if keep(site) {
			if cur.Fired == nil {
				cur.Fired = map[string]time.Time{}
			}
			cur.Fired[site] = t
		}
	}
}

// correlate adds a raise to a correlation rule and, when every term is
// met, confirms the incident of each site involved, once.
func (e *Engine) correlate(rs *ruleSet, cr *rule, site *siteState, d *deviceState, s contract.Signal, pi int, out []contract.Signal) []contract.Signal {
	if len(cr.SiteTypes) > 0 && (site.site == nil || !slices.Contains(cr.SiteTypes, site.site.Type)) {
		return out
	}
	x := member{Device: d.dev.ID, Site: d.dev.Site, Rule: s.Rule, Message: s.Message, At: s.ReceivedAt, Location: d.dev.Location}
	if x.Message == "" {
		x.Message = s.ID
	}
	var buf *members
	if cr.RadiusM > 0 {
		e.radius.mu.Lock()
		defer e.radius.mu.Unlock()
		if buf = e.radius.bufs[cr.ID]; buf == nil {
			buf = &members{}
			e.radius.bufs[cr.ID] = buf
		}
	} else {
		if site.corr == nil {
			site.corr = map[string]*members{}
		}
		if buf = site.corr[cr.ID]; buf == nil {
			buf = &members{}
			site.corr[cr.ID] = buf
		}
	}
	buf.add(x, cr.Window, rs.cfg.Limits.Members)
	// The cluster: members of the same site, or within the radius.
	var cluster []member
	for _, y := range buf.List {
		if y.Site == x.Site || cr.RadiusM > 0 && devices.Distance(x.Location, y.Location) <= cr.RadiusM {
			cluster = append(cluster, y)
		}
	}
	for _, t := range cr.Match {
		var devs []string
		for _, y := range cluster {
			if slices.Contains(t.Rules, y.Rule) && !slices.Contains(devs, y.Device) {
				devs = append(devs, y.Device)
			}
		}
		if len(devs) < t.MinDevices {
			return out
		}
	}
	if buf.Fired == nil {
		buf.Fired = map[string]time.Time{}
	}
	related := make([]string, 0, len(cluster))
	for _, y := range cluster {
		related = append(related, y.Message)
	}
	var sites []string
	for i := len(cluster) - 1; i >= 0; i-- {
		if y := cluster[i]; !slices.Contains(sites, y.Site) {
			sites = append(sites, y.Site)
		}
	}
	for _, siteID := range sites {
		_, fired := buf.Fired[siteID]
		buf.Fired[siteID] = x.At
		if fired {
			continue
		}
		var first, last member
		for _, y := range cluster {
			if y.Site != siteID {
				continue
			}
			if first.Message == "" || y.At.Before(first.At) {
				first = y
			}
			last = y
		}
		dev, ok := e.reg.Device(last.Device)
		if !ok {
			continue
		}
		sig := contract.Signal{
			// Named after the site's own first raise in the cluster, not
			// after the raise that completed it: the other sites' raises
			// come from other partitions, so a replay after a crash may
			// complete the cluster on another raise, and the confirmation
			// must keep the id it had, or the alarm role applies it twice.
			ID:           cr.ID + "/raise/" + first.Message + "/" + siteID,
			Rule:         cr.ID,
			Action:       contract.ActionRaise,
			Type:         cr.Incident,
			Severity:     cr.params[pi].severity,
			Dispatchable: cr.IsDispatchable(),
			Kind:         dev.Kind,
			Device:       dev.ID,
			Site:         siteID,
			Message:      x.Message,
			At:           s.At,
			ReceivedAt:   s.ReceivedAt,
			Detail:       fmt.Sprintf("confirmed: %d signals from %d devices within %s", len(cluster), countDevices(cluster), cr.Window),
			Period:       s.Period,
			Confirmed:    true,
			Notify119:    cr.Notify119,
			Related:      related,
		}
		if cr.RadiusM > 0 {
			sig.Detail += fmt.Sprintf(" and %g m", cr.RadiusM)
		}
		out = append(out, sig)
	}
	return out
}

func countDevices(ms []member) int {
	var seen []string
	for _, m := range ms {
		if !slices.Contains(seen, m.Device) {
			seen = append(seen, m.Device)
		}
	}
	return len(seen)
}
