package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/firegrid/firegrid/access"
	"github.com/firegrid/firegrid/assembly"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
	"github.com/firegrid/firegrid/simulator"
	"github.com/firegrid/firegrid/simulator/territory"
)

const benchUsage = `Usage: firegrid bench [flags]

Runs the same load against a bare Mosquitto, with one QoS 1 subscriber
draining every uplink as ingest would, and against firegrid serve, each a
process of its own beside this one (the loader), and prints both side by
side: the rate each took, the alarm latency (bare: publish to the
subscriber; firegrid: publish to the incident on the console stream), the
server's CPU a message and memory a connection, and the ratio, against the
goals of the hot path. Every device connects as itself, with its own
credentials, to both brokers.

Scenarios (--scenarios, comma-separated, in this order; default all):
  20k     20,000 telemetry messages a second and 20 alarms a second on top
  40k     40,000 telemetry messages a second and 20 alarms a second on top
  storm   18,000 devices connect within 10 s, each publishing one reading,
          while 5 alarms a second come from detectors connected before;
          the servers' resident memory a connected device

Flags:
`

// benchOptions are the flags of firegrid bench.
type benchOptions struct {
	scenarios      []string
	servers        []string
	duration       time.Duration
	devices        int
	alarmRate      float64
	stormDevices   int
	scale          float64
	stormWindow    time.Duration
	stormAlarmRate float64
	households     int
	mosquitto      string
	mosquittoAuth  bool
	serveConfig    string
	work           string
	profile        string
	progress       io.Writer
}

// benchScenario is one scenario run against both servers.
type benchScenario struct {
	Name  string  `json:"name"`
	Title string  `json:"title"`
	Rate  float64 `json:"rate,omitempty"`
	// Bare is Mosquitto with its drain; Firegrid is firegrid serve.
	Bare     benchSide   `json:"mosquitto"`
	Firegrid benchSide   `json:"firegrid"`
	Goals    []benchGoal `json:"goals"`
}

// benchSide is what one server did in a scenario: the loader's view and
// the server's own.
type benchSide struct {
	Load  *simulator.LoadResult  `json:"load,omitempty"`
	Storm *simulator.StormResult `json:"storm,omitempty"`
	// Taken is what the server took in: firegrid's accepted messages
	// (firegrid_ingest_messages_accepted_total), or what Mosquitto
	// delivered to the drain.
	Taken int64 `json:"taken"`
	// Rejected (dead-lettered), Refused (not acknowledged) and Dropped
	// (shed by the broker after acknowledging) are firegrid's.
	Rejected int64 `json:"rejected"`
	Refused  int64 `json:"refused"`
	Dropped  int64 `json:"dropped"`
	// CPUSeconds is the server process's CPU time during the run, and
	// LoaderCPUSeconds this process's.
	CPUSeconds       float64 `json:"cpu_s"`
	LoaderCPUSeconds float64 `json:"loader_cpu_s"`
	// ResidentBefore and ResidentHeld are the server's resident memory
	// before the storm and with every storm device connected (firegrid's
	// after a collection that returned what it could to the system).
	ResidentBefore int64 `json:"resident_before_bytes,omitempty"`
	ResidentHeld   int64 `json:"resident_held_bytes,omitempty"`
	// StartS is the server's time from start to serving.
	StartS float64 `json:"start_s"`
	// LoadAvg is the machine's one-minute load average when the run
	// began and when it ended: on a shared machine, what else ran.
	LoadAvg [2]float64 `json:"load_avg"`
	Error   string     `json:"error,omitempty"`
}

