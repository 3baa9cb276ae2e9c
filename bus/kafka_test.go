package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/testenv"
)

// What only the Kafka bus does: latency of the alarm path, groups split
// over instances, FromEnd, checkpoints before commits, codecs.

func TestKafkaAlarmPathLatency(t *testing.T) {
	cfg := testKafkaConfig(t)
	k := newKafka(t, cfg)
	got := make(chan time.Time, 100)
	g := bus.Group{Name: "latency", Topics: []string{contract.TopicEvents}}
	run(t, k, g, func(context.Context, contract.Record) error { got <- time.Now(); return nil })
	testenv.Eventually(t, 20*time.Second, func() bool {
		if err := k.Publish(context.Background(), reading("warm", 0, contract.ChannelEvent).Record()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, "consumer live")
	for len(got) > 0 {
		<-got
	}
	var worst time.Duration
	for i := range 20 {
		time.Sleep(30 * time.Millisecond) // a quiet partition: the fetch is waiting
		start := time.Now()
		if err := k.Publish(context.Background(), reading(fmt.Sprint("H-", i), uint64(i), contract.ChannelEvent).Record()); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			worst = max(worst, at.Sub(start))
		case <-time.After(5 * time.Second):
			t.Fatal("event not consumed within 5s")
		}
	}
	t.Logf("worst publish→handler latency of 20 events: %v", worst)
	if worst > 250*time.Millisecond {
		t.Errorf("worst latency %v, want well under a second (batching or fetch wait on the alarm path)", worst)
	}
}

// TestKafkaGroupSplitsPartitions: two instances of a group share its
// partitions, each record handled by one of them, and a key's telemetry
// and events go to the same instance.
func TestKafkaGroupSplitsPartitions(t *testing.T) {
	cfg := testKafkaConfig(t)
	g := bus.Group{Name: "rules", Topics: []string{contract.TopicTelemetry, contract.TopicEvents}}
	var mu sync.Mutex
	owner := map[string]map[string]bool{} // key -> instances
	var n atomic.Int64
	var assigned [2]atomic.Int64
	for i := range 2 {
		gi := g
		gi.OnAssign = func(_ context.Context, ps []int) error { assigned[i].Store(int64(len(ps))); return nil }
		run(t, newKafka(t, cfg), gi, func(_ context.Context, r contract.Record) error {
			mu.Lock()
			if owner[r.Key] == nil {
				owner[r.Key] = map[string]bool{}
			}
			owner[r.Key][fmt.Sprint(i)] = true
			mu.Unlock()
			n.Add(1)
			return nil
		})
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return assigned[0].Load() > 0 && assigned[1].Load() > 0 }, "both instances assigned")
	p := newKafka(t, cfg)
	publishReadings(t, p, 20, 0, 3, contract.ChannelTelemetry)
	publishReadings(t, p, 20, 3, 4, contract.ChannelEvent)
	testenv.Eventually(t, 30*time.Second, func() bool { return n.Load() >= 80 }, "80 records")
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	users := map[string]bool{}
	for k, is := range owner {
		if len(is) != 1 {
			t.Errorf("%s handled by instances %v: a site's readings must meet in one", k, is)
		}
		for i := range is {
			users[i] = true
		}
	}
	if len(users) != 2 {
		t.Errorf("instances that handled records: %v, want both", users)
	}
	if n.Load() < 80 {
		t.Errorf("%d handled, want every one of 80", n.Load())
	}
}

// TestKafkaFromEnd: a new group with FromEnd skips the history.
func TestKafkaFromEnd(t *testing.T) {
	cfg := testKafkaConfig(t)
	k := newKafka(t, cfg)
	publishReadings(t, k, 1, 0, 10, contract.ChannelTelemetry)
	var s seen
	assigned := make(chan struct{})
	var once sync.Once
	run(t, k, bus.Group{Name: "view", Topics: []string{contract.TopicTelemetry}, FromEnd: true,
		OnAssign: func(context.Context, []int) error { once.Do(func() { close(assigned) }); return nil }}, s.handle)
	<-assigned
	time.Sleep(300 * time.Millisecond) // readers positioned at the end
	publishReadings(t, k, 1, 10, 15, contract.ChannelTelemetry)
	testenv.Eventually(t, 20*time.Second, func() bool { return s.n.Load() >= 5 }, "5 new records")
	for _, seqs := range s.keys() {
		for _, q := range seqs {
			if q < 10 {
				t.Errorf("FromEnd group handled old record %d", q)
			}
		}
	}
}

