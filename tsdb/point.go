package tsdb

import (
	"strconv"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/firegrid/firegrid/contract"
)

// Measurement names. A reading is one point of its device kind's
// measurement; a charger's ports are points of charger_port, one per port;
// an incident change is one point of incident.
const (
	MeasurementChargerPort = "charger_port"
	MeasurementIncident    = "incident"
)

// ReadingPoints converts a reading to its points. Tags: device, site, zone,
// community, station (and port for charger_port); fields: every value the
// device sent, seq, and event on the event channel. The time is the
// device's ts, so a redelivered reading overwrites itself.
func ReadingPoints(r *contract.Reading) []*write.Point {
	p := write.NewPointWithMeasurement(string(r.Kind)).SetTime(r.TS)
	tag(p, r)
	for k, v := range r.Values {
		p.AddField(k, v)
	}
	p.AddField("seq", int64(r.Seq))
	if r.Event != "" {
		p.AddField("event", r.Event)
	}
	out := []*write.Point{p}
	for _, port := range r.Ports {
		pp := write.NewPointWithMeasurement(MeasurementChargerPort).SetTime(r.TS)
		tag(pp, r)
		pp.AddTag("port", strconv.Itoa(port.Port))
		pp.AddField("current_a", port.CurrentA)
		pp.AddField("power_w", port.PowerW)
		pp.AddField("temp_c", port.TempC)
		if port.State != "" {
			pp.AddField("state", port.State)
		}
		out = append(out, pp)
	}
	return out
}

func tag(p *write.Point, r *contract.Reading) {
	p.AddTag("device", r.Device)
	p.AddTag("site", r.Site)
	p.AddTag("zone", r.Zone)
	p.AddTag("community", r.Community)
	p.AddTag("station", r.Station)
}

// IncidentPoint converts an incident change to an event point. Tags: id,
// event (opened, updated, acknowledged, arrived, resolved), type,
// severity, site, zone, community, station; fields: version, status,
// stage, dispatchable, devices (how many), outcome when resolved.
func IncidentPoint(c *contract.IncidentChange) *write.Point {
	in := c.Incident
	p := write.NewPointWithMeasurement(MeasurementIncident).SetTime(c.At)
	p.AddTag("id", in.ID)
	p.AddTag("event", c.Event)
	p.AddTag("type", in.Type)
	p.AddTag("severity", string(in.Severity))
	p.AddTag("site", in.Site)
	p.AddTag("zone", in.Zone)
	p.AddTag("community", in.Community)
	p.AddTag("station", in.Station)
	p.AddField("version", int64(in.Version))
	p.AddField("status", string(in.Status))
	p.AddField("stage", string(in.Stage))
	p.AddField("dispatchable", in.Dispatchable)
	p.AddField("devices", int64(len(in.Devices)))
	if in.Outcome != "" {
		p.AddField("outcome", in.Outcome)
	}
	return p
}
