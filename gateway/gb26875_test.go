package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/ingest/gb26875"
	"github.com/firegrid/firegrid/internal/testenv"
)

// sink records what a source hands to ingest.
type sink struct {
	mu       sync.Mutex
	accepted []*contract.Uplink
	rejected []contract.Reason
	fail     error
}

func (s *sink) accept(_ context.Context, u *contract.Uplink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.accepted = append(s.accepted, u)
	return nil
}

func (s *sink) reject(_ context.Context, u *contract.Uplink, r contract.Reason, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = append(s.rejected, r)
	return nil
}

func (s *sink) counts() (int, []contract.Reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted), append([]contract.Reason(nil), s.rejected...)
}

var (
	unit   = gb26875.AddressOf(0x0000A0010001)
	centre = gb26875.AddressOf(0x00000000F001)
	cst    = time.FixedZone("CST", 8*3600)
)

// startGB starts a listener allowing unit 0000A0010001 from 127.0.0.1 and
// unit 0000A0010002 from 10.0.0.0/8 only, with the clock at now.
func startGB(t testing.TB, s *sink, now time.Time) (*GB26875, *prometheus.Registry) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig().GB26875
	cfg.Listen, cfg.Address = ln.Addr().String(), "00000000F001"
	cfg.Units = []GB26875Unit{{Address: "0000A0010001", From: []string{"127.0.0.1"}}, {Address: "0000A0010002", From: []string{"10.0.0.0/8"}}}
	reg := prometheus.NewRegistry()
	g, err := NewGB26875(ln, cfg, Options{Accept: s.accept, Reject: s.reject, Now: func() time.Time { return now }, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return g, reg
}

// unitClient is a transmission unit's side of a connection.
type unitClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialUnit(t testing.TB, addr string) *unitClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &unitClient{t: t, c: c, r: bufio.NewReaderSize(c, gb26875.MaxFrame)}
}

func (u *unitClient) send(b []byte) {
	u.t.Helper()
	if _, err := u.c.Write(b); err != nil {
		u.t.Fatal(err)
	}
}

// reply reads the next frame the centre sends, or nil when none comes
// within wait.
func (u *unitClient) reply(wait time.Duration) *gb26875.Frame {
	u.t.Helper()
	_ = u.c.SetReadDeadline(time.Now().Add(wait))
	b, _, err := gb26875.ReadFrame(u.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		u.t.Fatalf("reading a reply: %v", err)
	}
	f, _, err := gb26875.Parse(b)
	if err != nil {
		u.t.Fatal(err)
	}
	return f
}

func componentFrame(serial uint16, source gb26875.Address, sent time.Time, status uint16) []byte {
	st := gb26875.StampOf(sent.In(cst))
	data := (&gb26875.Data{Type: gb26875.TypeComponentState, Objects: []gb26875.Object{&gb26875.ComponentState{
		SystemType: 1, SystemAddr: 1, ComponentType: gb26875.ComponentPhotoSmoke, ComponentAddr: 1001, Status: status, Time: st}}}).Append(nil)
	return (&gb26875.Frame{Serial: serial, Version: gb26875.Version10, Time: st, Source: source, Destination: centre,
		Command: gb26875.CmdSend, Data: data}).Bytes()
}

// TestGB26875ConfirmsWhatIsKept: a frame is confirmed, with its serial,
// once ingest has it; a bad one is dead-lettered and denied; an
// unconfigured unit, or a unit off its network, is refused and denied;
// a frame ingest did not keep is left unanswered, so the unit sends it
// again.
func TestGB26875ConfirmsWhatIsKept(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 10, 0, time.UTC)
	s := &sink{}
	g, reg := startGB(t, s, now)
	u := dialUnit(t, g.Addr().String())

	u.send(componentFrame(258, unit, now, gb26875.StatusNormal|gb26875.StatusFire))
	f := u.reply(5 * time.Second)
	if f == nil || f.Command != gb26875.CmdConfirm || f.Serial != 258 || f.Destination != unit || f.Source != centre || len(f.Data) != 0 {
		t.Fatalf("reply %+v, want a confirm of 258", f)
	}
	if n, _ := s.counts(); n != 1 {
		t.Fatalf("%d uplinks kept", n)
	}
	s.mu.Lock()
	got := s.accepted[0]
	s.mu.Unlock()
	if got.Source != contract.SourceGB26875 || got.Topic != "gb26875/0000A0010001" || !bytes.Equal(got.Payload, componentFrame(258, unit, now, 3)) || got.Remote == "" {
		t.Errorf("uplink %+v", got)
	}

	bad := componentFrame(259, unit, now, 3)
	bad[len(bad)-3]++
	u.send(bad)
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdDeny || f.Serial != 259 {
		t.Fatalf("bad checksum: reply %+v, want a deny of 259", f)
	}

	u.send(componentFrame(260, gb26875.AddressOf(0x0000A0019999), now, 3))
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdDeny || f.Serial != 260 {
		t.Fatalf("unconfigured unit: reply %+v, want a deny", f)
	}
	u.send(componentFrame(261, gb26875.AddressOf(0x0000A0010002), now, 3))
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdDeny {
		t.Fatalf("a unit off its network: reply %+v, want a deny", f)
	}
	if n, rej := s.counts(); n != 1 || len(rej) != 3 || rej[0] != contract.ReasonBadChecksum || rej[1] != contract.ReasonUnknownSource || rej[2] != contract.ReasonUnknownSource {
		t.Fatalf("kept %d, rejected %v", n, rej)
	}

	s.mu.Lock()
	s.fail = errors.New("pipeline full")
	s.mu.Unlock()
	u.send(componentFrame(262, unit, now, 3))
	if f := u.reply(300 * time.Millisecond); f != nil {
		t.Fatalf("a frame not kept was answered: %+v", f)
	}
	s.mu.Lock()
	s.fail = nil
	s.mu.Unlock()
	u.send(componentFrame(262, unit, now, 3))
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdConfirm || f.Serial != 262 {
		t.Fatalf("the unit's second try: %+v", f)
	}
	if v := testutil.ToFloat64(g.m.refused.WithLabelValues("unit")); v != 2 {
		t.Errorf("refused units: %v", v)
	}
	if v := testutil.ToFloat64(g.m.frames.WithLabelValues("confirmed")); v != 2 {
		t.Errorf("confirmed: %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "firegrid_gb26875_frames_total"); err != nil || n != 4 {
		t.Errorf("frames counters: %d %v", n, err)
	}
}