// TestKafkaCheckpointBeforeCommit: offsets are committed only after the
// group's checkpoint succeeded, so a consumer that could not checkpoint
// has its records delivered again to the next one.
func TestKafkaCheckpointBeforeCommit(t *testing.T) {
	cfg := testKafkaConfig(t)
	k := newKafka(t, cfg)
	var checkpoints atomic.Int64
	var s seen
	g := bus.Group{Name: "engine", Topics: []string{contract.TopicTelemetry}, CheckpointEvery: 50 * time.Millisecond,
		Checkpoint: func(context.Context) error { checkpoints.Add(1); return errors.New("snapshot store down") }}
	stop := run(t, k, g, s.handle)
	publishReadings(t, k, 4, 0, 5, contract.ChannelTelemetry)
	testenv.Eventually(t, 30*time.Second, func() bool { return s.n.Load() == 20 && checkpoints.Load() > 2 }, "20 records and failed checkpoints")
	stop()
	// The next instance: every record again, nothing was committed.
	var again seen
	g.Checkpoint = func(context.Context) error { checkpoints.Add(1); return nil }
	stop = run(t, newKafka(t, cfg), g, again.handle)
	testenv.Eventually(t, 30*time.Second, func() bool { return again.n.Load() == 20 }, "the 20 uncommitted records again")
	before := checkpoints.Load()
	testenv.Eventually(t, 10*time.Second, func() bool { return checkpoints.Load() > before+1 }, "checkpoints that pass")
	stop()
	// And once a checkpoint passed, they are committed.
	var third seen
	run(t, newKafka(t, cfg), g, third.handle)
	publishReadings(t, k, 1, 100, 101, contract.ChannelTelemetry)
	testenv.Eventually(t, 30*time.Second, func() bool { return third.n.Load() >= 1 }, "the new record")
	time.Sleep(200 * time.Millisecond)
	if n := third.n.Load(); n != 1 {
		t.Errorf("%d records after a checkpoint passed and offsets were committed, want only the 1 new one", n)
	}
}

