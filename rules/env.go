package rules

import (
	"github.com/firegrid/firegrid/devices"
)

// Env is what a rule's `when` condition sees: the message and the device's
// attributes from the registry. For example
//
//	when: values.obscuration_pct_m > 5 && device.site_type == "household"
//	when: device.elderly_alone || period == "emergency"
type Env struct {
	Kind    string             `expr:"kind"`
	Channel string             `expr:"channel"`
	Event   string             `expr:"event"`
	Seq     uint64             `expr:"seq"`
	Values  map[string]float64 `expr:"values"`
	Ports   []PortEnv          `expr:"ports"`
	Device  DeviceEnv          `expr:"device"`
	// Period is the period in force: daily, holiday, major_event or
	// emergency.
	Period string `expr:"period"`
}

// PortEnv is one charger port in a condition.
type PortEnv struct {
	Port     int     `expr:"port"`
	CurrentA float64 `expr:"current_a"`
	PowerW   float64 `expr:"power_w"`
	TempC    float64 `expr:"temp_c"`
	State    string  `expr:"state"`
}

// DeviceEnv is the device's registry attributes in a condition.
type DeviceEnv struct {
	ID           string `expr:"id"`
	Kind         string `expr:"kind"`
	Model        string `expr:"model"`
	Ports        int    `expr:"ports"`
	Site         string `expr:"site"`
	SiteType     string `expr:"site_type"`
	Zone         string `expr:"zone"`
	Community    string `expr:"community"`
	Station      string `expr:"station"`
	ElderlyAlone bool   `expr:"elderly_alone"`
	Bereaved     bool   `expr:"bereaved"`
	Disabled     bool   `expr:"disabled"`
}

func deviceEnv(d *devices.Device, s *devices.Site) DeviceEnv {
	e := DeviceEnv{ID: d.ID, Kind: string(d.Kind), Model: d.Model, Ports: d.Ports, Site: d.Site, Zone: d.Zone(),
		Community: d.Community(), Station: d.Station(), ElderlyAlone: d.Flags().ElderlyAlone, Bereaved: d.Flags().Bereaved,
		Disabled: d.Flags().Disabled}
	if s != nil {
		e.SiteType = string(s.Type)
	}
	return e
}
