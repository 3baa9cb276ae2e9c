package assembly

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/configs"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/clock"
	"github.com/firegrid/firegrid/internal/testenv"
	"github.com/firegrid/firegrid/simulator"
)

// startVirtualRoles starts ingest, rules and alarm as separate processes'
// worth of components (each its own Kafka clients, store connection and
// HTTP port) on an in-process Kafka (kfake, over TCP), a real Mosquitto
// and a real PostgreSQL database, all on one fake clock set to start.
// Devices publish through Mosquitto; commands are read off Mosquitto as a
// device would; the clock moves on once every record published has been
// handled by every group, the outbox is empty and every command reached
// the broker's subscriber.
func startVirtualRoles(t *testing.T, start time.Time) *Virtual {
	v, _ := startVirtualRolesTracked(t, start)
	return v
}

func startVirtualRolesTracked(t *testing.T, start time.Time) (*Virtual, *bus.Tracker) {
	t.Helper()
	if start.IsZero() {
		start = VirtualStart
	}
	clk := clock.NewFake(start)
	tracker := bus.NewTracker()
	cfg := DefaultConfig()
	cfg.HTTP = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	cfg.MQTT.URL = testenv.Mosquitto(t)
	cfg.Postgres.DSN = testenv.Postgres(t)
	cfg.Kafka.Brokers = testenv.Kafka(t)
	for _, tp := range []*bus.KafkaTopic{&cfg.Kafka.Topics.Telemetry, &cfg.Kafka.Topics.Events} {
		tp.Partitions = 4
	}
	cfg.Kafka.Topics.Signals.Partitions, cfg.Kafka.Topics.Incidents.Partitions = 2, 2
	cfg.Kafka.HeartbeatInterval, cfg.Kafka.SessionTimeout, cfg.Kafka.RebalanceTimeout = 200*time.Millisecond, 6*time.Second, 6*time.Second
	// Each moment of a run waits for the pipeline to drain: no batching.
	// (A fetch returns as soon as records arrive, so a short fetch wait
	// would not help; see bus.KafkaConfig.MaxWait.)
	cfg.Kafka.TelemetryBatchSize = 1
	cfg.Ingest.ClientID = fmt.Sprintf("fg-virtual-%d", time.Now().UnixNano())
	var procs []*Process
	for _, role := range []string{RoleAlarm, RoleRules, RoleIngest} {
		rc := cfg
		rc.Instance = role + "-1"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		p, err := Start(ctx, role, rc, Options{Clock: clk, Tracker: tracker})
		cancel()
		if err != nil {
			for _, q := range procs {
				q.Close()
			}
			t.Fatalf("start %s: %v", role, err)
		}
		procs = append(procs, p)
	}
	alarm, ingest := procs[0], procs[2]
	device := connectDevice(t, cfg.MQTT.URL)
	// A device's PUBACK comes from Mosquitto, before ingest has the
	// message: the clock waits until ingest has taken all it was sent.
	var observed, sent atomic.Int64
	var v *Virtual
	watcher := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(cfg.MQTT.URL).SetClientID(fmt.Sprintf("fg-watch-%d", time.Now().UnixNano())))
	if tok := watcher.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher: %v", tok.Error())
	}
	changes, unsub := alarm.Hub.Subscribe(1 << 16)
	v = NewVirtual(clk, procs, VirtualIO{
		Publish: func(ctx context.Context, topic string, payload []byte) error {
			tok := device.client.Publish(topic, 1, false, payload)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				return fmt.Errorf("publish %s: %v", topic, tok.Error())
			}
			sent.Add(1)
			return nil
		},
		Idle: func() bool {
			return int64(ingest.Ingester.Taken()) >= sent.Load() && tracker.Idle() && alarm.Relay.Idle() &&
				observed.Load() >= tracker.Handled("downlink", contract.TopicCommands)
		},
		Changes: changes,
		Pending: func() string {
			return fmt.Sprintf("ingest took %d of %d uplinks; %s; relay idle %v; %d of %d commands seen", ingest.Ingester.Taken(), sent.Load(),
				tracker.Pending(), alarm.Relay.Idle(), observed.Load(), tracker.Handled("downlink", contract.TopicCommands))
		},
	}, func() { unsub(); watcher.Disconnect(100) })
	t.Cleanup(func() { v.Close() })
	tok := watcher.Subscribe(contract.CommandFilter, 1, func(_ mqtt.Client, m mqtt.Message) {
		kind, id, err := contract.ParseCommandTopic(m.Topic())
		if err != nil {
			return
		}
		c, err := simulator.ParseCommand(m.Topic(), m.Payload())
		if err != nil {
			return
		}
		v.Command(&contract.Command{Kind: kind, Device: id, Cmd: c.Cmd, Port: c.Port})
		observed.Add(1)
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watch commands: %v", tok.Error())
	}
	if err := v.Armed(); err != nil {
		t.Fatal(err)
	}
	return v, tracker
}

// TestScenarioLibraryOnRoles plays every scenario of configs/scenarios
// with expectations against ingest, rules and alarm on Kafka, Mosquitto
// and PostgreSQL in virtual time, as TestScenarioLibrary does against
// serve: the same components, assembled as the scale-out roles, keep the
// same promises, escalation included.
func TestScenarioLibraryOnRoles(t *testing.T) {
	files, _ := fs.Glob(configs.FS, "scenarios/*.yaml")
	ran := 0
	for _, f := range files {
		name := path.Base(f)
		sc := libraryScenario(t, name)
		if len(sc.Expect) == 0 {
			continue
		}
		ran++
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			src := captureSource(t, sc)
			var start time.Time
			if s, ok := src.(interface{ Start() time.Time }); ok {
				start = s.Start()
			}
			v := startVirtualRoles(t, start)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := &simulator.Runner{Scenario: sc, Devices: v.Processes[0].Registry.Devices(""), Source: src}
			rep, err := simulator.RunVirtual(ctx, r, v.Clock, v)
			if err != nil {
				t.Fatal(err)
			}
			var sum strings.Builder
			rep.WriteSummary(&sum)
			t.Log(sum.String())
			if !rep.OK() {
				t.Error("expectations failed")
			}
		})
	}
	if ran < 5 {
		t.Errorf("only %d scenarios with expectations in configs/scenarios", ran)
	}
}
