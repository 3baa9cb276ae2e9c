package simulator

import (
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest/gb26875"
)

// UnitTopicPrefix starts the topic of a transmission unit's frame in a
// run: gb26875/{unit address}. A Publisher sends such a publication to the
// GB/T 26875.3 listener (UnitPublisher), or a virtual firegrid hands it to
// ingest as the listener would.
const UnitTopicPrefix = contract.SourceGB26875 + "/"

// DefaultUnitInterval is how often a transmission unit sends its
// heartbeat (its own state, type 21).
const DefaultUnitInterval = time.Minute

// Units is a fleet of GB/T 26875.3 user information transmission devices:
// the devices the registry maps behind a unit (devices.csv gb26875) are
// played as their unit reports them. A scenario event of a component
// becomes the unit's frame of its state (type 2: fire, fault, back to
// normal, test), of a system its system state (type 1; a silence is an
// operation, type 4), of the unit itself its own state (type 21); the
// heartbeats of the devices behind a unit become the unit's heartbeat, at
// most one every half interval. Units is not safe for concurrent use.
type Units struct {
	loc      *time.Location
	centre   gb26875.Address
	interval time.Duration
	behind   map[string]unitPlace
	units    map[uint64]*unitClock
}

type unitPlace struct {
	unit              gb26875.Address
	system, component int64 // -1: the address stops before
	kind              contract.Kind
}

type unitClock struct {
	serial    uint16
	last      time.Time
	heartbeat bool
}

// NewUnits plays the devices of devs that sit behind a transmission unit;
// loc is the zone of the units' clocks (China Standard Time when nil).
func NewUnits(devs []*devices.Device, loc *time.Location) *Units {
	if loc == nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	u := &Units{loc: loc, interval: DefaultUnitInterval, behind: map[string]unitPlace{}, units: map[uint64]*unitClock{}}
	for _, d := range devs {
		if d == nil || d.Addresses().GB26875 == "" {
			continue
		}
		parts := strings.Split(d.Addresses().GB26875, "/")
		a, err := strconv.ParseUint(parts[0], 16, 64)
		if err != nil {
			continue
		}
		p := unitPlace{unit: gb26875.AddressOf(a), system: -1, component: -1, kind: d.Kind}
		if len(parts) > 1 {
			p.system, _ = strconv.ParseInt(parts[1], 10, 64)
		}
		if len(parts) > 2 {
			p.component, _ = strconv.ParseInt(parts[2], 10, 64)
		}
		u.behind[d.ID] = p
		if u.units[a] == nil {
			u.units[a] = &unitClock{}
		}
	}
	return u
}

// Len is how many units the fleet plays.
func (u *Units) Len() int { return len(u.units) }

// Behind reports whether the device sits behind a unit.
func (u *Units) Behind(device string) bool { _, ok := u.behind[device]; return ok }

// Frame makes the unit's frame of a publication of a device behind it,
// sent at now: its topic (gb26875/{unit}) and bytes. ok is false for a
// device behind no unit (publish it as it is); send is false when the unit
// sends nothing for it (a heartbeat within the unit's interval, an event
// the standard has no state for, such as a low battery).
func (u *Units) Frame(p *Publication, now time.Time) (topic string, frame []byte, send, ok bool) {
	place, ok := u.behind[p.Message.Device]
	if !ok {
		return "", nil, false, false
	}
	clk := u.units[place.unit.Uint64()]
	at := gb26875.StampOf(p.Message.TS.In(u.loc))
	var data *gb26875.Data
	if p.Message.Channel != contract.ChannelEvent {
		if clk.heartbeat && now.Sub(clk.last) < u.interval/2 {
			return "", nil, false, true
		}
		clk.heartbeat, clk.last = true, now
		data = &gb26875.Data{Type: gb26875.TypeUnitState, Objects: []gb26875.Object{&gb26875.UnitState{Status: gb26875.UnitNormal, Time: at}}}
	} else {
		status, known := unitStatus(p.Message.Event)
		switch {
		case place.component >= 0 && known:
			ctype := byte(0)
			if place.kind == contract.KindSmoke {
				ctype = gb26875.ComponentPhotoSmoke
			}
			data = &gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{&gb26875.ComponentState{
				SystemType: gb26875.SystemFireAlarm, SystemAddr: byte(place.system), ComponentType: ctype,
				ComponentAddr: uint32(place.component), Status: status, Time: at}}}
		case place.system >= 0 && p.Message.Event == "hush":
			data = &gb26875.Data{Type: gb26875.TypeOperation, Objects: []gb26875.Object{&gb26875.Operation{
				SystemType: gb26875.SystemFireAlarm, SystemAddr: byte(place.system), Flags: gb26875.OpSilence, Time: at}}}
		case place.system >= 0 && known:
			data = &gb26875.Data{Type: gb26875.TypeSystemState, Objects: []gb26875.Object{&gb26875.SystemState{
				SystemType: gb26875.SystemFireAlarm, SystemAddr: byte(place.system), Status: status, Time: at}}}
		case place.system < 0 && known:
			us := gb26875.UnitNormal
			switch {
			case status&gb26875.StatusFire != 0 && status&gb26875.StatusNormal == 0:
				us = gb26875.UnitFire
			case status&gb26875.StatusFire != 0:
				us |= gb26875.UnitFire
			case status&gb26875.StatusFault != 0:
				us |= gb26875.UnitFault
			}
			data = &gb26875.Data{Type: gb26875.TypeUnitState, Objects: []gb26875.Object{&gb26875.UnitState{Status: us, Time: at}}}
		default:
			return "", nil, false, true
		}
	}
	clk.serial++
	if clk.serial == 0 {
		clk.serial = 1
	}
	f := &gb26875.Frame{Serial: clk.serial, Version: gb26875.Version10, Time: gb26875.StampOf(now.In(u.loc)),
		Source: place.unit, Destination: u.centre, Command: gb26875.CmdSend, Data: data.Append(nil)}
	return UnitTopicPrefix + place.unit.String(), f.Bytes(), true, true
}

// unitStatus is the status word a fire alarm system reports for a
// contract event, and whether it has one.
func unitStatus(event string) (uint16, bool) {
	switch event {
	case "alarm", "press", "residual_current_alarm", "over_temp":
		return gb26875.StatusNormal | gb26875.StatusFire, true
	case "fault", "tamper":
		return gb26875.StatusNormal | gb26875.StatusFault, true
	case "clear", "cancel":
		return gb26875.StatusNormal, true
	case "test":
		return gb26875.StatusFire, true
	}
	return 0, false
}
