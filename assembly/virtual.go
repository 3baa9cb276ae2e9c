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

// Virtual is a firegrid on a fake clock that a simulator.RunVirtual
// drives: it implements simulator.VirtualTarget. It is serve fed directly
// through ingest (StartVirtual), or any set of processes sharing the clock
// (NewVirtual: the scale-out roles on Kafka). The clock moves on only once
// the pipeline is idle and every timer is armed again.
type Virtual struct {
	Clock *clock.Fake
	// Processes are the firegrid processes that run on Clock.
	Processes []*Process

	io VirtualIO
	// timers is how many timers firegrid keeps armed when it is idle (the
	// rule engine's tick, the alarm stage's timer loop): after the clock
	// moves, firegrid has finished reacting once they are armed again and
	// the pipeline is idle.
	timers int

	mu       sync.Mutex
	commands []*simulator.Command
	closers  []func()
}

// VirtualIO is how a Virtual reaches its firegrid.
type VirtualIO struct {
	// Publish takes one uplink and returns once firegrid has it.
	Publish func(ctx context.Context, topic string, payload []byte) error
	// Idle reports whether the pipeline has finished reacting to
	// everything it was given.
	Idle func() bool
	// Changes are the incident changes as a console's stream sees them.
	Changes <-chan contract.IncidentChange
	// Pending, when set, says what the pipeline is still busy with, for
	// the message of a run that does not settle.
	Pending func() string
}

// NewVirtual drives procs, which run on clk, through io; commands reach it
// through Command. Call Armed before the run. Close stops the processes
// and calls closers.
func NewVirtual(clk *clock.Fake, procs []*Process, io VirtualIO, closers ...func()) *Virtual {
	return &Virtual{Clock: clk, Processes: procs, io: io, closers: closers}
}

// Armed waits until every process has armed its timers, which is how many
// a settled firegrid keeps armed.
func (v *Virtual) Armed() error {
	deadline := time.Now().Add(settleTimeout)
	for v.Clock.Waiters() == 0 {
		if time.Now().After(deadline) {
			return errors.New("virtual firegrid: no timer armed within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	// Every part that keeps a timer has armed it once the count stops
	// moving.
	for stable := 0; stable < 20; stable++ {
		if n := v.Clock.Waiters(); n != v.timers {
			v.timers, stable = n, 0
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// StartVirtual starts serve with cfg (registry, rules, bus and ingest
// settings; addresses, data directory and demo are replaced) on a fake
// clock set to start, or VirtualStart when start is zero, fed directly
// through ingest. Close it when done.
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
	changes, unsub := s.Hub.Subscribe(1 << 16)
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	v := NewVirtual(fake, []*Process{s}, VirtualIO{
		// A simulated transmission unit's frame (topic gb26875/{unit})
		// goes to ingest as the GB/T 26875.3 listener hands it.
		Publish: func(ctx context.Context, topic string, payload []byte) error {
			u := &contract.Uplink{Topic: topic, Payload: payload}
			if strings.HasPrefix(topic, contract.SourceGB26875+"/") {
				u.Source = contract.SourceGB26875
			}
			return s.Ingester.Accept(ctx, u)
		},
		Idle:    func() bool { return s.Memory.Idle() && s.Relay.Idle() },
		Changes: changes,
	}, func() {
		unsub()
		cancel()
		<-done
		os.RemoveAll(data)
	})
	commands := bus.Group{Name: "simulator-commands", Topics: []string{contract.TopicCommands}}
	if err := s.Bus.Declare(commands); err != nil {
		close(done)
		v.Close()
		return nil, err
	}
	go func() {
		defer close(done)
		_ = s.Bus.Consume(cctx, commands, bus.Handle(func(_ context.Context, c *contract.Command) error { return v.Command(c) }))
	}()
	if err := v.Armed(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// Command records a command firegrid sent to a device.
func (v *Virtual) Command(cmd *contract.Command) error {
	c, err := simulator.ParseCommand(cmd.Topic(), cmd.Payload())
	if err != nil {
		return fmt.Errorf("%w: %v", contract.ErrPoison, err)
	}
	v.mu.Lock()
	v.commands = append(v.commands, c)
	v.mu.Unlock()
	return nil
}

// Publish takes one uplink into firegrid and returns once it has it.
func (v *Virtual) Publish(ctx context.Context, topic string, _ byte, _ bool, payload []byte) error {
	return v.io.Publish(ctx, topic, payload)
}

// Settle returns once the pipeline is idle and every timer is armed
// again, that is once firegrid has done everything the last moment
// caused.
func (v *Virtual) Settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	for spins := 0; ; spins++ {
		// Timers first: a part publishes what its timer caused before it
		// arms the next one, so an idle pipeline read afterwards covers it.
		if v.Clock.Waiters() >= v.timers && v.io.Idle() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, p := range v.Processes {
			select {
			case err := <-p.Err():
				return fmt.Errorf("virtual firegrid: %s: %w", p.Role, err)
			default:
			}
		}
		if spins < 100 {
			runtime.Gosched()
			continue
		}
		if time.Now().After(deadline) {
			busy := ""
			if v.io.Pending != nil {
				busy = ": " + v.io.Pending()
			}
			return fmt.Errorf("virtual firegrid: still busy after %v at %v (pipeline idle %v%s; %d of %d timers armed)",
				settleTimeout, v.Clock.Now().Sub(VirtualStart), v.io.Idle(), busy, v.Clock.Waiters(), v.timers)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// Observe returns the incident changes and commands since the last call.
func (v *Virtual) Observe() ([]*simulator.IncidentChange, []*simulator.Command) {
	var changes []*simulator.IncidentChange
	for {
		select {
		case c, ok := <-v.io.Changes:
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

// Close stops firegrid, then runs the closers.
func (v *Virtual) Close() error {
	var errs []error
	for _, p := range v.Processes {
		errs = append(errs, p.Close())
	}
	for _, c := range v.closers {
		c()
	}
	return errors.Join(errs...)
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
	r := &simulator.Runner{Config: run.Run, Scenario: sc, Devices: v.Processes[0].Registry.Devices(""), Source: run.Source, Logger: log, OnPublish: run.OnPublish}
	return simulator.RunVirtual(ctx, r, v.Clock, v)
}
