package bus_test

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/firegrid/firegrid/bus/proto/firegrid/v1"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/simulator"
)

// The values the codec tests and benchmarks encode, and a copy of each
// into and out of the schema's generated types, written field by field
// by name: what the proto codec must agree with.

// record is one contract value and the topic it travels on.
type record struct {
	name  string
	topic string
	v     any
}

// enrich makes the reading ingest would of m, on the demo registry's
// first site.
func enrich(m contract.Message) *contract.Reading {
	return &contract.Reading{
		ID:         "smoke/SD-0001/812/1795420800120",
		Message:    m,
		ReceivedAt: m.TS.Add(3712345 * time.Nanosecond),
		Site:       "H-0001", Zone: "Z-03", Community: "C-Xinhua", Station: "ST-2",
		Location: contract.Point{Lon: 114.512345, Lat: 38.042345},
	}
}

func charger10() *contract.Reading {
	var ports []contract.Port
	for i := range 10 {
		ports = append(ports, simulator.ChargerPort(i+1, float64(i%4)*1.05, 25.5+float64(i)))
	}
	r := enrich(simulator.ChargerTelemetry("CH-001", ports...))
	r.ID, r.Site = "charger/CH-001/812/1795420800120", "S-0001"
	return r
}

func signalFixture() *contract.Signal {
	v := 12.5
	at := simulator.FixtureTime()
	return &contract.Signal{ID: "smoke_alarm/smoke/SD-0001/812/1795420800120", Rule: "smoke_alarm", Action: contract.ActionRaise,
		Type: "fire", Severity: contract.SeverityCritical, Dispatchable: true, Kind: contract.KindSmoke, Device: "SD-0001",
		Site: "H-0001", Message: "smoke/SD-0001/812/1795420800120", Event: "alarm", Value: &v, At: at,
		ReceivedAt: at.Add(3712345 * time.Nanosecond), Command: "hush", Period: contract.PeriodDaily}
}

func commandFixture() *contract.Command {
	return &contract.Command{Kind: contract.KindCharger, Device: "CH-001", Cmd: "port_off", Port: 3, Reason: "over_temp",
		Incident: "INC-20261123-0001", Signal: "charger_over_temp/charger/CH-001/812/1795420800120"}
}

// benchRecords are the records BenchmarkCodec measures, by name.
func benchRecords() []record {
	return []record{
		{"smoke", contract.TopicEvents, enrich(simulator.SmokeAlarm("SD-0001"))},
		{"hydrant", contract.TopicTelemetry, func() *contract.Reading {
			r := enrich(simulator.HydrantTelemetry("HY-001", 0.30))
			r.ID, r.Site = "hydrant/HY-001/812/1795420800120", "HY-001"
			return r
		}()},
		{"charger10", contract.TopicTelemetry, charger10()},
		{"signal", contract.TopicSignals, signalFixture()},
		{"command", contract.TopicCommands, commandFixture()},
	}
}

// roundTripRecords are every topic's values, the usual and the odd: zero
// values, nil maps, instants at the edges of time, negative numbers.
func roundTripRecords() []record {
	at := time.Date(2026, 11, 23, 8, 0, 0, 123456789, time.UTC)
	zero := 0.0
	skewed := enrich(simulator.SmokeAlarm("SD-0001"))
	skewed.ClockSkewed, skewed.DeviceTS, skewed.TS = true, time.Unix(0, 0).UTC(), skewed.ReceivedAt
	negative := enrich(simulator.HydrantTelemetry("HY-001", -0.5))
	negative.Seq, negative.Location = 1<<64-1, contract.Point{Lon: -179.999999, Lat: -89.5}
	negative.Ports = []contract.Port{{Port: -1, CurrentA: -1e-300, State: "ünïcode 充电"}, {},
		{Port: 3, State: strings.Repeat("a port message longer than 127 bytes ", 5)}}
	long := enrich(simulator.SmokeAlarm("SD-0001"))
	long.Zone = string(make([]byte, 300)) // a length of two bytes, NULs and all
	long.TS = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	long.ReceivedAt = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	recs := benchRecords()
	recs = append(recs,
		record{"reading-zero", contract.TopicTelemetry, &contract.Reading{}},
		record{"reading-skewed-epoch", contract.TopicEvents, skewed},
		record{"reading-negative", contract.TopicTelemetry, negative},
		record{"reading-long-string", contract.TopicTelemetry, long},
		record{"signal-zero", contract.TopicSignals, &contract.Signal{}},
		record{"signal-value-zero", contract.TopicSignals, &contract.Signal{ID: "s", Value: &zero, Port: 7, Related: []string{"a", "", "c"},
			Confirmed: true, Notify119: true, Flapping: true, Suppressed: contract.SuppressedTest, ClockSkewed: true, Detail: "d"}},
		record{"command-zero", contract.TopicCommands, &contract.Command{}},
		record{"deadletter", contract.TopicDeadLetters, contract.NewDeadLetter(at, "fg/v1/smoke/SD-0001/event", []byte{0xff, 0xfe, '{'},
			contract.ReasonMalformed, "invalid character")},
		record{"deadletter-zero", contract.TopicDeadLetters, &contract.DeadLetter{}},
		record{"control", contract.TopicControl, &contract.Control{ID: "ctl-1", At: at, What: contract.ControlRules, RulesVersion: 42, By: "admin"}},
		record{"control-zero", contract.TopicControl, &contract.Control{}},
	)
	return recs
}

func tsToPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return &timestamppb.Timestamp{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())}
}

func tsFromPB(p *timestamppb.Timestamp) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Unix(p.Seconds, int64(p.Nanos)).UTC()
}

func readingToPB(r *contract.Reading) *pb.Reading {
	p := &pb.Reading{Id: r.ID, Kind: string(r.Kind), Device: r.Device, Channel: string(r.Channel), Ts: tsToPB(r.TS),
		Seq: r.Seq, Event: r.Event, Values: r.Values, ReceivedAt: tsToPB(r.ReceivedAt), Site: r.Site, Zone: r.Zone,
		Community: r.Community, Station: r.Station, ClockSkewed: r.ClockSkewed, DeviceTs: tsToPB(r.DeviceTS)}
	if r.Location != (contract.Point{}) {
		p.Location = &pb.Point{Lon: r.Location.Lon, Lat: r.Location.Lat}
	}
	for _, pt := range r.Ports {
		p.Ports = append(p.Ports, &pb.Port{Port: int64(pt.Port), CurrentA: pt.CurrentA, PowerW: pt.PowerW, TempC: pt.TempC, State: pt.State})
	}
	return p
}

func readingFromPB(p *pb.Reading) *contract.Reading {
	r := &contract.Reading{ID: p.Id, Message: contract.Message{Kind: contract.Kind(p.Kind), Device: p.Device,
		Channel: contract.Channel(p.Channel), TS: tsFromPB(p.Ts), Seq: p.Seq, Event: p.Event},
		ReceivedAt: tsFromPB(p.ReceivedAt), Site: p.Site, Zone: p.Zone, Community: p.Community, Station: p.Station,
		ClockSkewed: p.ClockSkewed, DeviceTS: tsFromPB(p.DeviceTs)}
	if len(p.Values) > 0 {
		r.Values = p.Values
	}
	if p.Location != nil {
		r.Location = contract.Point{Lon: p.Location.Lon, Lat: p.Location.Lat}
	}
	if len(p.Ports) > 0 {
		r.Ports = make([]contract.Port, len(p.Ports))
		for i, pt := range p.Ports {
			r.Ports[i] = contract.Port{Port: int(pt.Port), CurrentA: pt.CurrentA, PowerW: pt.PowerW, TempC: pt.TempC, State: pt.State}
		}
	}
	return r
}

func signalToPB(s *contract.Signal) *pb.Signal {
	return &pb.Signal{Id: s.ID, Rule: s.Rule, Action: string(s.Action), Type: s.Type, Severity: string(s.Severity),
		Dispatchable: s.Dispatchable, Kind: string(s.Kind), Device: s.Device, Site: s.Site, Port: int64(s.Port),
		Message: s.Message, Event: s.Event, Value: s.Value, At: tsToPB(s.At), ReceivedAt: tsToPB(s.ReceivedAt),
		Command: s.Command, Detail: s.Detail, Period: string(s.Period), Confirmed: s.Confirmed, Notify_119: s.Notify119,
		Flapping: s.Flapping, Suppressed: s.Suppressed, Related: s.Related, ClockSkewed: s.ClockSkewed}
}

func signalFromPB(p *pb.Signal) *contract.Signal {
	s := &contract.Signal{ID: p.Id, Rule: p.Rule, Action: contract.Action(p.Action), Type: p.Type,
		Severity: contract.Severity(p.Severity), Dispatchable: p.Dispatchable, Kind: contract.Kind(p.Kind), Device: p.Device,
		Site: p.Site, Port: int(p.Port), Message: p.Message, Event: p.Event, Value: p.Value, At: tsFromPB(p.At),
		ReceivedAt: tsFromPB(p.ReceivedAt), Command: p.Command, Detail: p.Detail, Period: contract.Period(p.Period),
		Confirmed: p.Confirmed, Notify119: p.Notify_119, Flapping: p.Flapping, Suppressed: p.Suppressed, ClockSkewed: p.ClockSkewed}
	if len(p.Related) > 0 {
		s.Related = p.Related
	}
	return s
}

func commandToPB(c *contract.Command) *pb.Command {
	return &pb.Command{Kind: string(c.Kind), Device: c.Device, Cmd: c.Cmd, Port: int64(c.Port), Reason: c.Reason,
		Incident: c.Incident, Signal: c.Signal}
}

func commandFromPB(p *pb.Command) *contract.Command {
	return &contract.Command{Kind: contract.Kind(p.Kind), Device: p.Device, Cmd: p.Cmd, Port: int(p.Port), Reason: p.Reason,
		Incident: p.Incident, Signal: p.Signal}
}

func deadLetterToPB(d *contract.DeadLetter) *pb.DeadLetter {
	return &pb.DeadLetter{At: tsToPB(d.At), Reason: string(d.Reason), Detail: d.Detail, Topic: d.Topic, Size: int64(d.Size),
		Payload: d.Payload, Encoding: d.Encoding, Truncated: d.Truncated}
}

func controlToPB(c *contract.Control) *pb.Control {
	return &pb.Control{Id: c.ID, At: tsToPB(c.At), What: c.What, RulesVersion: int64(c.RulesVersion), By: c.By}
}
