package gb26875

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Application data type flags this package reads object by object. Other
// types are kept as raw bytes (Data.Raw).
const (
	TypeSystemState    byte = 1  // building fire facility system state
	TypeComponentState byte = 2  // component operating state
	TypeOperation      byte = 4  // operation on a system (reset, silence, ...)
	TypeSystemTime     byte = 8  // a system's clock
	TypeUnitState      byte = 21 // the transmission unit's operating state
	TypeUnitOperation  byte = 24 // operation on the transmission unit
	TypeUnitTime       byte = 28 // the transmission unit's clock
	TypeSyncTime       byte = 90 // the centre sets the unit's clock
)

// Status bits of a system (type 1) and of a component (type 2). Bit 0 set
// is normal operation, clear is test.
const (
	StatusNormal    uint16 = 1 << 0
	StatusFire      uint16 = 1 << 1 // fire alarm
	StatusFault     uint16 = 1 << 2
	StatusShield    uint16 = 1 << 3 // isolated (屏蔽)
	StatusSupervise uint16 = 1 << 4 // supervisory (监管)
	StatusStart     uint16 = 1 << 5 // started (启动)
	StatusFeedback  uint16 = 1 << 6 // feedback (反馈)
	StatusDelay     uint16 = 1 << 7 // delay (延时)
	// StatusPowerFault is a component's power fault, a system's main power
	// fault.
	StatusPowerFault uint16 = 1 << 8
	// System only.
	StatusBackupPowerFault uint16 = 1 << 9
	StatusBusFault         uint16 = 1 << 10
	StatusManual           uint16 = 1 << 11
	StatusConfigChanged    uint16 = 1 << 12
	StatusReset            uint16 = 1 << 13
)

// Status bits of the transmission unit (type 21).
const (
	UnitNormal           byte = 1 << 0 // monitoring (clear: test)
	UnitFire             byte = 1 << 1
	UnitFault            byte = 1 << 2
	UnitMainPowerFault   byte = 1 << 3
	UnitBackupPowerFault byte = 1 << 4
	UnitLinkFault        byte = 1 << 5 // the channel to the monitoring centre
	UnitLineFault        byte = 1 << 6 // the line to the fire facilities
)

// Operation flags (types 4 and 24).
const (
	OpReset       byte = 1 << 0
	OpSilence     byte = 1 << 1 // 消音
	OpManualAlarm byte = 1 << 2
	OpAlarmClear  byte = 1 << 3 // 警情消除
	OpSelfTest    byte = 1 << 4
	OpConfirm     byte = 1 << 5
	OpTest        byte = 1 << 6
)

// System and component types named in firegrid (the standard's tables list
// many more; any value is carried as it is).
const (
	SystemFireAlarm     byte = 1  // 火灾报警系统
	ComponentPhotoSmoke byte = 42 // 点型光电感烟火灾探测器
)

// Object is one information object of an application data unit.
type Object interface {
	// Type is the data type flag of the unit the object belongs in.
	Type() byte
	appendTo(dst []byte) []byte
}

// Data is an application data unit: a type flag and its objects.
type Data struct {
	Type    byte
	Objects []Object
	// Raw holds the objects of a type this package does not read, as
	// sent, with their count in Count.
	Raw   []byte
	Count int
}

// objectSize is the size of one object of each type read here.
var objectSize = map[byte]int{
	TypeSystemState:    10,
	TypeComponentState: 46,
	TypeOperation:      10,
	TypeSystemTime:     8,
	TypeUnitState:      7,
	TypeUnitOperation:  8,
	TypeUnitTime:       6,
	TypeSyncTime:       6,
}

// Known reports whether the package reads objects of data type t.
func Known(t byte) bool { _, ok := objectSize[t]; return ok }

// ParseData reads an application data unit. An empty b is no data (a
// heartbeat, a confirm) and returns nil. For a type read here the objects
// must fill the unit exactly; for another type only the count is read.
func ParseData(b []byte) (*Data, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 2 {
		return nil, bad(BadFrame, nil, "application data of 1 byte (want a type flag and an object count)")
	}
	d := &Data{Type: b[0], Count: int(b[1])}
	size, ok := objectSize[d.Type]
	if !ok {
		d.Raw = b[2:]
		return d, nil
	}
	if d.Count*size != len(b)-2 {
		return nil, bad(BadFrame, nil, "type %d: %d objects of %d bytes need %d bytes, the unit holds %d", d.Type, d.Count, size, d.Count*size, len(b)-2)
	}
	for i := range d.Count {
		o := b[2+i*size : 2+(i+1)*size]
		var obj Object
		switch d.Type {
		case TypeSystemState:
			s := &SystemState{SystemType: o[0], SystemAddr: o[1], Status: binary.LittleEndian.Uint16(o[2:4])}
			copy(s.Time[:], o[4:10])
			obj = s
		case TypeComponentState:
			c := &ComponentState{SystemType: o[0], SystemAddr: o[1], ComponentType: o[2],
				ComponentAddr: binary.LittleEndian.Uint32(o[3:7]), Status: binary.LittleEndian.Uint16(o[7:9])}
			copy(c.Description[:], o[9:40])
			copy(c.Time[:], o[40:46])
			obj = c
		case TypeOperation:
			p := &Operation{SystemType: o[0], SystemAddr: o[1], Flags: o[2], Operator: o[3]}
			copy(p.Time[:], o[4:10])
			obj = p
		case TypeSystemTime:
			s := &SystemTime{SystemType: o[0], SystemAddr: o[1]}
			copy(s.Time[:], o[2:8])
			obj = s
		case TypeUnitState:
			u := &UnitState{Status: o[0]}
			copy(u.Time[:], o[1:7])
			obj = u
		case TypeUnitOperation:
			u := &UnitOperation{Flags: o[0], Operator: o[1]}
			copy(u.Time[:], o[2:8])
			obj = u
		case TypeUnitTime, TypeSyncTime:
			t := &TimeTag{Sync: d.Type == TypeSyncTime}
			copy(t.Time[:], o)
			obj = t
		}
		d.Objects = append(d.Objects, obj)
	}
	return d, nil
}

