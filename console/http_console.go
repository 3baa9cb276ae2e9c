package console

import (
	"github.com/firegrid/firegrid/alarm"
	"net/http"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

// MinHydrantMPa is the pressure below which a hydrant is shown as low
// (GB 50974: the worst hydrant must hold 0.10 MPa in a fire).
const MinHydrantMPa = 0.10

// IncidentContext is what the crew needs beside the incident: who lives
// there, what the devices said lately, and the nearest hydrants.
type IncidentContext struct {
	Residents []devices.Resident `json:"residents"`
	Devices   []DeviceRecent     `json:"devices"`
	Hydrants  []HydrantStatus    `json:"hydrants"`
}

// DeviceRecent is a device with its last readings.
type DeviceRecent struct {
	ID     string          `json:"id"`
	Kind   contract.Kind   `json:"kind"`
	Model  string          `json:"model,omitempty"`
	Recent []RecentReading `json:"recent"`
}

// HydrantStatus is a hydrant near an incident.
type HydrantStatus struct {
	ID        string         `json:"id"`
	Site      string         `json:"site"`
	Location  contract.Point `json:"location"`
	DistanceM float64        `json:"distance_m"`
	// PressureMPa and At are the latest reading; Status is ok, low,
	// fault (an open incident) or unknown (no reading since start).
	PressureMPa *float64   `json:"pressure_mpa,omitempty"`
	At          *time.Time `json:"at,omitempty"`
	Status      string     `json:"status"`
}

func (a *API) incidentContext(w http.ResponseWriter, r *http.Request) {
	in := a.visibleIncident(w, r, "view")
	if in == nil {
		return
	}
	recent := a.Recent
	if recent == nil {
		recent = NewRecent(1)
	}
	out := IncidentContext{Residents: []devices.Resident{}, Devices: []DeviceRecent{}, Hydrants: []HydrantStatus{}}
	if site, ok := a.Registry.Site(in.Site); ok && site.ResidentCount() > 0 {
		out.Residents = site.Residents()
	}
	for _, d := range a.Registry.SiteDevices(in.Site) {
		rr := recent.Of(d.ID)
		if rr == nil {
			rr = []RecentReading{} // a list, also for a device not heard since start
		}
		out.Devices = append(out.Devices, DeviceRecent{ID: d.ID, Kind: d.Kind, Model: d.Model, Recent: rr})
	}
	// Hydrants with an open problem (low pressure, hit, fault, offline).
	open, _ := a.Manager.List(r.Context(), alarm.Filter{Status: contract.StatusOpen})
	troubled := map[string]bool{}
	for _, o := range open {
		for _, d := range o.Devices {
			troubled[d] = true
		}
	}
	for _, h := range a.Registry.Nearby(in.Location, contract.KindHydrant, 3) {
		hs := HydrantStatus{ID: h.ID, Site: h.Site, Location: h.Location, DistanceM: devices.Distance(in.Location, h.Location), Status: "unknown"}
		if rd, ok := recent.latest(h.ID, "pressure_mpa"); ok {
			p, at := rd.Values["pressure_mpa"], rd.At
			hs.PressureMPa, hs.At, hs.Status = &p, &at, "ok"
			if p < MinHydrantMPa {
				hs.Status = "low"
			}
		}
		if troubled[h.ID] {
			hs.Status = "fault"
		}
		out.Hydrants = append(out.Hydrants, hs)
	}
	writeJSON(w, http.StatusOK, out)
}

// mapGeoJSON serves the registry as one GeoJSON FeatureCollection for the
// console's map: communities and zones (polygons), stations and devices
// (points). The console draws it itself: no external tiles.
func (a *API) mapGeoJSON(w http.ResponseWriter, _ *http.Request) {
	type feature struct {
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
		Geometry   map[string]any `json:"geometry"`
	}
	var fs []feature
	for _, l := range []devices.Level{devices.LevelCommunity, devices.LevelZone} {
		for _, ar := range a.Registry.Areas(l) {
			if ar.Polygon == nil {
				continue
			}
			var polys [][][][2]float64
			for _, p := range ar.Polygon.Coords() {
				var rings [][][2]float64
				for _, ring := range p {
					var rr [][2]float64
					for _, c := range ring {
						rr = append(rr, [2]float64{c[0], c[1]})
					}
					rings = append(rings, rr)
				}
				polys = append(polys, rings)
			}
			fs = append(fs, feature{"Feature", map[string]any{"layer": string(l), "id": ar.ID, "name": ar.Name, "station": ar.Station},
				map[string]any{"type": "MultiPolygon", "coordinates": polys}})
		}
	}
	for _, s := range a.Registry.Stations() {
		fs = append(fs, feature{"Feature", map[string]any{"layer": "station", "id": s.ID, "name": s.Name},
			map[string]any{"type": "Point", "coordinates": [2]float64{s.Location.Lon, s.Location.Lat}}})
	}
	for _, d := range a.Registry.Devices("") {
		fs = append(fs, feature{"Feature", map[string]any{"layer": "device", "id": d.ID, "kind": d.Kind, "site": d.Site},
			map[string]any{"type": "Point", "coordinates": [2]float64{d.Location.Lon, d.Location.Lat}}})
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{"type": "FeatureCollection", "features": fs})
}
