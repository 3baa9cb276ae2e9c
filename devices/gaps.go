package devices

import (
	"cmp"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"slices"
)

// Gap is a hole in the coverage the registry shows (镇不漏村，村不漏楼，
// 楼不漏户): a zone nobody answers for, a household without a detector.
// Gaps do not stop a registry from loading; they are work for the people
// who run the territory.
type Gap struct {
	Kind   string `json:"kind"`   // one of the Gap* constants
	ID     string `json:"id"`     // the area, site or station concerned
	Detail string `json:"detail"` // a sentence for a person
}

// Kinds of Gap, in the order Gaps reports them.
const (
	GapZoneWithoutStation       = "zone_without_station"
	GapCommunityWithoutStation  = "community_without_station"
	GapZoneWithoutGridWorker    = "zone_without_grid_worker"
	GapZoneWithoutDevices       = "zone_without_devices"
	GapHouseholdWithoutSmoke    = "household_without_smoke_detector"
	GapHouseholdWithoutResident = "household_without_residents"
	GapShedWithoutSmoke         = "charging_shed_without_smoke_detector"
	GapShedWithoutCharger       = "charging_shed_without_charger"
	GapHydrantWithoutMonitor    = "hydrant_without_monitor"
	GapSiteWithoutDevices       = "site_without_devices"
	GapVulnerableNoGuardian     = "vulnerable_resident_without_guardian"
)

var gapOrder = []string{
	GapZoneWithoutStation, GapCommunityWithoutStation, GapZoneWithoutGridWorker,
	GapZoneWithoutDevices, GapHouseholdWithoutSmoke, GapHouseholdWithoutResident,
	GapShedWithoutSmoke, GapShedWithoutCharger, GapHydrantWithoutMonitor,
	GapSiteWithoutDevices, GapVulnerableNoGuardian,
}

// Gaps returns the coverage gaps of the territory, by kind then id. Sites
// outside every zone are not gaps but load errors: the registry refuses
// them.
func (r *Registry) Gaps() []Gap { return slices.Clone(r.gaps) }

func findGaps(r *Registry) []Gap {
	var gaps []Gap
	add := func(kind, id, format string, args ...any) {
		gaps = append(gaps, Gap{Kind: kind, ID: id, Detail: fmt.Sprintf(format, args...)})
	}
	zoneDevices := map[string]int{}
	for _, d := range r.allDevices {
		zoneDevices[d.Zone()]++
	}
	for _, z := range r.byLevel[LevelZone] {
		if z.Station == "" {
			detail := "no micro fire station is responsible"
			centre := centroid(z)
			if near := r.NearestStations(centre); len(near) > 0 {
				detail += fmt.Sprintf("; alarms go to the nearest, %s %s (%.0f m from the zone's centre)",
					near[0].ID, near[0].Name, Distance(centre, near[0].Location))
			}
			add(GapZoneWithoutStation, z.ID, "%s %s: %s", z.ID, z.Name, detail)
		}
		if z.GridWorker.Name == "" || z.GridWorker.Phone == "" {
			add(GapZoneWithoutGridWorker, z.ID, "%s %s: no grid worker (网格员) name and phone", z.ID, z.Name)
		}
		if zoneDevices[z.ID] == 0 {
			add(GapZoneWithoutDevices, z.ID, "%s %s: no device installed", z.ID, z.Name)
		}
	}
	hasStation := map[string]bool{}
	for _, s := range r.stationList {
		hasStation[s.Community] = true
	}
	for _, c := range r.byLevel[LevelCommunity] {
		if !hasStation[c.ID] {
			add(GapCommunityWithoutStation, c.ID, "%s %s: no micro fire station belongs to the community", c.ID, c.Name)
		}
	}
	for _, s := range r.siteList {
		kinds := map[contract.Kind]int{}
		for _, d := range r.siteDevices[s.ID] {
			kinds[d.Kind]++
		}
		switch s.Type {
		case contract.SiteHousehold:
			if kinds[contract.KindSmoke] == 0 {
				add(GapHouseholdWithoutSmoke, s.ID, "%s %s: household without a smoke detector", s.ID, s.Address)
			}
			if s.ResidentCount() == 0 {
				add(GapHouseholdWithoutResident, s.ID, "%s %s: nobody recorded as living here", s.ID, s.Address)
			}
		case contract.SiteChargingShed:
			if kinds[contract.KindSmoke] == 0 {
				add(GapShedWithoutSmoke, s.ID, "%s %s: charging shed without a smoke detector", s.ID, s.Name)
			}
			if kinds[contract.KindCharger] == 0 {
				add(GapShedWithoutCharger, s.ID, "%s %s: charging shed without a smart charger", s.ID, s.Name)
			}
		case contract.SiteHydrant:
			if kinds[contract.KindHydrant] == 0 {
				add(GapHydrantWithoutMonitor, s.ID, "%s %s: hydrant without a pressure monitor", s.ID, s.Name)
			}
		default:
			if len(r.siteDevices[s.ID]) == 0 {
				add(GapSiteWithoutDevices, s.ID, "%s %s: %s without any device", s.ID, s.Name, s.Type)
			}
		}
		if s.Flags.Any() && s.Guardian.Phone == "" {
			add(GapVulnerableNoGuardian, s.ID, "%s %s: vulnerable resident with no guardian (监护人) phone", s.ID, s.Address)
		}
	}
	rank := map[string]int{}
	for i, k := range gapOrder {
		rank[k] = i
	}
	slices.SortStableFunc(gaps, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(rank[a.Kind], rank[b.Kind]), cmp.Compare(a.ID, b.ID))
	})
	return gaps
}