// benchGoal is one goal of a scenario and whether firegrid met it.
type benchGoal struct {
	Goal   string `json:"goal"`
	Met    bool   `json:"met"`
	Detail string `json:"detail"`
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	var o benchOptions
	scenarios := fs.String("scenarios", "20k,40k,storm", "scenarios to run, comma-separated: 20k, 40k, storm")
	servers := fs.String("servers", "mosquitto,firegrid", "servers to run each scenario against (one alone gives no ratio; for profiling)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each rate scenario publishes")
	fs.IntVar(&o.devices, "devices", 2000, "devices publishing in the rate scenarios, each on its own connection")
	fs.Float64Var(&o.alarmRate, "alarm-rate", 20, "smoke alarms a second on top of the telemetry in the rate scenarios")
	fs.IntVar(&o.stormDevices, "storm-devices", 18000, "devices connecting in the storm")
	fs.Float64Var(&o.scale, "scale", 1, "scale the telemetry rates and the storm's devices by this factor (a quick check of the harness: 0.01)")
	fs.DurationVar(&o.stormWindow, "storm-window", 10*time.Second, "the time within which the storm's devices connect")
	fs.Float64Var(&o.stormAlarmRate, "storm-alarm-rate", 5, "alarms a second during the storm")
	fs.IntVar(&o.households, "households", 16000, "households of the generated territory (a smoke detector each; it must hold the storm's devices)")
	fs.StringVar(&o.mosquitto, "mosquitto", "", "the mosquitto binary (default: FIREGRID_MOSQUITTO, mosquitto on PATH, /usr/sbin/mosquitto)")
	fs.BoolVar(&o.mosquittoAuth, "mosquitto-auth", false, "make the bare Mosquitto check every device's password and topics, as deploy/mosquitto does, from files of the same accounts (default: it lets anyone in, the barest broker)")
	fs.StringVar(&o.serveConfig, "serve-config", "", "firegrid serve's configuration file for the runs (default: mqtt.flood.rate 0, since a device of the rate scenarios sends 10 to 20 messages a second, and log.level warn)")
	fs.StringVar(&o.work, "work", "", "directory for the territory, the stores, the servers' logs (default: a temporary one, removed afterwards)")
	fs.StringVar(&o.profile, "profile", "", "write firegrid serve's CPU profile of each rate scenario, and its heap profile with the storm connected, into this directory")
	jsonOut := fs.String("json", "", "write every figure as JSON to this file")
	loaderProfile := fs.String("loader-profile", "", "write this process's (the loader's) CPU profile to this file")
	verbose := fs.Bool("v", false, "print the loader's progress each second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see firegrid bench --help)", fs.Arg(0))
	}
	for _, s := range strings.Split(*scenarios, ",") {
		switch s = strings.TrimSpace(s); s {
		case "20k", "40k", "storm":
			o.scenarios = append(o.scenarios, s)
		case "":
		default:
			return fmt.Errorf("--scenarios: unknown scenario %q (want 20k, 40k, storm)", s)
		}
	}
	for _, s := range strings.Split(*servers, ",") {
		switch s = strings.TrimSpace(s); s {
		case "mosquitto", "firegrid":
			o.servers = append(o.servers, s)
		case "":
		default:
			return fmt.Errorf("--servers: unknown server %q (want mosquitto, firegrid)", s)
		}
	}
	if *verbose {
		o.progress = stderr
	}
	if o.scale <= 0 {
		return errors.New("--scale: want a factor above 0")
	}
	o.stormDevices = max(int(float64(o.stormDevices)*o.scale), 1)
	if o.mosquitto == "" {
		o.mosquitto = findMosquitto()
	}
	if o.mosquitto == "" {
		return errors.New("no mosquitto found: give --mosquitto PATH or set FIREGRID_MOSQUITTO")
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "firegrid-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	} else if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if *loaderProfile != "" {
		f, err := os.Create(*loaderProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := &benchRun{o: o, exe: exe, log: stderr}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	var results []*benchScenario
	for _, name := range o.scenarios {
		sc, err := b.scenario(ctx, name)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		judge(sc)
		results = append(results, sc)
		printScenario(stdout, sc)
	}
	if *jsonOut != "" {
		out, err := json.MarshalIndent(map[string]any{"machine": b.machine(), "scenarios": results}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(out, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// findMosquitto is FIREGRID_MOSQUITTO, mosquitto on PATH, or in sbin.
func findMosquitto() string {
	if p := os.Getenv("FIREGRID_MOSQUITTO"); p != "" {
		return p
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// benchRun is one run of firegrid bench: a territory, every device's
// credentials in a store firegrid serve starts from, the same accounts in
// Mosquitto's files.
type benchRun struct {
	o   benchOptions
	exe string
	log io.Writer

	territory string
	template  string // a data directory holding the store with the accounts
	mosqAuth  string // Mosquitto's passwd and acl
	devs      []*devices.Device
	creds     simulator.Credentials
	drain     string // the drain's secret (an observer's account)
	runs      int
}

const benchDrainUser = "firegrid-bench-drain"

func (b *benchRun) prepare(ctx context.Context) error {
	start := time.Now()
	b.territory = filepath.Join(b.o.work, "territory")
	t, err := territory.Generate(territory.Options{Seed: 1, Households: b.o.households, Hydrants: 500, Sheds: 50})
	if err != nil {
		return err
	}
	if err := t.Write(b.territory); err != nil {
		return err
	}
	reg, err := devices.Load(b.territory)
	if err != nil {
		return err
	}
	// The devices that speak MQTT themselves (not through a transmission
	// unit, LoRaWAN or a carrier platform).
	for _, d := range reg.Devices("") {
		if d.Addresses() == (devices.Addresses{}) {
			b.devs = append(b.devs, d)
		}
	}
	b.template = filepath.Join(b.o.work, "data-template")
	cfg := assembly.DefaultConfig()
	cfg.Data = b.template
	st, err := assembly.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if b.creds, _, err = assembly.IssueCredentials(ctx, st, b.devs, nil, assembly.IssueAll); err != nil {
		return err
	}
	if b.drain, _, err = assembly.IssueService(ctx, st, reg, benchDrainUser, access.MQTTObserver, ""); err != nil {
		return err
	}
	b.mosqAuth = filepath.Join(b.o.work, "mosquitto-auth")
	if err := writeMosquitto(ctx, st, b.mosqAuth, io.Discard); err != nil {
		return err
	}
	fmt.Fprintf(b.log, "bench: territory of %d devices (%d speak MQTT), credentials issued, in %s\n",
		len(reg.Devices("")), len(b.devs), time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *benchRun) machine() map[string]any {
	return map[string]any{"cores": runtime.NumCPU(), "go": runtime.Version(), "os": runtime.GOOS + "/" + runtime.GOARCH,
		"mosquitto": b.o.mosquitto, "at": time.Now().UTC().Format(time.RFC3339)}
}

// scenario runs one scenario against Mosquitto, then firegrid.
func (b *benchRun) scenario(ctx context.Context, name string) (*benchScenario, error) {
	sc := &benchScenario{Name: name}
	switch name {
	case "20k", "40k":
		sc.Rate = 20000 * b.o.scale
		if name == "40k" {
			sc.Rate = 40000 * b.o.scale
		}
		sc.Title = fmt.Sprintf("%s telemetry msg/s + %g alarms/s, %d devices each on its own connection, QoS 1, %s",
			thousands(int64(sc.Rate)), b.o.alarmRate, b.o.devices, b.o.duration)
	case "storm":
		sc.Title = fmt.Sprintf("reconnect storm: %s devices connect within %s, one reading each; %g alarms/s from %d detectors connected before",
			thousands(int64(b.o.stormDevices)), b.o.stormWindow, b.o.stormAlarmRate, 50)
	}
	fmt.Fprintf(b.log, "bench %s: %s\n", name, sc.Title)
	for _, fg := range []bool{false, true} {
		side := &sc.Bare
		if fg {
			side = &sc.Firegrid
		}
		if !slices.Contains(b.o.servers, map[bool]string{false: "mosquitto", true: "firegrid"}[fg]) {
			continue
		}
		if err := b.side(ctx, sc, fg, side); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// side runs the scenario against one server, started for it and stopped
// after.
func (b *benchRun) side(ctx context.Context, sc *benchScenario, fg bool, side *benchSide) error {
	var srv *benchServer
	var err error
	if fg {
		srv, err = b.startFiregrid(ctx, sc.Name)
	} else {
		srv, err = b.startMosquitto(ctx, sc.Name)
	}
	if err != nil {
		return err
	}
	defer srv.stop()
	side.StartS = srv.started.Seconds()
	side.LoadAvg[0] = loadAvg()
	before, err := srv.counters()
	if err != nil {
		return err
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return err
	}
	loader0 := loaderCPU()
	drainLogin := []simulator.MQTTOption{simulator.WithLogin(benchDrainUser, b.drain)}
	profileDone := make(chan struct{})
	close(profileDone)
	switch sc.Name {
	case "storm":
		cfg := simulator.StormConfig{MQTTURL: srv.mqttURL, Credentials: b.creds, Devices: b.o.stormDevices,
			Window: b.o.stormWindow, AlarmRate: b.o.stormAlarmRate, Seed: 1, Progress: b.o.progress}
		if fg {
			cfg.HTTP = srv.http
		} else {
			cfg.Drain, cfg.DrainLogin = contract.AllFilter, drainLogin
		}
		if side.ResidentBefore, err = srv.resident(); err != nil {
			return err
		}
		cfg.Hold = func(int) {
			if side.ResidentHeld, err = srv.resident(); err != nil {
				side.Error = err.Error()
			}
			if fg && b.o.profile != "" {
				if err := srv.saveProfile("/debug/pprof/heap", filepath.Join(b.o.profile, "firegrid-storm-heap.pprof")); err != nil {
					side.Error = err.Error()
				}
			}
		}
		if fg && b.o.profile != "" {
			profileDone = make(chan struct{})
			go func() {
				defer close(profileDone)
				secs := max(int(b.o.stormWindow/time.Second)+2, 1)
				path := filepath.Join(b.o.profile, "firegrid-storm.pprof")
				if err := srv.saveProfile("/debug/pprof/profile?seconds="+strconv.Itoa(secs), path); err != nil {
					fmt.Fprintf(b.log, "bench: profile: %v\n", err)
				}
			}()
		}
		if side.Storm, err = simulator.Storm(ctx, cfg, b.devs, nil); err != nil {
			return err
		}
	default:
		cfg := simulator.LoadConfig{MQTTURL: srv.mqttURL, Devices: b.o.devices, Rate: sc.Rate, QoS: 1, Duration: b.o.duration,
			Connections: 4, AlarmRate: b.o.alarmRate, Seed: 1, Credentials: b.creds, Progress: b.o.progress}
		if fg {
			cfg.HTTP = srv.http
			if b.o.profile != "" {
				profileDone = make(chan struct{})
				go func() {
					defer close(profileDone)
					secs := max(int((b.o.duration-2*time.Second)/time.Second), 1)
					path := filepath.Join(b.o.profile, "firegrid-"+sc.Name+".pprof")
					if err := srv.saveProfile("/debug/pprof/profile?seconds="+strconv.Itoa(secs), path); err != nil {
						fmt.Fprintf(b.log, "bench: profile: %v\n", err)
					}
				}()
			}
		} else {
			cfg.Drain, cfg.DrainLogin = contract.AllFilter, drainLogin
		}
		if side.Load, err = simulator.Load(ctx, cfg, b.devs, nil); err != nil {
			return err
		}
	}
	<-profileDone
	if fg && b.o.profile != "" {
		for _, what := range []string{"mutex", "block"} {
			path := filepath.Join(b.o.profile, "firegrid-"+sc.Name+"-"+what+".pprof")
			if err := srv.saveProfile("/debug/pprof/"+what, path); err != nil {
				fmt.Fprintf(b.log, "bench: %s profile: %v\n", what, err)
			}
		}
	}
	// What the server counted of it.
	if fg {
		// The pipeline is behind the acknowledgements by at most what its
		// queues hold; give it a moment to count the last ones.
		time.Sleep(500 * time.Millisecond)
	}
	after, err := srv.counters()
	if err != nil {
		return err
	}
	cpu1, err := srv.cpu()
	if err != nil {
		return err
	}
	for _, p := range srv.probes {
		fmt.Fprintf(b.log, "bench %s, firegrid memory: resident %.0f MB, heap %.0f MB, stacks %.0f MB, %d goroutines\n", sc.Name,
			float64(p.ResidentBytes)/(1<<20), float64(p.HeapInUse)/(1<<20), float64(p.StackInUse)/(1<<20), p.Goroutines)
	}
	side.LoadAvg[1] = loadAvg()
	side.CPUSeconds = cpu1 - cpu0
	side.LoaderCPUSeconds = loaderCPU() - loader0
	side.Taken = int64(after.accepted - before.accepted)
	side.Rejected = int64(after.rejected - before.rejected)
	side.Refused = int64(after.refused - before.refused)
	side.Dropped = int64(after.dropped - before.dropped)
	if !fg {
		if side.Load != nil {
			side.Taken = side.Load.Received
		} else if side.Storm != nil {
			side.Taken = side.Storm.Received
		}
	}
	who := "mosquitto"
	if fg {
		who = "firegrid"
	}
	if side.Load != nil {
		fmt.Fprintf(b.log, "bench %s, %s:\n%s", sc.Name, who, indent(side.Load.String()))
	}
	if side.Storm != nil {
		fmt.Fprintf(b.log, "bench %s, %s:\n%s", sc.Name, who, indent(side.Storm.String()))
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

// loadAvg is the machine's one-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// loaderCPU is this process's CPU time so far, in seconds.
func loaderCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// benchServer is a server process the bench started.
type benchServer struct {
	cmd     *exec.Cmd
	done    chan error
	mqttURL string
	http    string // firegrid's console
	debug   string // firegrid's profiler
	started time.Duration
	probes  []memoryProbe
	// dir holds the server's files; metricsSeen counts its scrapes.
	dir         string
	metricsSeen int
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start starts cmd with its output in logPath, then waits for ready.
func startServer(ctx context.Context, cmd *exec.Cmd, logPath string, ready func() bool) (*benchServer, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C stops the bench, which stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &benchServer{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	for deadline := time.Now().Add(time.Minute); ; {
		if ready() {
			s.started = time.Since(start)
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("%s exited at start (%v); its log: %s", filepath.Base(cmd.Path), err, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready within a minute; its log: %s", filepath.Base(cmd.Path), logPath)
		}
	}
}

// stop asks the server to stop (SIGTERM) and waits for it, killing it
// after 30 s.
func (s *benchServer) stop() {
	select {
	case err := <-s.done:
		s.done <- err
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

func (b *benchRun) startMosquitto(ctx context.Context, scenario string) (*benchServer, error) {
	b.runs++
	dir := filepath.Join(b.o.work, fmt.Sprintf("%02d-%s-mosquitto", b.runs, scenario))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	// The shipped configuration (deploy/mosquitto/mosquitto.conf) for
	// the devices' plain listener, without persistence to disk, and
	// without accounts unless asked.
	auth := []string{"allow_anonymous true"}
	if b.o.mosquittoAuth {
		auth = []string{"allow_anonymous false", "password_file " + filepath.Join(b.mosqAuth, "passwd"),
			"acl_file " + filepath.Join(b.mosqAuth, "acl")}
	}
	conf := strings.Join(append(append([]string{
		"per_listener_settings false",
		"listener " + port + " " + host}, auth...),
		"use_username_as_clientid true",
		"persistence false",
		"max_inflight_messages 1000",
		"max_queued_messages 100000",
		"max_packet_size 1048576",
		"set_tcp_nodelay true",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	), "\n") + "\n"
	if os.Geteuid() == 0 {
		conf += "user root\n" // else it becomes the user mosquitto, who cannot read a private work directory
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, b.o.mosquitto, "-c", path)
	s, err := startServer(ctx, cmd, filepath.Join(dir, "mosquitto.log"), func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if err != nil {
		return nil, err
	}
	s.mqttURL, s.dir = "tcp://"+addr, dir
	return s, nil
}

func (b *benchRun) startFiregrid(ctx context.Context, scenario string) (*benchServer, error) {
	b.runs++
	dir := filepath.Join(b.o.work, fmt.Sprintf("%02d-%s-firegrid", b.runs, scenario))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	// A fresh store holding every account, for each run.
	names, err := filepath.Glob(filepath.Join(b.template, "firegrid.db*"))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		content, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(data, filepath.Base(n)), content, 0o600); err != nil {
			return nil, err
		}
	}
	// A device of the rate scenarios sends 10 to 20 messages a second,
	// above the flood limit meant for real detectors.
	conf := filepath.Join(dir, "firegrid.yaml")
	content := []byte("mqtt:\n  flood:\n    rate: 0\nlog:\n  level: warn\n")
	if b.o.serveConfig != "" {
		if content, err = os.ReadFile(b.o.serveConfig); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(conf, content, 0o644); err != nil {
		return nil, err
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, b.exe, "serve", "--config", conf, "--registry", b.territory, "--data", data,
		"--http", addrs[0], "--mqtt-listen", addrs[1], "--pprof", addrs[2])
	s, err := startServer(ctx, cmd, filepath.Join(dir, "firegrid.log"), func() bool {
		resp, err := http.Get("http://" + addrs[0] + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return nil, err
	}
	s.mqttURL, s.http, s.debug, s.dir = "tcp://"+addrs[1], addrs[0], addrs[2], dir
	return s, nil
}

// serverCounters are firegrid's counters the bench reads.
type serverCounters struct{ accepted, rejected, refused, dropped float64 }

// counters reads firegrid's metrics (zero for Mosquitto).
func (s *benchServer) counters() (serverCounters, error) {
	var c serverCounters
	if s.http == "" {
		return c, nil
	}
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, err
	}
	// Kept beside the server's log, for a look at its histograms.
	s.metricsSeen++
	if err := os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("metrics-%d.txt", s.metricsSeen)), text, 0o644); err != nil {
		return c, err
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		base, labels, _ := strings.Cut(name, "{")
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		switch base {
		case "firegrid_ingest_messages_accepted_total":
			c.accepted += v
		case "firegrid_ingest_messages_rejected_total":
			c.rejected += v
		case "firegrid_broker_refused_total":
			if strings.Contains(labels, `"not_kept"`) || strings.Contains(labels, `"flood"`) || strings.Contains(labels, `"cooldown"`) {
				c.refused += v
			}
		case "firegrid_broker_messages_dropped_total", "firegrid_broker_inflight_dropped_total":
			c.dropped += v
		}
	}
	return c, sc.Err()
}

// cpu is the server process's CPU time so far, in seconds.
func (s *benchServer) cpu() (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name in parentheses: state is the
	// third field, utime the 14th and stime the 15th.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", s.cmd.Process.Pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ
}

// resident is the server's resident memory: Mosquitto's as it is,
// firegrid's after a collection that returned what it could.
func (s *benchServer) resident() (int64, error) {
	if s.debug == "" {
		return residentBytes(s.cmd.Process.Pid)
	}
	resp, err := http.Get("http://" + s.debug + "/debug/memory")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var m memoryProbe
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return 0, err
	}
	s.probes = append(s.probes, m)
	return m.ResidentBytes, nil
}

// saveProfile fetches one of firegrid's profiles into path.
func (s *benchServer) saveProfile(what, path string) error {
	resp, err := http.Get("http://" + s.debug + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", what, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// p99 is the 99th percentile of the latency of every alarm sent: those
// that never arrived count as infinitely late, so it is infinite when more
// than 1 % were lost.
func p99(p simulator.Percentiles, sent int64, arrived int) float64 {
	if lost := sent - int64(arrived); lost > sent/100 {
		return math.Inf(1)
	}
	return p.P99
}

// judge sets the scenario's goals from the issue, met or by how much not.
func judge(sc *benchScenario) {
	bare, fg := &sc.Bare, &sc.Firegrid
	ratioGoal := func(limit float64, bp99, fp99 float64) benchGoal {
		g := benchGoal{Goal: fmt.Sprintf("alarm p99 ≤ %g× the bare broker's", limit)}
		switch {
		case math.IsInf(fp99, 1):
			g.Detail = "more than 1 % of firegrid's alarms never arrived"
			return g
		case math.IsInf(bp99, 1):
			g.Met = true
			g.Detail = fmt.Sprintf("%.1f ms; more than 1 %% of the bare broker's alarms never reached its subscriber", fp99)
			return g
		case bp99 <= 0:
			g.Detail = "no bare figure"
			return g
		}
		r := fp99 / bp99
		g.Met = r <= limit
		g.Detail = fmt.Sprintf("%.1f ms vs %.1f ms: %.2f×", fp99, bp99, r)
		if !g.Met {
			g.Detail += fmt.Sprintf(", %.1f ms over %g×", fp99-limit*bp99, limit)
		}
		return g
	}
	switch {
	case fg.Load != nil && bare.Load != nil:
		l := fg.Load
		if sc.Name == "20k" {
			achieved := float64(l.Acked-l.Alarms) / l.DurationS
			sc.Goals = append(sc.Goals,
				benchGoal{Goal: "achieved ≥ 98 % of the target", Met: achieved >= 0.98*l.Config.Rate,
					Detail: fmt.Sprintf("%s of %s telemetry msg/s (%.1f %%); bare %s", thousands(int64(achieved)), thousands(int64(l.Config.Rate)),
						100*achieved/l.Config.Rate, thousands(int64(float64(bare.Load.Acked-bare.Load.Alarms)/bare.Load.DurationS)))},
				benchGoal{Goal: "every message published accepted", Met: fg.Taken == l.Sent && l.Failed == 0,
					Detail: fmt.Sprintf("published %s, accepted %s, refused %d, failed %d", thousands(l.Sent), thousands(fg.Taken), fg.Refused, l.Failed)})
		} else {
			sc.Goals = append(sc.Goals, benchGoal{Goal: "nothing acknowledged dropped", Met: fg.Taken >= l.Acked && fg.Dropped == 0,
				Detail: fmt.Sprintf("acknowledged %s, accepted %s, dropped %d; achieved %s msg/s (bare: acknowledged %s, its subscriber got %s, %s msg/s)",
					thousands(l.Acked), thousands(fg.Taken), fg.Dropped, thousands(int64(l.MsgPerSec)),
					thousands(bare.Load.Acked), thousands(bare.Taken), thousands(int64(bare.Load.MsgPerSec)))})
		}
		sc.Goals = append(sc.Goals, benchGoal{Goal: "no alarm lost", Met: int64(l.Matched) == l.Alarms,
			Detail: fmt.Sprintf("%d of %d on the console (bare: %d of %d at the subscriber)", l.Matched, l.Alarms, bare.Load.Matched, bare.Load.Alarms)})
		limit := 2.0
		if sc.Name == "40k" {
			limit = 3
		}
		sc.Goals = append(sc.Goals, ratioGoal(limit, p99(bare.Load.Latency, bare.Load.Alarms, bare.Load.Matched), p99(l.Latency, l.Alarms, l.Matched)))
	case fg.Storm != nil && bare.Storm != nil:
		s := fg.Storm
		sc.Goals = append(sc.Goals,
			benchGoal{Goal: "every connection accepted within the window", Met: s.Connected == s.Config.Devices && s.TookS <= s.Config.Window.Seconds()+1,
				Detail: fmt.Sprintf("%s of %s in %.1f s; connect p99 %.1f ms (bare %.1f ms)", thousands(int64(s.Connected)), thousands(int64(s.Config.Devices)),
					s.TookS, s.Connect.P99, bare.Storm.Connect.P99)},
			benchGoal{Goal: "every reading taken", Met: s.Readings == int64(s.Config.Devices) && fg.Taken >= s.Readings+s.AlarmsAcked,
				Detail: fmt.Sprintf("%s acknowledged, %s accepted with the alarms", thousands(s.Readings), thousands(fg.Taken))},
			benchGoal{Goal: "no alarm lost", Met: int64(s.Matched) == s.Alarms,
				Detail: fmt.Sprintf("%d of %d on the console (bare: %d of %d)", s.Matched, s.Alarms, bare.Storm.Matched, bare.Storm.Alarms)},
			ratioGoal(2, p99(bare.Storm.Latency, bare.Storm.Alarms, bare.Storm.Matched), p99(s.Latency, s.Alarms, s.Matched)))
		if s.Connected > 0 && fg.ResidentHeld > 0 {
			per := float64(fg.ResidentHeld-fg.ResidentBefore) / float64(s.Connected)
			bper := 0.0
			if bare.Storm.Connected > 0 {
				bper = float64(bare.ResidentHeld-bare.ResidentBefore) / float64(bare.Storm.Connected)
			}
			sc.Goals = append(sc.Goals, benchGoal{Goal: "≤ 16 KB resident a connected device", Met: per <= 16<<10,
				Detail: fmt.Sprintf("%.1f KB (bare %.1f KB)", per/1024, bper/1024)})
		}
	}
}

// printScenario prints a scenario's figures side by side.
func printScenario(w io.Writer, sc *benchScenario) {
	bare, fg := &sc.Bare, &sc.Firegrid
	fmt.Fprintf(w, "\n%s\n", sc.Title)
	row := func(what, b, f, ratio string) { fmt.Fprintf(w, "  %-34s %22s %22s %8s\n", what, b, f, ratio) }
	row("", "bare Mosquitto", "firegrid serve", "ratio")
	ratio := func(b, f float64) string {
		switch {
		case math.IsInf(f, 1):
			return "∞"
		case math.IsInf(b, 1):
			return "0×"
		case b <= 0:
			return "–"
		}
		return fmt.Sprintf("%.2f×", f/b)
	}
	ms := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	lat := func(p simulator.Percentiles) string {
		return fmt.Sprintf("%s/%s/%s/%s", ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
	}
	cpuPer := func(s *benchSide, msgs int64) float64 {
		if msgs <= 0 {
			return 0
		}
		return s.CPUSeconds * 1e6 / float64(msgs)
	}
	switch {
	case bare.Load != nil && fg.Load != nil:
		b, f := bare.Load, fg.Load
		row("published / acknowledged", fmt.Sprintf("%s / %s", thousands(b.Sent), thousands(b.Acked)), fmt.Sprintf("%s / %s", thousands(f.Sent), thousands(f.Acked)), "")
		row("achieved (msg/s)", thousands(int64(b.MsgPerSec)), thousands(int64(f.MsgPerSec)), ratio(b.MsgPerSec, f.MsgPerSec))
		row("taken (drained / accepted)", thousands(bare.Taken), thousands(fg.Taken), "")
		row("refused / dropped after ack", "–", fmt.Sprintf("%d / %d", fg.Refused, fg.Dropped), "")
		row("alarms sent / arrived", fmt.Sprintf("%d / %d", b.Alarms, b.Matched), fmt.Sprintf("%d / %d", f.Alarms, f.Matched), "")
		row("alarm p50/p90/p99/max (ms)", lat(b.Latency), lat(f.Latency), ratio(p99(b.Latency, b.Alarms, b.Matched), p99(f.Latency, f.Alarms, f.Matched)))
		row("server CPU a message (µs)", fmt.Sprintf("%.1f", cpuPer(bare, b.Acked)), fmt.Sprintf("%.1f", cpuPer(fg, f.Acked)), ratio(cpuPer(bare, b.Acked), cpuPer(fg, f.Acked)))
		row("loader CPU a message (µs)", fmt.Sprintf("%.1f", bare.LoaderCPUSeconds*1e6/float64(max(b.Acked, 1))), fmt.Sprintf("%.1f", fg.LoaderCPUSeconds*1e6/float64(max(f.Acked, 1))), "")
	case bare.Storm != nil && fg.Storm != nil:
		b, f := bare.Storm, fg.Storm
		row("connected (of)", fmt.Sprintf("%s (%s)", thousands(int64(b.Connected)), thousands(int64(b.Config.Devices))), fmt.Sprintf("%s (%s)", thousands(int64(f.Connected)), thousands(int64(f.Config.Devices))), "")
		row("took (s)", fmt.Sprintf("%.1f", b.TookS), fmt.Sprintf("%.1f", f.TookS), ratio(b.TookS, f.TookS))
		row("connect p50/p90/p99/max (ms)", lat(b.Connect), lat(f.Connect), ratio(b.Connect.P99, f.Connect.P99))
		row("readings acknowledged", thousands(b.Readings), thousands(f.Readings), "")
		row("reading PUBACK p50/p99 (ms)", ms(b.Reading.P50)+"/"+ms(b.Reading.P99), ms(f.Reading.P50)+"/"+ms(f.Reading.P99), ratio(b.Reading.P99, f.Reading.P99))
		row("taken (drained / accepted)", thousands(bare.Taken), thousands(fg.Taken), "")
		row("alarms sent / arrived", fmt.Sprintf("%d / %d", b.Alarms, b.Matched), fmt.Sprintf("%d / %d", f.Alarms, f.Matched), "")
		row("alarm p50/p90/p99/max (ms)", lat(b.Latency), lat(f.Latency), ratio(p99(b.Latency, b.Alarms, b.Matched), p99(f.Latency, f.Alarms, f.Matched)))
		kb := func(s *benchSide, n int) float64 {
			if n <= 0 {
				return 0
			}
			return float64(s.ResidentHeld-s.ResidentBefore) / float64(n) / 1024
		}
		row("resident before / held (MB)", fmt.Sprintf("%.0f / %.0f", float64(bare.ResidentBefore)/(1<<20), float64(bare.ResidentHeld)/(1<<20)),
			fmt.Sprintf("%.0f / %.0f", float64(fg.ResidentBefore)/(1<<20), float64(fg.ResidentHeld)/(1<<20)), "")
		row("resident a connection (KB)", fmt.Sprintf("%.1f", kb(bare, b.Connected)), fmt.Sprintf("%.1f", kb(fg, f.Connected)), ratio(kb(bare, b.Connected), kb(fg, f.Connected)))
		row("server CPU (s)", fmt.Sprintf("%.1f", bare.CPUSeconds), fmt.Sprintf("%.1f", fg.CPUSeconds), ratio(bare.CPUSeconds, fg.CPUSeconds))
	}
	row("server start (s)", fmt.Sprintf("%.2f", bare.StartS), fmt.Sprintf("%.2f", fg.StartS), "")
	row("machine load, start → end", fmt.Sprintf("%.1f → %.1f", bare.LoadAvg[0], bare.LoadAvg[1]), fmt.Sprintf("%.1f → %.1f", fg.LoadAvg[0], fg.LoadAvg[1]), "")
	for _, g := range sc.Goals {
		mark := "met"
		if !g.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "  goal: %-44s %-6s %s\n", g.Goal, mark, g.Detail)
	}
	for _, s := range []*benchSide{bare, fg} {
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Error)
		}
	}
}

// thousands formats n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