// TestKafkaUnknownCodecIsPoison: a record written with a codec this
// firegrid does not know is skipped, and the group goes on.
func TestKafkaUnknownCodecIsPoison(t *testing.T) {
	cfg := testKafkaConfig(t)
	w, err := bus.NewKafka(cfg, map[string]bus.Codec{contract.TopicSignals: futureCodec{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Publish(context.Background(), (&contract.Signal{ID: "future", Site: "H-1"}).Record()); err != nil {
		t.Fatal(err)
	}
	k := newKafka(t, cfg)
	if err := k.Publish(context.Background(), (&contract.Signal{ID: "now", Site: "H-1"}).Record()); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	run(t, k, bus.Group{Name: "signals", Topics: []string{contract.TopicSignals}}, func(_ context.Context, r contract.Record) error {
		got <- r.Value.(*contract.Signal).ID
		return nil
	})
	select {
	case id := <-got:
		if id != "now" {
			t.Errorf("got %s", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the record after the unknown one was not handled")
	}
}

type futureCodec struct{}

func (futureCodec) Name() string                             { return "future/9" }
func (futureCodec) Append(dst []byte, _ any) ([]byte, error) { return append(dst, 0x9), nil }
func (futureCodec) Decode([]byte) (any, error)               { return nil, errors.New("no") }

func TestKafkaConfigValidate(t *testing.T) {
	if err := bus.DefaultKafkaConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := bus.DefaultKafkaConfig()
	c.Brokers = []string{"kafka"}
	c.Topics.Signals.Name = c.Topics.Telemetry.Name
	c.Topics.Commands.Partitions = 0
	c.Topics.Events.Partitions = 5
	c.MaxWait = 0
	err := c.Validate()
	for _, want := range []string{"brokers.0:", "topics.signals.name:", "topics.commands.partitions:", "topics.events.partitions:", "max_wait:"} {
		if err == nil || !containsLine(err.Error(), want) {
			t.Errorf("error %v: want a line starting %q", err, want)
		}
	}
}

func containsLine(s, prefix string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// rawRecord reads the first record of key on one of the bus's topics with
// a plain Kafka client, as another system would.
func rawRecord(t *testing.T, k *bus.Kafka, cfg bus.KafkaConfig, topic, key string, partitions int) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: k.TopicName(topic),
		Partition: bus.Partitioner(key, partitions), MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return m
}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// TestKafkaDefaultCodecs: by default every topic is written as proto/1 but
// incidents, which stays JSON that any Kafka client reads as it is.
func TestKafkaDefaultCodecs(t *testing.T) {
	cfg := testKafkaConfig(t)
	k := newKafka(t, cfg)
	at := time.Date(2026, 11, 23, 8, 0, 0, 120e6, time.UTC)
	recs := []struct {
		rec        contract.Record
		partitions int
		want       string
	}{
		{reading("H-1", 1, contract.ChannelTelemetry).Record(), cfg.Topics.Telemetry.Partitions, "proto/1"},
		{reading("H-1", 2, contract.ChannelEvent).Record(), cfg.Topics.Events.Partitions, "proto/1"},
		{(&contract.Signal{ID: "sig", Site: "H-1"}).Record(), cfg.Topics.Signals.Partitions, "proto/1"},
		{(&contract.IncidentChange{Event: "opened", At: at, Incident: &contract.Incident{ID: "INC-1", Type: "fire"}}).Record(),
			cfg.Topics.Incidents.Partitions, "json/1"},
		{(&contract.Command{Kind: contract.KindSmoke, Device: "SD-1", Cmd: "hush"}).Record(), cfg.Topics.Commands.Partitions, "proto/1"},
		{contract.NewDeadLetter(at, "fg/v1/x", []byte("x"), contract.ReasonBadTopic, "").Record(), cfg.Topics.DeadLetters.Partitions, "proto/1"},
		{(&contract.Control{ID: "c", At: at, What: contract.ControlRules}).Record(), cfg.Topics.Control.Partitions, "proto/1"},
	}
	for _, r := range recs {
		if err := k.Publish(context.Background(), r.rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		m := rawRecord(t, k, cfg, r.rec.Topic, r.rec.Key, r.partitions)
		if got, _ := header(m, "fg-codec"); got != r.want {
			t.Errorf("%s written with %q, want %q", r.rec.Topic, got, r.want)
		}
		if r.want == "json/1" {
			var c contract.IncidentChange
			if err := json.Unmarshal(m.Value, &c); err != nil || c.Incident == nil || c.Incident.ID != "INC-1" {
				t.Errorf("%s record %s: not the change as JSON (%v)", r.rec.Topic, m.Value, err)
			}
		}
	}
}

// TestKafkaUpgradeMidStream: a topic holding JSON records (with the json/1
// header, and without any header, as the first firegrid wrote them), then
// proto/1 records, is read in order, each record as it was published; by
// an instance writing the defaults, and by one told to write JSON (a
// rollback).
func TestKafkaUpgradeMidStream(t *testing.T) {
	cfg := testKafkaConfig(t)
	old, err := bus.NewKafka(cfg, bus.JSONCodecs(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var want []*contract.Reading
	for i := range 10 {
		want = append(want, reading("H-1", uint64(i), contract.ChannelTelemetry))
	}
	publish := func(b bus.Bus, rs []*contract.Reading) {
		t.Helper()
		for _, r := range rs {
			if err := b.Publish(context.Background(), r.Record()); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(old, want[:4])
	// Without a header: what a writer before codecs existed left.
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: old.TopicName(contract.TopicTelemetry),
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int { return ps[bus.Partitioner(string(m.Key), len(ps))] })}
	defer w.Close()
	for _, r := range want[4:6] {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(r.Site), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	publish(newKafka(t, cfg), want[6:])

	for _, c := range []struct {
		group  string
		codecs map[string]bus.Codec
	}{{"upgraded", nil}, {"rolled-back", bus.JSONCodecs()}} {
		t.Run(c.group, func(t *testing.T) {
			k, err := bus.NewKafka(cfg, c.codecs, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			var mu sync.Mutex
			var got []*contract.Reading
			run(t, k, bus.Group{Name: c.group, Topics: []string{contract.TopicTelemetry}}, bus.Handle(func(_ context.Context, r *contract.Reading) error {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
				return nil
			}))
			testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(want) }, "every record")
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(got, want) {
				for i := range max(len(got), len(want)) {
					if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("record %d of %d: got\n%+v\nwant\n%+v", i, len(got), got[min(i, len(got)-1)], want[min(i, len(want)-1)])
					}
				}
			}
		})
	}
}