// TestGB26875SetsAWrongClock: a unit whose clock is off is sent the time
// after the confirm.
func TestGB26875SetsAWrongClock(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 10, 0, time.UTC)
	g, _ := startGB(t, &sink{}, now)
	u := dialUnit(t, g.Addr().String())
	u.send(componentFrame(1, unit, now.Add(-10*time.Minute), 3))
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdConfirm {
		t.Fatalf("reply %+v", f)
	}
	f := u.reply(5 * time.Second)
	if f == nil || f.Command != gb26875.CmdControl {
		t.Fatalf("no time sync: %+v", f)
	}
	d, err := gb26875.ParseData(f.Data)
	if err != nil || d.Type != gb26875.TypeSyncTime || len(d.Objects) != 1 {
		t.Fatalf("time sync data %+v %v", d, err)
	}
	if tm, ok := d.Objects[0].(*gb26875.TimeTag).Time.Time(cst); !ok || !tm.Equal(now) {
		t.Errorf("time sent %v, want %v", tm, now)
	}
	// A clock that is right gets none.
	u.send(componentFrame(2, unit, now, 3))
	if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdConfirm {
		t.Fatalf("reply %+v", f)
	}
	if f := u.reply(200 * time.Millisecond); f != nil {
		t.Errorf("a time sync for a clock that is right: %+v", f)
	}
}

// TestGB26875RefusesUnknownNetworks: a connection from an address no unit
// connects from is closed before anything is read.
func TestGB26875RefusesUnknownNetworks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig().GB26875
	cfg.Units = []GB26875Unit{{Address: "0000A0010001", From: []string{"10.0.0.0/8"}}}
	s := &sink{}
	g, err := NewGB26875(ln, cfg, Options{Accept: s.accept, Reject: s.reject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write(componentFrame(1, unit, time.Now(), 3))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatal("the connection was answered")
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(g.m.refused.WithLabelValues("network")) == 1 })
	if n, rej := s.counts(); n != 0 || len(rej) != 0 {
		t.Errorf("kept %d, rejected %v from an unknown network", n, rej)
	}
}

// TestGB26875WithoutUnitsRefusesEveryone: a listener configured with no
// unit takes no connection at all.
func TestGB26875WithoutUnitsRefusesEveryone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	g, err := NewGB26875(ln, DefaultConfig().GB26875, Options{Accept: s.accept, Reject: s.reject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	u := dialUnit(t, ln.Addr().String())
	u.send(componentFrame(1, unit, time.Now(), 3))
	_ = u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.c.Read(make([]byte, 8)); err == nil {
		t.Fatal("answered")
	}
	if n, rej := s.counts(); n != 0 || len(rej) != 0 || testutil.ToFloat64(g.m.refused.WithLabelValues("network")) != 1 {
		t.Errorf("kept %d, rejected %v", n, rej)
	}
}

func TestConfigErrors(t *testing.T) {
	c := DefaultConfig()
	c.GB26875.Listen = "127.0.0.1:9100"
	c.GB26875.Units = []GB26875Unit{{Address: "A0010001", From: []string{"10.0.0.0/33"}}, {Address: "0000A0010001"}}
	c.ChirpStack.URL = "http://cs"
	c.ChirpStack.Events = []string{"up", "txack"}
	c.Push.Listen = "127.0.0.1:9200"
	err := c.Validate()
	for _, want := range []string{
		`gb26875.units.0.address: "A0010001": want 12 hex digits`,
		`gb26875.units.0.from: "10.0.0.0/33": want an address or a network`,
		`gb26875.units.1.from: want the addresses or networks`,
		`chirpstack.url: want tcp://host:port`,
		`chirpstack.events.1: "txack": want up, status or join`,
		`push: no platform configured`,
	} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if len(DefaultConfig().Enabled()) != 0 {
		t.Error("a source is on by default")
	}
}

// BenchmarkGB26875RoundTrip: a unit sends a component's state and waits
// for the confirm, over loopback TCP, ingest's Accept doing nothing: what
// the listener itself costs a frame.
func BenchmarkGB26875RoundTrip(b *testing.B) {
	now := time.Now()
	s := &sink{}
	g, _ := startGB(b, s, now)
	u := dialUnit(b, g.Addr().String())
	frame := componentFrame(1, unit, now, gb26875.StatusNormal|gb26875.StatusFire)
	s.mu.Lock()
	s.accepted = make([]*contract.Uplink, 0, 1<<20)
	s.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		u.send(frame)
		if f := u.reply(5 * time.Second); f == nil || f.Command != gb26875.CmdConfirm {
			b.Fatalf("reply %+v", f)
		}
	}
}
