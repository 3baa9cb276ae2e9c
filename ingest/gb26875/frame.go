// Package gb26875 reads and writes the frames of GB/T 26875.3-2011, the
// protocol a user information transmission device (用户信息传输装置) of a
// building's fire alarm system speaks to an urban fire remote monitoring
// centre, over TCP.
//
// A frame, byte by byte:
//
//	@@                      start mark, 0x40 0x40
//	serial        2         the business serial number, least significant byte first
//	version       2         main version, user version
//	time          6         second, minute, hour, day, month, year-2000 (the sender's local time)
//	source        6         the sender's address, least significant byte first
//	destination   6         the receiver's address, likewise
//	length        2         the application data's length, least significant byte first, at most 1024
//	command       1         1 control, 2 send, 3 confirm, 4 request, 5 response, 6 deny
//	data          length    the application data unit: type flag, object count, objects
//	checksum      1         the sum of every byte from the serial to the end of the data, mod 256
//	##                      end mark, 0x23 0x23
//
// The package only encodes and decodes: it does no I/O of its own beyond
// reading frames from a stream (ReadFrame), knows nothing of the registry
// and never panics on input. Ingest's gb26875 decoder makes readings of
// what it reads; the TCP listener answers each frame with Confirm or Deny;
// the simulator's transmission units write frames with Append.
package gb26875

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sizes of a frame.
const (
	// HeaderSize is the bytes before the application data: start mark,
	// serial, version, time, source, destination, length and command.
	HeaderSize = 27
	// Overhead is a frame's size beyond its application data.
	Overhead = HeaderSize + 3
	// MaxData is the longest application data unit the standard allows.
	MaxData = 1024
	// MaxFrame is the longest frame.
	MaxFrame = MaxData + Overhead
)

// Command is a frame's command byte.
type Command byte

// The commands of GB/T 26875.3.
const (
	CmdControl  Command = 1 // the centre controls the unit (e.g. sets its clock)
	CmdSend     Command = 2 // the unit sends data
	CmdConfirm  Command = 3 // the frame was received and kept
	CmdRequest  Command = 4 // ask for data
	CmdResponse Command = 5 // answer a request
	CmdDeny     Command = 6 // the frame was refused
)

func (c Command) String() string {
	switch c {
	case CmdControl:
		return "control"
	case CmdSend:
		return "send"
	case CmdConfirm:
		return "confirm"
	case CmdRequest:
		return "request"
	case CmdResponse:
		return "response"
	case CmdDeny:
		return "deny"
	}
	return fmt.Sprintf("command %d", byte(c))
}

// Address is a 6-byte address as the frame carries it: least significant
// byte first.
type Address [6]byte

// AddressOf returns the address whose value is v (48 bits).
func AddressOf(v uint64) Address {
	var a Address
	for i := range a {
		a[i] = byte(v >> (8 * i))
	}
	return a
}

// Uint64 is the address's value.
func (a Address) Uint64() uint64 {
	var v uint64
	for i := len(a) - 1; i >= 0; i-- {
		v = v<<8 | uint64(a[i])
	}
	return v
}

// String writes the address as the registry does: 12 hex digits, most
// significant first.
func (a Address) String() string { return fmt.Sprintf("%012X", a.Uint64()) }

// Stamp is a 6-byte time tag: second, minute, hour, day, month and year
// minus 2000, in the sender's local time (the frame names no zone).
type Stamp [6]byte

// StampOf returns the time tag of t, in t's location.
func StampOf(t time.Time) Stamp {
	y := t.Year() - 2000
	if y < 0 || y > 255 {
		return Stamp{}
	}
	return Stamp{byte(t.Second()), byte(t.Minute()), byte(t.Hour()), byte(t.Day()), byte(t.Month()), byte(y)}
}

// Time returns the time the tag names in loc, or false when it names no
// valid date and time (an all-zero tag, a 31st of February).
func (s Stamp) Time(loc *time.Location) (time.Time, bool) {
	sec, min, hour, day, mon, year := int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4]), 2000+int(s[5])
	if sec > 59 || min > 59 || hour > 23 || day < 1 || day > 31 || mon < 1 || mon > 12 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(mon), day, hour, min, sec, 0, loc)
	if t.Day() != day { // normalised: the day does not exist in that month
		return time.Time{}, false
	}
	return t, true
}

func (s Stamp) String() string {
	return fmt.Sprintf("20%02d-%02d-%02d %02d:%02d:%02d", s[5], s[4], s[3], s[2], s[1], s[0])
}

// Frame is one GB/T 26875.3 frame.
type Frame struct {
	Serial      uint16
	Version     [2]byte
	Time        Stamp
	Source      Address
	Destination Address
	Command     Command
	// Data is the application data unit as sent (ParseData reads it);
	// empty for a confirm, a deny or a bare heartbeat.
	Data []byte
}

