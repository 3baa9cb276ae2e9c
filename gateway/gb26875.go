package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/ingest/gb26875"
)

// Accept hands an uplink to ingest and returns once the pipeline has it
// (ingest's Accept); an error means it was not kept.
type Accept func(ctx context.Context, u *contract.Uplink) error

// Reject dead-letters an uplink refused before decoding (ingest's Reject).
type Reject func(ctx context.Context, u *contract.Uplink, reason contract.Reason, detail string) error

// Options are what every field source needs besides its configuration.
type Options struct {
	Accept Accept
	Reject Reject
	// Now is the clock; nil means time.Now.
	Now        func() time.Time
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// acceptWait bounds how long a frame or push waits for ingest before it is
// left unanswered (a unit sends it again; a platform retries).
const acceptWait = 10 * time.Second

// GB26875 is the TCP listener of GB/T 26875.3 transmission units. Per
// frame: a frame from an address or network not configured is refused
// (counted, dead-lettered as unknown_source, denied); a frame that is not
// one (checksum, length, marks, objects) is dead-lettered with the reason
// and denied; any other is handed to ingest and confirmed (command 3)
// once ingest has it. A unit whose clock is off by more than
// max_clock_skew is then sent the time. A connection from an address no
// unit connects from is closed before anything is read.
type GB26875 struct {
	cfg   GB26875Config
	o     Options
	ln    net.Listener
	self  gb26875.Address
	loc   *time.Location
	units map[uint64][]netip.Prefix
	any   []netip.Prefix // every unit's networks
	m     *gbMetrics

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	serial atomic.Uint32 // of the time syncs sent
}

type gbMetrics struct {
	frames  *prometheus.CounterVec
	refused *prometheus.CounterVec
	syncs   prometheus.Counter
	conns   prometheus.Gauge
}

// NewGB26875 returns the listener serving on ln (bound by the caller, so
// that an address in use fails the start); Run serves it.
func NewGB26875(ln net.Listener, cfg GB26875Config, o Options) (*GB26875, error) {
	o.defaults()
	if o.Accept == nil || o.Reject == nil {
		return nil, errors.New("gb26875: Accept and Reject are required")
	}
	self, err := parseUnitAddress(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("gb26875: address: %w", err)
	}
	g := &GB26875{cfg: cfg, o: o, ln: ln, self: gb26875.AddressOf(self), units: map[uint64][]netip.Prefix{},
		loc: time.FixedZone(fmt.Sprintf("UTC%+d", int(cfg.UTCOffset.Hours())), int(cfg.UTCOffset.Seconds())), conns: map[net.Conn]struct{}{}}
	for i, u := range cfg.Units {
		a, err := parseUnitAddress(u.Address)
		if err != nil {
			return nil, fmt.Errorf("gb26875: units[%d]: %w", i, err)
		}
		nets, err := parseNets(u.From)
		if err != nil {
			return nil, fmt.Errorf("gb26875: units[%d].from: %w", i, err)
		}
		g.units[a] = nets
		g.any = append(g.any, nets...)
	}
	g.m = &gbMetrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_gb26875_frames_total",
			Help: "GB/T 26875.3 frames received, by what was answered: confirmed (kept), denied (refused, dead-lettered), unanswered (ingest did not keep it in time; the unit sends it again), reply (a unit's confirm or deny, not answered).",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "firegrid_gb26875_refused_total",
			Help: "What the GB/T 26875.3 listener refused from senders it does not know, by reason: network (a connection from an address no unit connects from, closed), unit (a frame from a unit address not configured, or from a network not its own), connections (over max_connections).",
		}, []string{"reason"}),
		syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "firegrid_gb26875_time_syncs_total",
			Help: "Time syncs (command 1, type 90) sent to transmission units whose clock was off.",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "firegrid_gb26875_connections",
			Help: "Transmission units connected.",
		}),
	}
	for _, r := range []string{"confirmed", "denied", "unanswered", "reply"} {
		g.m.frames.WithLabelValues(r)
	}
	for _, r := range []string{"network", "unit", "connections"} {
		g.m.refused.WithLabelValues(r)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(g.m.frames, g.m.refused, g.m.syncs, g.m.conns)
	}
	return g, nil
}

// Addr is the address the listener serves on.
func (g *GB26875) Addr() net.Addr { return g.ln.Addr() }

// Run serves until ctx is done, then closes every connection and returns
// once each one's goroutine has stopped.
func (g *GB26875) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		g.ln.Close()
		g.mu.Lock()
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
	})
	defer stop()
	g.o.Log.Info("GB/T 26875.3 listener up", "addr", g.ln.Addr().String(), "units", len(g.units))
	if len(g.units) == 0 {
		g.o.Log.Warn("no transmission unit may send (sources.gb26875.units is empty): every connection is refused")
	}
	var err error
	for {
		c, aerr := g.ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil && !errors.Is(aerr, net.ErrClosed) {
				err = fmt.Errorf("gb26875: %w", aerr)
			}
			break
		}
		// No unit configured: no network may connect (within would take
		// an empty list as every network).
		if len(g.any) == 0 || !within(g.any, c.RemoteAddr().String()) {
			g.m.refused.WithLabelValues("network").Inc()
			g.o.Log.Debug("GB/T 26875.3 connection refused: no unit connects from there", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		g.mu.Lock()
		if len(g.conns) >= g.cfg.MaxConnections {
			g.mu.Unlock()
			g.m.refused.WithLabelValues("connections").Inc()
			c.Close()
			continue
		}
		g.conns[c] = struct{}{}
		g.mu.Unlock()
		g.m.conns.Inc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				c.Close()
				g.mu.Lock()
				delete(g.conns, c)
				g.mu.Unlock()
				g.m.conns.Dec()
			}()
			g.serve(ctx, c)
		}()
	}
	g.ln.Close()
	g.mu.Lock()
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	wg.Wait()
	return err
}