// Append appends the unit's bytes: the type flag, the count and the
// objects (or Raw).
func (d *Data) Append(dst []byte) []byte {
	if d.Raw != nil || len(d.Objects) == 0 {
		dst = append(dst, d.Type, byte(d.Count))
		return append(dst, d.Raw...)
	}
	dst = append(dst, d.Type, byte(len(d.Objects)))
	for _, o := range d.Objects {
		dst = o.appendTo(dst)
	}
	return dst
}

// SystemState is a type 1 object: a building fire facility system's state.
type SystemState struct {
	SystemType, SystemAddr byte
	Status                 uint16
	Time                   Stamp
}

// Type is TypeSystemState.
func (*SystemState) Type() byte { return TypeSystemState }

func (s *SystemState) appendTo(dst []byte) []byte {
	dst = append(dst, s.SystemType, s.SystemAddr)
	dst = binary.LittleEndian.AppendUint16(dst, s.Status)
	return append(dst, s.Time[:]...)
}

// ComponentState is a type 2 object: one component's state, 40 bytes and
// a 6-byte time tag.
type ComponentState struct {
	SystemType, SystemAddr, ComponentType byte
	ComponentAddr                         uint32
	Status                                uint16
	// Description is the component's text, GB18030, NUL-padded.
	Description [31]byte
	Time        Stamp
}

// Type is TypeComponentState.
func (*ComponentState) Type() byte { return TypeComponentState }

func (c *ComponentState) appendTo(dst []byte) []byte {
	dst = append(dst, c.SystemType, c.SystemAddr, c.ComponentType)
	dst = binary.LittleEndian.AppendUint32(dst, c.ComponentAddr)
	dst = binary.LittleEndian.AppendUint16(dst, c.Status)
	dst = append(dst, c.Description[:]...)
	return append(dst, c.Time[:]...)
}

// Text returns the description as UTF-8, up to its first NUL.
func (c *ComponentState) Text() string {
	b := c.Description[:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil {
		return ""
	}
	return string(s)
}

// SetText writes s as the description in GB18030, cut to fit 31 bytes
// without splitting a character; it reports whether all of s fitted.
func (c *ComponentState) SetText(s string) bool {
	c.Description = [31]byte{}
	enc := simplifiedchinese.GB18030.NewEncoder()
	n := 0
	for _, r := range s {
		b, err := enc.Bytes([]byte(string(r)))
		if err != nil || n+len(b) > len(c.Description) {
			return false
		}
		n += copy(c.Description[n:], b)
	}
	return true
}

// Operation is a type 4 object: an operation on a system's controller.
type Operation struct {
	SystemType, SystemAddr byte
	Flags, Operator        byte
	Time                   Stamp
}

// Type is TypeOperation.
func (*Operation) Type() byte { return TypeOperation }

func (o *Operation) appendTo(dst []byte) []byte {
	dst = append(dst, o.SystemType, o.SystemAddr, o.Flags, o.Operator)
	return append(dst, o.Time[:]...)
}

// SystemTime is a type 8 object: a system's clock.
type SystemTime struct {
	SystemType, SystemAddr byte
	Time                   Stamp
}

// Type is TypeSystemTime.
func (*SystemTime) Type() byte { return TypeSystemTime }

func (s *SystemTime) appendTo(dst []byte) []byte {
	return append(append(dst, s.SystemType, s.SystemAddr), s.Time[:]...)
}

// UnitState is a type 21 object: the transmission unit's own state.
type UnitState struct {
	Status byte
	Time   Stamp
}

// Type is TypeUnitState.
func (*UnitState) Type() byte { return TypeUnitState }

func (u *UnitState) appendTo(dst []byte) []byte { return append(append(dst, u.Status), u.Time[:]...) }

// UnitOperation is a type 24 object: an operation on the unit.
type UnitOperation struct {
	Flags, Operator byte
	Time            Stamp
}

// Type is TypeUnitOperation.
func (*UnitOperation) Type() byte { return TypeUnitOperation }

func (u *UnitOperation) appendTo(dst []byte) []byte {
	return append(append(dst, u.Flags, u.Operator), u.Time[:]...)
}

// TimeTag is a type 28 object (the unit's clock, Sync false) or a type 90
// one (the centre sets the unit's clock, Sync true).
type TimeTag struct {
	Time Stamp
	Sync bool
}

// Type is TypeSyncTime or TypeUnitTime.
func (t *TimeTag) Type() byte {
	if t.Sync {
		return TypeSyncTime
	}
	return TypeUnitTime
}

func (t *TimeTag) appendTo(dst []byte) []byte { return append(dst, t.Time[:]...) }

// String names an object for a log line.
func (c *ComponentState) String() string {
	return fmt.Sprintf("component %d/%d type %d status %04X at %s", c.SystemAddr, c.ComponentAddr, c.ComponentType, c.Status, c.Time)
}
