package simulator

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/ingest/gb26875"
)

func unitDevices() []*devices.Device {
	return []*devices.Device{
		(&devices.Device{ID: "FD-0101", Kind: contract.KindSmoke, Site: "B-01"}).WithAddresses(devices.Addresses{GB26875: "0000A0010001/1/1001"}),
		(&devices.Device{ID: "FAS-01", Kind: contract.KindSmoke, Site: "B-01"}).WithAddresses(devices.Addresses{GB26875: "0000A0010001/1"}),
		(&devices.Device{ID: "TU-01", Kind: contract.KindSmoke, Site: "B-01"}).WithAddresses(devices.Addresses{GB26875: "0000A0010001"}),
		{ID: "SD-0001", Kind: contract.KindSmoke, Site: "H-0001"},
	}
}

func framePub(dev, event string, at time.Time) *Publication {
	ch := contract.ChannelTelemetry
	if event != "" {
		ch = contract.ChannelEvent
	}
	m := contract.Message{Kind: contract.KindSmoke, Device: dev, Channel: ch, Event: event, TS: at}
	return &Publication{Topic: m.Topic(), Message: m}
}

// TestUnitsSpeakTheFrame: the events of devices behind a unit become the
// unit's frames of their state; their heartbeats, the unit's heartbeat at
// most every half interval; devices behind no unit are left alone.
func TestUnitsSpeakTheFrame(t *testing.T) {
	u := NewUnits(unitDevices(), nil)
	if u.Len() != 1 || !u.Behind("FD-0101") || u.Behind("SD-0001") {
		t.Fatalf("units %d", u.Len())
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cst := time.FixedZone("CST", 8*3600)
	read := func(p *Publication) (*gb26875.Frame, *gb26875.Data) {
		t.Helper()
		topic, b, send, ok := u.Frame(p, now)
		if !ok || !send || topic != "gb26875/0000A0010001" {
			t.Fatalf("%s %s: %q %v %v", p.Message.Device, p.Message.Event, topic, send, ok)
		}
		f, _, err := gb26875.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := gb26875.ParseData(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		return f, d
	}
	f, d := read(framePub("FD-0101", "alarm", now.Add(-2*time.Second)))
	c := d.Objects[0].(*gb26875.ComponentState)
	if f.Serial != 1 || f.Command != gb26875.CmdSend || c.SystemAddr != 1 || c.ComponentAddr != 1001 || c.ComponentType != gb26875.ComponentPhotoSmoke ||
		c.Status != gb26875.StatusNormal|gb26875.StatusFire {
		t.Errorf("frame %+v component %+v", f, c)
	}
	if tm, ok := c.Time.Time(cst); !ok || !tm.Equal(now.Add(-2*time.Second)) {
		t.Errorf("time tag %v, want the event's time in China Standard Time", tm)
	}
	if _, d = read(framePub("FD-0101", "test", now)); d.Objects[0].(*gb26875.ComponentState).Status != gb26875.StatusFire {
		t.Errorf("a test: %+v", d.Objects[0])
	}
	if _, d = read(framePub("FAS-01", "fault", now)); d.Type != gb26875.TypeSystemState || d.Objects[0].(*gb26875.SystemState).Status&gb26875.StatusFault == 0 {
		t.Errorf("a system's fault: %+v", d)
	}
	if _, d = read(framePub("FAS-01", "hush", now)); d.Type != gb26875.TypeOperation || d.Objects[0].(*gb26875.Operation).Flags != gb26875.OpSilence {
		t.Errorf("a silence: %+v", d)
	}
	if f, d = read(framePub("TU-01", "alarm", now)); d.Type != gb26875.TypeUnitState || d.Objects[0].(*gb26875.UnitState).Status != gb26875.UnitNormal|gb26875.UnitFire || f.Serial != 5 {
		t.Errorf("the unit's own fire: %+v %+v", f, d)
	}
	if _, _, send, ok := u.Frame(framePub("FD-0101", "low_battery", now), now); !ok || send {
		t.Errorf("a low battery has no state in the frame: send %v ok %v", send, ok)
	}
	// Heartbeats: one unit heartbeat, none again within half the interval.
	if _, d = read(framePub("FD-0101", "", now)); d.Type != gb26875.TypeUnitState || d.Objects[0].(*gb26875.UnitState).Status != gb26875.UnitNormal {
		t.Errorf("heartbeat %+v", d)
	}
	if _, _, send, _ := u.Frame(framePub("FAS-01", "", now.Add(10*time.Second)), now.Add(10*time.Second)); send {
		t.Error("a second heartbeat within half the interval")
	}
	if _, _, send, _ := u.Frame(framePub("FAS-01", "", now.Add(31*time.Second)), now.Add(31*time.Second)); !send {
		t.Error("no heartbeat after half the interval")
	}
	if _, _, _, ok := u.Frame(framePub("SD-0001", "alarm", now), now); ok {
		t.Error("a device behind no unit went through one")
	}
}

// TestUnitPublisher: a frame is published once the centre confirms its
// serial; a deny is an error; the centre's time sync is confirmed on the
// way; other topics go to Next.
func TestUnitPublisher(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	centre := gb26875.AddressOf(0xF001)
	confirmed := make(chan *gb26875.Frame, 4)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReaderSize(c, gb26875.MaxFrame)
		for {
			b, _, err := gb26875.ReadFrame(r)
			if err != nil {
				return
			}
			f, _, _ := gb26875.Parse(b)
			now := gb26875.StampOf(time.Now())
			switch {
			case f.Command == gb26875.CmdConfirm:
				confirmed <- f
			case f.Serial == 1:
				// Set its clock first, then confirm.
				c.Write(gb26875.SyncTime(9, centre, f.Source, now).Bytes())
				c.Write(gb26875.Reply(f, gb26875.CmdConfirm, centre, now).Bytes())
			default:
				c.Write(gb26875.Reply(f, gb26875.CmdDeny, centre, now).Bytes())
			}
		}
	}()
	rec := &Recorder{}
	p := &UnitPublisher{Addr: ln.Addr().String(), Next: rec}
	defer p.Close()
	u := NewUnits(unitDevices(), nil)
	ctx := context.Background()
	topic, frame, _, _ := u.Frame(framePub("FD-0101", "alarm", time.Now()), time.Now())
	if err := p.Publish(ctx, topic, 1, false, frame); err != nil {
		t.Fatalf("confirmed frame: %v", err)
	}
	select {
	case f := <-confirmed:
		if f.Serial != 9 {
			t.Errorf("the unit confirmed %d, want the time sync's 9", f.Serial)
		}
	case <-time.After(5 * time.Second):
		t.Error("the time sync was not confirmed")
	}
	topic, frame, _, _ = u.Frame(framePub("FD-0101", "clear", time.Now()), time.Now())
	if err := p.Publish(ctx, topic, 1, false, frame); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("denied frame: %v", err)
	}
	if err := p.Publish(ctx, "fg/v1/smoke/SD-0001/event", 1, false, []byte("{}")); err != nil || rec.Len() != 1 {
		t.Errorf("contract v1 through Next: %v, %d", err, rec.Len())
	}
}