// serve reads one connection's frames and answers each.
func (g *GB26875) serve(ctx context.Context, c net.Conn) {
	remote := c.RemoteAddr().String()
	r := bufio.NewReaderSize(c, gb26875.MaxFrame)
	log := g.o.Log.With("remote", remote)
	for ctx.Err() == nil {
		_ = c.SetReadDeadline(time.Now().Add(g.cfg.IdleTimeout))
		frame, skipped, err := gb26875.ReadFrame(r)
		if skipped > 0 {
			log.Debug("bytes before a frame skipped", "bytes", skipped)
		}
		now := g.o.Now()
		var fe *gb26875.Error
		switch {
		case errors.As(err, &fe):
			topic := "gb26875/unknown"
			if fe.Frame != nil {
				topic = "gb26875/" + fe.Frame.Source.String()
			}
			g.refuse(ctx, c, fe.Frame, &contract.Uplink{Source: contract.SourceGB26875, Topic: topic, Payload: frame, ReceivedAt: now, Remote: remote},
				reasonOf(fe.Reason), fe.Msg)
			continue
		case err != nil:
			if ctx.Err() == nil {
				log.Debug("GB/T 26875.3 connection closed", "err", err)
			}
			return
		}
		f, _, _ := gb26875.Parse(frame)
		u := &contract.Uplink{Source: contract.SourceGB26875, Topic: "gb26875/" + f.Source.String(), Payload: frame, ReceivedAt: now, Remote: remote}
		if nets, ok := g.units[f.Source.Uint64()]; !ok || !within(nets, remote) {
			g.m.refused.WithLabelValues("unit").Inc()
			why := fmt.Sprintf("transmission unit %s is not configured (sources.gb26875.units)", f.Source)
			if ok {
				why = fmt.Sprintf("transmission unit %s does not connect from %s (sources.gb26875.units from)", f.Source, remote)
			}
			log.Debug("GB/T 26875.3 frame refused", "why", why)
			g.refuse(ctx, c, f, u, contract.ReasonUnknownSource, why)
			continue
		}
		if f.Command == gb26875.CmdConfirm || f.Command == gb26875.CmdDeny {
			g.m.frames.WithLabelValues("reply").Inc()
			continue
		}
		if _, err := gb26875.ParseData(f.Data); err != nil {
			var de *gb26875.Error
			if errors.As(err, &de) {
				g.refuse(ctx, c, f, u, reasonOf(de.Reason), de.Msg)
			}
			continue
		}
		actx, cancel := context.WithTimeout(ctx, acceptWait)
		err = g.o.Accept(actx, u)
		cancel()
		if err != nil {
			// Not kept: no answer, so that the unit sends the frame again.
			g.m.frames.WithLabelValues("unanswered").Inc()
			log.Warn("GB/T 26875.3 frame not kept; left unanswered", "frame", f.Describe(), "err", err)
			continue
		}
		stamp := gb26875.StampOf(now.In(g.loc))
		if !g.write(c, gb26875.Reply(f, gb26875.CmdConfirm, g.self, stamp)) {
			return
		}
		g.m.frames.WithLabelValues("confirmed").Inc()
		if g.cfg.MaxClockSkew > 0 {
			t, ok := f.Time.Time(g.loc)
			if d := t.Sub(now); !ok || d > g.cfg.MaxClockSkew || -d > g.cfg.MaxClockSkew {
				if !g.write(c, gb26875.SyncTime(uint16(g.serial.Add(1)), g.self, f.Source, stamp)) {
					return
				}
				g.m.syncs.Inc()
				log.Info("transmission unit's clock set", "unit", f.Source.String(), "its_time", f.Time.String(), "now", stamp.String())
			}
		}
	}
}

// refuse dead-letters a frame with the reason and denies it, when its
// header says whom to deny.
func (g *GB26875) refuse(ctx context.Context, c net.Conn, f *gb26875.Frame, u *contract.Uplink, reason contract.Reason, detail string) {
	rctx, cancel := context.WithTimeout(ctx, acceptWait)
	if err := g.o.Reject(rctx, u, reason, detail); err != nil {
		g.o.Log.Warn("dead letter not kept", "topic", u.Topic, "reason", reason, "err", err)
	}
	cancel()
	g.m.frames.WithLabelValues("denied").Inc()
	if f != nil {
		g.write(c, gb26875.Reply(f, gb26875.CmdDeny, g.self, gb26875.StampOf(g.o.Now().In(g.loc))))
	}
}

func (g *GB26875) write(c net.Conn, f *gb26875.Frame) bool {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(f.Bytes()); err != nil {
		g.o.Log.Debug("GB/T 26875.3 reply not written", "err", err)
		return false
	}
	return true
}

func reasonOf(r gb26875.Reason) contract.Reason {
	if r == gb26875.BadChecksum {
		return contract.ReasonBadChecksum
	}
	return contract.ReasonBadFrame
}
