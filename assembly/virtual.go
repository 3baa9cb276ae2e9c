package assembly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/simulator"
)

// VirtualStart is where the clock of a virtual firegrid starts, so that
// two runs of one scenario publish the same bytes.
var VirtualStart = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// settleTimeout bounds how long a virtual firegrid may take, in wall
// time, to finish reacting to one moment of a run.
const settleTimeout = 30 * time.Second

// Virtual is an all-in-one firegrid on a fake clock, fed directly through
// ingest, that a simulator.RunVirtual drives: it implements
// simulator.VirtualTarget. Incidents are read off the console's hub and
// commands off the bus, where the console stream and the MQTT downlink
// read them.
type Virtual struct {
	*Process
	Clock *clock.Fake

	changes <-chan contract.IncidentChange
	unsub   func()
	// timers is how many timers firegrid keeps armed when it is idle (the
	// rule engine's tick): after the clock moves, firegrid has finished
	// reacting once they are armed again and the bus is idle.
	timers int

	mu       sync.Mutex
	commands []*simulator.Command
	stop     context.CancelFunc
	done     chan struct{}
	data     string
}

// StartVirtual starts a firegrid of cfg (registry, rules, bus and ingest
// settings; addresses, data directory and demo are replaced) on a fake
// clock set to start, or VirtualStart when start is zero. Close it when
// done.
func StartVirtual(ctx context.Context, cfg Config, log *slog.Logger, start time.Time) (*Virtual, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := os.MkdirTemp("", "firegrid-virtual-")
	if err != nil {
		return nil, err
	}
	cfg.HTTP, cfg.MQTT = "127.0.0.1:0", MQTT{Listen: "127.0.0.1:0"}
	// Field sources' frames come through Publish, not their listeners.
	cfg.Sources.GB26875.Listen, cfg.Sources.Push.Listen, cfg.Sources.ChirpStack.URL = "", "", ""
	cfg.Data, cfg.Demo = data, Demo{}
	cfg.Ingest.ClientID = fmt.Sprintf("firegrid-virtual-%d", time.Now().UnixNano())
	if start.IsZero() {
		start = VirtualStart
	}
	fake := clock.NewFake(start)
	s, err := Start(ctx, Serve, cfg, Options{Log: log, Clock: fake})
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	v := &Virtual{Process: s, Clock: fake, data: data, done: make(chan struct{})}
	v.changes, v.unsub = s.Hub.Subscribe(1 << 16)
	cctx, cancel := context.WithCancel(context.Background())
	v.stop = cancel
	commands := bus.Group{Name: "simulator-commands", Topics: []string{contract.TopicCommands}}
	if err := s.Bus.Declare(commands); err != nil {
		v.Close()
		return nil, err
	}
	go func() {
		defer close(v.done)
		_ = s.Bus.Consume(cctx, commands, bus.Handle(v.command))
	}()
	deadline := time.Now().Add(settleTimeout)
	for fake.Waiters() == 0 {
		if time.Now().After(deadline) {
			v.Close()
			return nil, errors.New("virtual firegrid: the rule engine armed no tick within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	// Every role that keeps a timer has armed it once the count stops
	// moving.
	for stable := 0; stable < 20; stable++ {
		if n := fake.Waiters(); n != v.timers {
			v.timers, stable = n, 0
		}
		time.Sleep(time.Millisecond)
	}
	return v, nil
}

// command records a downlink as the downlink component publishes it.
func (v *Virtual) command(_ context.Context, cmd *contract.Command) error {
	c, err := simulator.ParseCommand(cmd.Topic(), cmd.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", contract.ErrPoison, err)
	}
	v.mu.Lock()
	v.commands = append(v.commands, c)
	v.mu.Unlock()
	return nil
}

// Publish takes one uplink through ingest, as the MQTT subscription
// would, and returns once the bus has it. A simulated transmission
// unit's frame (topic gb26875/{unit}) goes to ingest as the GB/T 26875.3
// listener hands it.
func (v *Virtual) Publish(ctx context.Context, topic string, _ byte, _ bool, payload []byte) error {
	u := &contract.Uplink{Topic: topic, Payload: payload}
	if strings.HasPrefix(topic, contract.SourceGB26875+"/") {
		u.Source = contract.SourceGB26875
	}
	return v.Ingester.Accept(ctx, u)
}

// Settle returns once the bus is idle and the rule engine has armed its
// next tick, that is once firegrid has done everything the last moment
// caused.
func (v *Virtual) Settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	for spins := 0; ; spins++ {
		// Timers first: a role publishes what its timer caused before it
		// arms the next one, so an idle bus read afterwards covers it.
		if v.Clock.Waiters() >= v.timers && v.idle() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case err := <-v.Err():
			return fmt.Errorf("virtual firegrid: %w", err)
		default:
		}
		if spins < 100 {
			runtime.Gosched()
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("virtual firegrid: still busy after %v at %v (pipeline idle %v, %d of %d timers armed)",
				settleTimeout, v.Clock.Now().Sub(VirtualStart), v.idle(), v.Clock.Waiters(), v.timers)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// idle reports whether nothing waits in the bus or the outbox.
func (v *Virtual) idle() bool { return v.Memory.Idle() && v.Relay.Idle() }

// Observe returns the incident changes and commands since the last call.
func (v *Virtual) Observe() ([]*simulator.IncidentChange, []*simulator.Command) {
	var changes []*simulator.IncidentChange
	for {
		select {
		case c, ok := <-v.changes:
			if !ok {
				return changes, v.takeCommands()
			}
			b, err := json.Marshal(c)
			if err != nil {
				continue
			}
			if ic, err := simulator.ParseIncidentChange(b); err == nil {
				changes = append(changes, ic)
			}
			continue
		default:
		}
		return changes, v.takeCommands()
	}
}

func (v *Virtual) takeCommands() []*simulator.Command {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.commands
	v.commands = nil
	return out
}

// Close stops firegrid and removes its data.
func (v *Virtual) Close() error {
	v.unsub()
	v.stop()
	<-v.done
	err := v.Process.Close()
	os.RemoveAll(v.data)
	return err
}

// ScenarioRun says how RunScenario plays a scenario.
type ScenarioRun struct {
	// Run sets the run's options (seed, fleet, duration); its clock and
	// publisher are the virtual firegrid's.
	Run simulator.Config
	// Source, when set, is played instead of the scenario's fleet and
	// steps: its capture, for one.
	Source simulator.Source
	Log    *slog.Logger
	// OnPublish, when set, sees every publication.
	OnPublish func(simulator.Publication)
}

// RunScenario plays sc against a fresh in-process firegrid of cfg in
// virtual time and returns the judged expectations. The virtual clock
// starts at the capture's first message, else at run.Run.Start, else at
// VirtualStart.
func RunScenario(ctx context.Context, cfg Config, sc *simulator.Scenario, run ScenarioRun) (*simulator.Report, error) {
	log := run.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A capture starts the clock at its first message, so that ingest
	// takes its timestamps as current.
	var start time.Time
	if s, ok := run.Source.(interface{ Start() time.Time }); ok {
		start = s.Start()
	}
	if start.IsZero() {
		start = run.Run.Start
	}
	v, err := StartVirtual(ctx, cfg, log, start)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	// Devices behind transmission units speak GB/T 26875.3, as in the field.
	run.Run.Units = true
	r := &simulator.Runner{Config: run.Run, Scenario: sc, Devices: v.Registry.Devices(""), Source: run.Source, Logger: log, OnPublish: run.OnPublish}
	return simulator.RunVirtual(ctx, r, v.Clock, v)
}
