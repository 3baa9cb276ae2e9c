package ingest

import (
	"errors"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest/gb26875"
)

func init() {
	RegisterDecoder(contract.SourceGB26875, func(s Setup) (SourceDecoder, error) {
		return &gbDecoder{reg: s.Registry, loc: s.Location}, nil
	})
}

// gbDecoder reads a GB/T 26875.3 frame a transmission unit sent (the
// uplink's payload is the whole frame) into messages of the devices the
// registry maps behind the unit:
//
//   - type 2, component state: an event of the component's device: fire
//     (the status's fire bit; test when the component is in test state),
//     fault (fault, power fault or isolation), or back to normal. A
//     component the registry does not map is a dead letter, the rest of
//     the frame goes on.
//   - type 1, system state, and type 4, operation: an event of the
//     system's device, when one is mapped (UNIT/SYSTEM): fire, fault,
//     reset or alarm clear (back to normal), silence (hush), test.
//   - type 21, the unit's own state, or a frame with no data (a bare
//     heartbeat): a sign of life (telemetry) of every device mapped
//     behind the unit, and an event of the unit's own device (UNIT) when
//     it reports fire or a fault.
//
// Other types and commands carry nothing firegrid keeps; they are read,
// and the listener confirms them. Each message's time is its object's
// time tag (else the frame's, else the receive time) in the configured
// zone; its seq is the frame's serial times 256 plus the object's index,
// so a frame the unit sends again finds the readings it made the first
// time.
type gbDecoder struct {
	reg *devices.Registry
	loc *time.Location
}

// gbEvents are the events a fire alarm system's states become, per kind
// of the device mapped at the address.
var gbEvents = map[contract.Kind]struct{ fire, fault, normal, test string }{
	contract.KindSmoke:      {"alarm", "fault", "clear", "test"},
	contract.KindElectrical: {"residual_current_alarm", "fault", "clear", "test"},
	contract.KindGas:        {"alarm", "fault", "clear", "test"},
	contract.KindButton:     {"press", "fault", "cancel", "test"},
}

const (
	componentFaults = gb26875.StatusFault | gb26875.StatusPowerFault | gb26875.StatusShield
	systemFaults    = componentFaults | gb26875.StatusBackupPowerFault | gb26875.StatusBusFault
	unitFaults      = gb26875.UnitFault | gb26875.UnitMainPowerFault | gb26875.UnitBackupPowerFault | gb26875.UnitLinkFault | gb26875.UnitLineFault
)

// heartbeatIndex is the seq's low byte of a unit heartbeat's signs of
// life; an object's index is below it (a unit holds at most 170 objects).
const heartbeatIndex = 0xFF