// Version10 is the protocol version 1.0: main version 1, user version 0.
var Version10 = [2]byte{1, 0}

// Checksum is the sum of b's bytes mod 256: over a frame from the serial
// to the end of the application data, its checksum byte.
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Append appends the frame's bytes to dst: the length and checksum are
// computed. Data longer than MaxData is written all the same (a test's bad
// frame); Parse refuses it.
func (f *Frame) Append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, '@', '@')
	dst = binary.LittleEndian.AppendUint16(dst, f.Serial)
	dst = append(dst, f.Version[:]...)
	dst = append(dst, f.Time[:]...)
	dst = append(dst, f.Source[:]...)
	dst = append(dst, f.Destination[:]...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(f.Data)))
	dst = append(dst, byte(f.Command))
	dst = append(dst, f.Data...)
	dst = append(dst, Checksum(dst[start+2:]))
	return append(dst, '#', '#')
}

// Bytes returns the frame's bytes.
func (f *Frame) Bytes() []byte { return f.Append(make([]byte, 0, Overhead+len(f.Data))) }

// Reason says why bytes are not a frame.
type Reason string

// Why a frame is refused.
const (
	// BadFrame: no start or end mark, a length over the limit or beyond
	// the bytes, application data whose objects do not fit its length.
	BadFrame Reason = "bad_frame"
	// BadChecksum: the checksum does not match the bytes.
	BadChecksum Reason = "bad_checksum"
)

// Error is a frame refused, with the reason. Frame holds what of the
// header could be read (its serial and source), so that a deny can still
// be addressed; it is nil when not even that could.
type Error struct {
	Reason Reason
	Msg    string
	Frame  *Frame
}

func (e *Error) Error() string { return "gb26875: " + string(e.Reason) + ": " + e.Msg }

// ErrShort is returned by Parse when b holds the start of a frame but not
// all of it.
var ErrShort = errors.New("gb26875: frame incomplete")

func bad(r Reason, f *Frame, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...), Frame: f}
}

// Parse reads one frame from the start of b and returns it and the bytes
// it took. b must start with the start mark. A frame whose data is longer
// than b holds is ErrShort; anything else wrong is an *Error. The frame's
// Data aliases b.
func Parse(b []byte) (*Frame, int, error) {
	if len(b) < 2 {
		return nil, 0, ErrShort
	}
	if b[0] != '@' || b[1] != '@' {
		return nil, 0, bad(BadFrame, nil, "no start mark @@ (got % X)", b[:2])
	}
	if len(b) < HeaderSize {
		return nil, 0, ErrShort
	}
	f := &Frame{Serial: binary.LittleEndian.Uint16(b[2:4]), Command: Command(b[26])}
	copy(f.Version[:], b[4:6])
	copy(f.Time[:], b[6:12])
	copy(f.Source[:], b[12:18])
	copy(f.Destination[:], b[18:24])
	n := int(binary.LittleEndian.Uint16(b[24:26]))
	if n > MaxData {
		return nil, 0, bad(BadFrame, f, "application data length %d, limit %d", n, MaxData)
	}
	size := Overhead + n
	if len(b) < size {
		return nil, 0, ErrShort
	}
	if b[size-2] != '#' || b[size-1] != '#' {
		return nil, size, bad(BadFrame, f, "no end mark ## after %d bytes of application data (got % X)", n, b[size-2:size])
	}
	if sum, want := Checksum(b[2:HeaderSize+n]), b[HeaderSize+n]; sum != want {
		return nil, size, bad(BadChecksum, f, "checksum %02X, the bytes sum to %02X", want, sum)
	}
	f.Data = b[HeaderSize : HeaderSize+n]
	return f, size, nil
}

// Describe says what a frame is for a log line.
func (f *Frame) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d from %s at %s", f.Command, f.Serial, f.Source, f.Time)
	if len(f.Data) >= 2 {
		fmt.Fprintf(&b, ", type %d, %d objects", f.Data[0], f.Data[1])
	}
	return b.String()
}

// Reply returns the frame that answers f with cmd (CmdConfirm or
// CmdDeny): its serial and version, sent by self at now to f's source,
// with no application data.
func Reply(f *Frame, cmd Command, self Address, now Stamp) *Frame {
	v := f.Version
	if v == ([2]byte{}) {
		v = Version10
	}
	return &Frame{Serial: f.Serial, Version: v, Time: now, Source: self, Destination: f.Source, Command: cmd}
}

// SyncTime returns the control frame that sets a unit's clock (application
// data type 90, one object: the time tag).
func SyncTime(serial uint16, self, unit Address, now Stamp) *Frame {
	return &Frame{Serial: serial, Version: Version10, Time: now, Source: self, Destination: unit, Command: CmdControl,
		Data: (&Data{Type: TypeSyncTime, Objects: []Object{&TimeTag{Time: now, Sync: true}}}).Append(nil)}
}
