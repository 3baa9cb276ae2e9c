package gb26875

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// golden reads testdata/name.hex: hex bytes, a field a line, comments
// after #.
func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		h, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, h...)
	}
	return out
}

var (
	unit   = AddressOf(0x0000A0010001)
	centre = AddressOf(0x00000000F001)
	cst    = time.FixedZone("CST", 8*3600)
)

// layout lays a frame out as DESIGN.md's anchor describes it, written
// apart from Append: `@@` · serial (2, LE) · version (2) · time (6: s m h
// D M Y-2000) · source (6) · destination (6) · app-data length (2, LE) ·
// command (1) · app data · checksum (byte sum of bytes 3..end of app data,
// mod 256) · `##`.
func layout(serial uint16, at time.Time, src, dst uint64, cmd byte, data []byte) []byte {
	b := []byte{'@', '@', byte(serial), byte(serial >> 8), 1, 0,
		byte(at.Second()), byte(at.Minute()), byte(at.Hour()), byte(at.Day()), byte(at.Month()), byte(at.Year() - 2000)}
	for i := range 6 {
		b = append(b, byte(src>>(8*i)))
	}
	for i := range 6 {
		b = append(b, byte(dst>>(8*i)))
	}
	b = append(b, byte(len(data)), byte(len(data)>>8), cmd)
	b = append(b, data...)
	sum := 0
	for _, c := range b[2:] { // bytes 3.. (1-based) to the end of the data
		sum += int(c)
	}
	return append(b, byte(sum%256), '#', '#')
}

func componentObject(addr uint32, status uint16, text []byte, at time.Time) []byte {
	o := []byte{1, 1, 42}
	o = binary.LittleEndian.AppendUint32(o, addr)
	o = binary.LittleEndian.AppendUint16(o, status)
	o = append(o, text...)
	o = append(o, make([]byte, 31-len(text))...)
	return append(o, byte(at.Second()), byte(at.Minute()), byte(at.Hour()), byte(at.Day()), byte(at.Month()), byte(at.Year()-2000))
}

func at(sec int) time.Time { return time.Date(2026, 11, 23, 16, 0, sec, 0, cst) }

// TestGoldenFramesMatchTheLayout checks each golden frame byte for byte
// against the layout, and that Parse reads it and Append writes it back.
func TestGoldenFramesMatchTheLayout(t *testing.T) {
	// "3层东走廊 烟感" in GB18030.
	text, _ := hex.DecodeString("33B2E3B6ABD7DFC0C820D1CCB8D0")
	stamp := func(s time.Time) []byte { st := StampOf(s); return st[:] }
	cases := []struct {
		name string
		want []byte
	}{
		{"component-fire", layout(0x0102, at(10), 0xA0010001, 0xF001, 2, append([]byte{2, 1}, componentObject(1001, 0x0003, text, at(8))...))},
		{"system-state", layout(7, at(10), 0xA0010001, 0xF001, 2, append([]byte{1, 1, 1, 1, 3, 0}, stamp(at(9))...))},
		{"operation-reset", layout(8, at(10), 0xA0010001, 0xF001, 2, append([]byte{4, 1, 1, 1, 0x01, 5}, stamp(at(300))...))},
		{"unit-heartbeat", layout(9, at(10), 0xA0010001, 0xF001, 2, append([]byte{21, 1, 0x01}, stamp(at(10))...))},
		{"two-components", layout(10, at(10), 0xA0010001, 0xF001, 2, append(append([]byte{2, 2},
			componentObject(1002, 0x0005, nil, at(1))...), componentObject(1001, 0x0001, nil, at(2))...))},
		{"confirm", layout(0x0102, at(11), 0xF001, 0xA0010001, 3, nil)},
		{"deny", layout(0x0102, at(11), 0xF001, 0xA0010001, 6, nil)},
		{"time-sync", layout(1, at(11), 0xF001, 0xA0010001, 1, append([]byte{90, 1}, stamp(at(11))...))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := golden(t, c.name)
			if !bytes.Equal(g, c.want) {
				t.Fatalf("golden frame\n% X\nthe layout gives\n% X", g, c.want)
			}
			f, n, err := Parse(g)
			if err != nil || n != len(g) {
				t.Fatalf("Parse: %v after %d of %d bytes", err, n, len(g))
			}
			if f.Source == (Address{}) || f.Version != Version10 {
				t.Errorf("header %+v", f)
			}
			if back := f.Bytes(); !bytes.Equal(back, g) {
				t.Errorf("Append wrote\n% X\nwant\n% X", back, g)
			}
			if _, err := ParseData(f.Data); err != nil {
				t.Errorf("ParseData: %v", err)
			}
		})
	}
}