func (d *gbDecoder) DecodeUplink(u *contract.Uplink) (Decoded, error) {
	f, n, err := gb26875.Parse(u.Payload)
	if err == nil && n != len(u.Payload) {
		err = &gb26875.Error{Reason: gb26875.BadFrame, Msg: "bytes after the end mark"}
	}
	var data *gb26875.Data
	if err == nil {
		data, err = gb26875.ParseData(f.Data)
	}
	if err != nil {
		return Decoded{}, frameReject(err)
	}
	var out Decoded
	if f.Command != gb26875.CmdSend && f.Command != gb26875.CmdResponse {
		return out, nil
	}
	unit := f.Source.String()
	sent, ok := f.Time.Time(d.loc)
	if !ok {
		sent = u.ReceivedAt
	}
	seq := uint64(f.Serial) << 8
	when := func(s gb26875.Stamp) time.Time {
		if t, ok := s.Time(d.loc); ok {
			return t
		}
		return sent
	}
	event := func(dev *devices.Device, i int, at time.Time, ev string) {
		out.Messages = append(out.Messages, contract.Message{Kind: dev.Kind, Device: dev.ID, Channel: contract.ChannelEvent,
			TS: at.UTC(), Seq: seq | uint64(i), Event: ev})
	}
	if data == nil || data.Type == gb26875.TypeUnitState {
		for _, dev := range d.reg.BehindUnit(unit) {
			out.Messages = append(out.Messages, contract.Message{Kind: dev.Kind, Device: dev.ID, Channel: contract.ChannelTelemetry,
				TS: sent.UTC(), Seq: seq | heartbeatIndex})
		}
	}
	if data == nil {
		return out, nil
	}
	for i, obj := range data.Objects {
		switch o := obj.(type) {
		case *gb26875.ComponentState:
			addr := devices.FormatGB26875(f.Source.Uint64(), int64(o.SystemAddr), int64(o.ComponentAddr))
			dev, ok := d.reg.DeviceByGB26875(addr)
			if !ok {
				out.Rejected = append(out.Rejected, reject(contract.ReasonUnknownDevice,
					"object %d: component %s (type %d) is not in the registry (devices.csv gb26875)", i, addr, o.ComponentType))
				continue
			}
			evs, ok := gbEvents[dev.Kind]
			if !ok {
				out.Rejected = append(out.Rejected, reject(contract.ReasonKindMismatch,
					"object %d: component %s is %s, a %s: not a device a fire alarm system reports", i, addr, dev.ID, dev.Kind))
				continue
			}
			event(dev, i, when(o.Time), statusEvent(o.Status, componentFaults, evs.fire, evs.fault, evs.normal, evs.test))
		case *gb26875.SystemState:
			dev, evs, ok := d.mapped(devices.FormatGB26875(f.Source.Uint64(), int64(o.SystemAddr), -1))
			if ok {
				event(dev, i, when(o.Time), statusEvent(o.Status, systemFaults, evs.fire, evs.fault, evs.normal, evs.test))
			}
		case *gb26875.Operation:
			dev, evs, ok := d.mapped(devices.FormatGB26875(f.Source.Uint64(), int64(o.SystemAddr), -1))
			if !ok {
				continue
			}
			ev := ""
			switch {
			case o.Flags&gb26875.OpManualAlarm != 0:
				ev = evs.fire
			case o.Flags&(gb26875.OpReset|gb26875.OpAlarmClear) != 0:
				ev = evs.normal
			case o.Flags&gb26875.OpSilence != 0 && dev.Kind == contract.KindSmoke:
				ev = "hush"
			case o.Flags&(gb26875.OpSelfTest|gb26875.OpTest) != 0:
				ev = evs.test
			}
			if ev != "" {
				event(dev, i, when(o.Time), ev)
			}
		case *gb26875.UnitState:
			dev, evs, ok := d.mapped(unit)
			if !ok {
				continue
			}
			switch {
			case o.Status&gb26875.UnitFire != 0 && o.Status&gb26875.UnitNormal == 0:
				event(dev, i, when(o.Time), evs.test)
			case o.Status&gb26875.UnitFire != 0:
				event(dev, i, when(o.Time), evs.fire)
			case o.Status&unitFaults != 0:
				event(dev, i, when(o.Time), evs.fault)
			}
		}
	}
	return out, nil
}

// mapped returns the device at a system's or the unit's address, when the
// registry maps one of a kind a fire alarm system reports.
func (d *gbDecoder) mapped(addr string) (*devices.Device, struct{ fire, fault, normal, test string }, bool) {
	dev, ok := d.reg.DeviceByGB26875(addr)
	if !ok {
		return nil, struct{ fire, fault, normal, test string }{}, false
	}
	evs, ok := gbEvents[dev.Kind]
	return dev, evs, ok
}

// statusEvent is the event a system's or component's status says: fire
// first (test when the status says test rather than normal operation),
// then a fault, else back to normal.
func statusEvent(status, faults uint16, fire, fault, normal, test string) string {
	switch {
	case status&gb26875.StatusFire != 0 && status&gb26875.StatusNormal == 0:
		return test
	case status&gb26875.StatusFire != 0:
		return fire
	case status&faults != 0:
		return fault
	}
	return normal
}

// frameReject is the dead letter of a frame the package refused.
func frameReject(err error) *RejectError {
	var fe *gb26875.Error
	if errors.As(err, &fe) {
		if fe.Reason == gb26875.BadChecksum {
			return reject(contract.ReasonBadChecksum, "%s", fe.Msg)
		}
		return reject(contract.ReasonBadFrame, "%s", fe.Msg)
	}
	if errors.Is(err, gb26875.ErrShort) {
		return reject(contract.ReasonBadFrame, "the frame is cut short")
	}
	return reject(contract.ReasonBadFrame, "%v", err)
}