func TestComponentFire(t *testing.T) {
	f, _, err := Parse(golden(t, "component-fire"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Serial != 258 || f.Command != CmdSend || f.Source != unit || f.Destination != centre || f.Source.String() != "0000A0010001" {
		t.Errorf("header: serial %d command %s source %s destination %s", f.Serial, f.Command, f.Source, f.Destination)
	}
	if tm, ok := f.Time.Time(cst); !ok || !tm.Equal(at(10)) {
		t.Errorf("time %v %v", tm, ok)
	}
	d, err := ParseData(f.Data)
	if err != nil || d.Type != TypeComponentState || len(d.Objects) != 1 {
		t.Fatalf("data %+v %v", d, err)
	}
	c := d.Objects[0].(*ComponentState)
	if c.SystemType != SystemFireAlarm || c.SystemAddr != 1 || c.ComponentType != ComponentPhotoSmoke || c.ComponentAddr != 1001 ||
		c.Status != StatusNormal|StatusFire || c.Text() != "3层东走廊 烟感" {
		t.Errorf("component %+v text %q", c, c.Text())
	}
	if tm, _ := c.Time.Time(cst); !tm.Equal(at(8)) {
		t.Errorf("time tag %v", tm)
	}
	var again ComponentState
	if !again.SetText(c.Text()) || again.Description != c.Description {
		t.Errorf("SetText: % X", again.Description)
	}
	if again.SetText(strings.Repeat("烟", 16)) || again.Text() != strings.Repeat("烟", 15) {
		t.Errorf("a text too long is cut at a character: %q", again.Text())
	}
}

func TestReplies(t *testing.T) {
	f, _, err := Parse(golden(t, "component-fire"))
	if err != nil {
		t.Fatal(err)
	}
	now := StampOf(at(11))
	if got := Reply(f, CmdConfirm, centre, now).Bytes(); !bytes.Equal(got, golden(t, "confirm")) {
		t.Errorf("confirm\n% X\nwant\n% X", got, golden(t, "confirm"))
	}
	if got := Reply(f, CmdDeny, centre, now).Bytes(); !bytes.Equal(got, golden(t, "deny")) {
		t.Errorf("deny\n% X", got)
	}
	if got := SyncTime(1, centre, unit, now).Bytes(); !bytes.Equal(got, golden(t, "time-sync")) {
		t.Errorf("time sync\n% X\nwant\n% X", got, golden(t, "time-sync"))
	}
}

func TestBadFrames(t *testing.T) {
	for _, c := range []struct {
		name   string
		reason Reason
		data   bool // the fault is in the application data
	}{
		{"bad-checksum", BadChecksum, false},
		{"bad-end", BadFrame, false},
		{"bad-length", BadFrame, false},
		{"bad-objects", BadFrame, true},
	} {
		g := golden(t, c.name)
		f, _, err := Parse(g)
		if c.data {
			if err != nil {
				t.Fatalf("%s: the frame itself is fine: %v", c.name, err)
			}
			_, err = ParseData(f.Data)
		}
		var fe *Error
		if !errors.As(err, &fe) || fe.Reason != c.reason {
			t.Errorf("%s: %v, want %s", c.name, err, c.reason)
			continue
		}
		if !c.data && (fe.Frame == nil || fe.Frame.Source != unit) {
			t.Errorf("%s: the header is not kept for the deny: %+v", c.name, fe.Frame)
		}
	}
	if _, _, err := Parse([]byte("@@\x01")); !errors.Is(err, ErrShort) {
		t.Errorf("a short frame: %v", err)
	}
	if _, _, err := Parse([]byte("##")); err == nil {
		t.Error("no start mark taken")
	}
}

// TestReadFrameFromAStream: frames are found among garbage, a bad one is
// returned with its error and the stream goes on.
func TestReadFrameFromAStream(t *testing.T) {
	var stream []byte
	stream = append(stream, "xx@"...)
	stream = append(stream, golden(t, "unit-heartbeat")...)
	stream = append(stream, golden(t, "bad-checksum")...)
	stream = append(stream, golden(t, "bad-length")...)
	stream = append(stream, "noise"...)
	stream = append(stream, golden(t, "component-fire")...)
	r := bufio.NewReaderSize(bytes.NewReader(stream), MaxFrame)
	type got struct {
		n       int
		skipped int
		reason  Reason
	}
	var gots []got
	for {
		b, skipped, err := ReadFrame(r)
		if err == io.EOF {
			break
		}
		g := got{n: len(b), skipped: skipped}
		var fe *Error
		if errors.As(err, &fe) {
			g.reason = fe.Reason
		} else if err != nil {
			t.Fatal(err)
		}
		gots = append(gots, g)
	}
	// "xx@@@...": the stray '@' makes a first candidate whose length (read
	// one byte off) is over the limit; the real frame one byte on is
	// found. After the bad length, the rest of its header is skipped as
	// noise.
	want := []got{{HeaderSize, 2, BadFrame}, {len(golden(t, "unit-heartbeat")), 0, ""}, {len(golden(t, "bad-checksum")), 0, BadChecksum},
		{HeaderSize, 0, BadFrame}, {len(golden(t, "component-fire")), HeaderSize - 1 + len("noise"), ""}}
	if len(gots) != len(want) {
		t.Fatalf("read %+v, want %+v", gots, want)
	}
	for i := range want {
		if gots[i] != want[i] {
			t.Errorf("frame %d: %+v, want %+v", i, gots[i], want[i])
		}
	}
	// A stream cut inside a frame.
	cut := golden(t, "component-fire")[:40]
	if _, _, err := ReadFrame(bufio.NewReaderSize(bytes.NewReader(cut), MaxFrame)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v", err)
	}
}

func TestStamp(t *testing.T) {
	for _, s := range []Stamp{{}, {0, 0, 0, 31, 2, 26}, {60, 0, 0, 1, 1, 26}, {0, 0, 24, 1, 1, 26}, {0, 0, 0, 1, 13, 26}} {
		if tm, ok := s.Time(cst); ok {
			t.Errorf("%v is no time, read as %v", s, tm)
		}
	}
	want := time.Date(2026, 2, 28, 23, 59, 59, 0, cst)
	if got, ok := StampOf(want).Time(cst); !ok || !got.Equal(want) {
		t.Errorf("round trip %v %v", got, ok)
	}
	if AddressOf(0x0000A1B2C3D4) != (Address{0xD4, 0xC3, 0xB2, 0xA1, 0, 0}) || AddressOf(0x0000A1B2C3D4).Uint64() != 0xA1B2C3D4 {
		t.Error("addresses are least significant byte first")
	}
}
