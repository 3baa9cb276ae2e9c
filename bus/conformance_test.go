package bus_test

import (
	"context"
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

// The conformance suite: every property a stage relies on, checked
// against the in-process bus and the Kafka bus alike, so the two cannot
// differ silently.

// impl makes a fresh bus of one implementation. Buses it returns for one
// test share their state (the Kafka cluster), as two processes would.
type impl struct {
	name string
	new  func(t *testing.T) func() bus.Bus
}

func impls() []impl {
	return []impl{
		{"memory", func(t *testing.T) func() bus.Bus {
			m, err := bus.NewMemory(bus.MemoryConfig{Partitions: 4, Capacity: 64}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			// One process: every "instance" is the same bus.
			return func() bus.Bus { return m }
		}},
		{"kafka", func(t *testing.T) func() bus.Bus {
			cfg := testKafkaConfig(t)
			return func() bus.Bus { return newKafka(t, cfg) }
		}},
	}
}

func testKafkaConfig(t *testing.T) bus.KafkaConfig {
	t.Helper()
	cfg := bus.DefaultKafkaConfig()
	cfg.Brokers = testenv.Kafka(t)
	cfg.Topics.Telemetry.Partitions = 4
	cfg.Topics.Events.Partitions = 4
	// A member that stops leaves the group at once; one that is only slow
	// (the race detector on two cores) keeps its partitions.
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.SessionTimeout = 6 * time.Second
	cfg.RebalanceTimeout = 6 * time.Second
	cfg.CommitInterval = 20 * time.Millisecond
	k := newKafka(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.EnsureTopics(ctx); err != nil {
		t.Fatalf("a second EnsureTopics must accept existing topics: %v", err)
	}
	return cfg
}

// newKafka returns a Kafka bus with the default codecs (proto/1, and JSON
// for incidents): the suite runs on what the roles run.
func newKafka(t *testing.T, cfg bus.KafkaConfig) *bus.Kafka {
	t.Helper()
	k, err := bus.NewKafka(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func forEach(t *testing.T, f func(t *testing.T, newBus func() bus.Bus)) {
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) { f(t, im.new(t)) })
	}
}

// seen records what a consumer handled: per key, the sequence numbers in
// the order handled.
type seen struct {
	mu    sync.Mutex
	byKey map[string][]uint64
	n     atomic.Int64
}

func (s *seen) handle(_ context.Context, r contract.Record) error {
	rd := r.Value.(*contract.Reading)
	s.mu.Lock()
	if s.byKey == nil {
		s.byKey = map[string][]uint64{}
	}
	s.byKey[r.Key] = append(s.byKey[r.Key], rd.Seq)
	s.mu.Unlock()
	s.n.Add(1)
	return nil
}

func (s *seen) keys() map[string][]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]uint64{}
	for k, v := range s.byKey {
		out[k] = append([]uint64(nil), v...)
	}
	return out
}

func reading(site string, seq uint64, ch contract.Channel) *contract.Reading {
	return &contract.Reading{ID: fmt.Sprintf("smoke/%s/%d", site, seq), Site: site, Message: contract.Message{
		Kind: contract.KindSmoke, Device: "SD-" + site, Channel: ch, Seq: seq,
		TS: time.UnixMilli(1795420800120 + int64(seq)).UTC(), Values: map[string]float64{"temp_c": 21.5, "battery_pct": 88}}}
}

func publishReadings(t *testing.T, b bus.Bus, sites int, from, to uint64, ch contract.Channel) {
	t.Helper()
	for i := from; i < to; i++ {
		for s := range sites {
			if err := b.Publish(context.Background(), reading(fmt.Sprintf("H-%d", s), i, ch).Record()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// run consumes g until the test ends or stop is called.
func run(t *testing.T, b bus.Bus, g bus.Group, h bus.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Consume(ctx, g, h); err != nil {
			t.Errorf("consume %s: %v", g.Name, err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestConformanceOrderPerKeyEveryGroup: every group gets every record, and
// the records of a key in the order they were published.
func TestConformanceOrderPerKeyEveryGroup(t *testing.T) {
	forEach(t, func(t *testing.T, newBus func() bus.Bus) {
		b := newBus()
		const sites, per = 8, 30
		var a, c seen
		for _, g := range []struct {
			name string
			s    *seen
		}{{"rules", &a}, {"sink", &c}} {
			grp := bus.Group{Name: g.name, Topics: []string{contract.TopicTelemetry}}
			if err := b.Declare(grp); err != nil {
				t.Fatal(err)
			}
			run(t, b, grp, g.s.handle)
		}
		publishReadings(t, newBus(), sites, 0, per, contract.ChannelTelemetry)
		testenv.Eventually(t, 30*time.Second, func() bool { return a.n.Load() >= sites*per && c.n.Load() >= sites*per }, "every record in both groups")
		for _, s := range []*seen{&a, &c} {
			for k, seqs := range s.keys() {
				checkOrder(t, k, seqs, per)
			}
		}
	})
}

// checkOrder checks what at least once in order per key allows: every
// record, first seen in the order published, and a record seen twice only
// as part of a replay that goes on in order from an earlier one.
func checkOrder(t *testing.T, key string, seqs []uint64, n int) {
	t.Helper()
	next := uint64(0) // the next record never seen
	for i, q := range seqs {
		switch {
		case q == next:
			next++
		case q < next && (i == 0 || q == seqs[i-1]+1 || q <= seqs[i-1]):
			// a replay from q: it must go on q+1, q+2, ...
		default:
			t.Fatalf("%s: %v: record %d is seq %d: out of order", key, seqs, i, q)
		}
	}
	if next != uint64(n) {
		t.Errorf("%s: %d distinct records, want %d", key, next, n)
	}
}

// TestConformanceDeclaredBeforePublish: a group declared before anything
// is published gets what was published before its consumer ran.
func TestConformanceDeclaredBeforePublish(t *testing.T) {
	forEach(t, func(t *testing.T, newBus func() bus.Bus) {
		b := newBus()
		g := bus.Group{Name: "late", Topics: []string{contract.TopicTelemetry}}
		if err := b.Declare(g); err != nil {
			t.Fatal(err)
		}
		publishReadings(t, b, 3, 0, 10, contract.ChannelTelemetry)
		var s seen
		run(t, b, g, s.handle)
		testenv.Eventually(t, 30*time.Second, func() bool { return s.n.Load() == 30 }, "the 30 records published before the consumer ran")
	})
}

// TestConformanceRedeliveryAfterCrash: a record whose handler had not
// returned when its consumer stopped is delivered again to the group's
// next consumer (at least once); handlers that failed get it again.
func TestConformanceRedeliveryAfterCrash(t *testing.T) {
	forEach(t, func(t *testing.T, newBus func() bus.Bus) {
		b := newBus()
		g := bus.Group{Name: "crashy", Topics: []string{contract.TopicSignals}}
		if err := b.Declare(g); err != nil {
			t.Fatal(err)
		}
		entered := make(chan string, 10)
		stop := run(t, b, g, func(ctx context.Context, r contract.Record) error {
			entered <- r.Value.(*contract.Signal).ID
			<-ctx.Done() // the process dies in the middle of the handler
			return ctx.Err()
		})
		if err := b.Publish(context.Background(), (&contract.Signal{ID: "sig-1", Site: "H-1"}).Record()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-entered:
		case <-time.After(30 * time.Second):
			t.Fatal("the handler never saw the signal")
		}
		stop()
		// A new consumer of the group (another process on Kafka) gets it
		// again; failures in between are retried, not dropped.
		fails := 2
		got := make(chan string, 10)
		run(t, newBus(), g, func(_ context.Context, r contract.Record) error {
			if fails > 0 {
				fails--
				return errors.New("store down")
			}
			got <- r.Value.(*contract.Signal).ID
			return nil
		})
		select {
		case id := <-got:
			if id != "sig-1" {
				t.Errorf("redelivered %q", id)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the unfinished record was not delivered again")
		}
	})
}

// TestConformancePoisonIsDropped: a record the handler calls poison is
// not retried, and those after it are handled.
func TestConformancePoisonIsDropped(t *testing.T) {
	forEach(t, func(t *testing.T, newBus func() bus.Bus) {
		b := newBus()
		g := bus.Group{Name: "poison", Topics: []string{contract.TopicSignals}}
		if err := b.Declare(g); err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int64
		got := make(chan string, 10)
		run(t, b, g, func(_ context.Context, r contract.Record) error {
			calls.Add(1)
			s := r.Value.(*contract.Signal)
			if s.ID == "bad" {
				return fmt.Errorf("%w: unknown device", contract.ErrPoison)
			}
			got <- s.ID
			return nil
		})
		for _, id := range []string{"bad", "good"} {
			if err := b.Publish(context.Background(), (&contract.Signal{ID: id, Site: "H-1"}).Record()); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case id := <-got:
			if id != "good" {
				t.Fatalf("got %s", id)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the record after the poison one was not handled")
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%d handler calls, want 2 (the poison record is not retried)", n)
		}
	})
}

// TestConformanceValuesAndCoPartitionedTopics: a group of telemetry and
// events sees both, each record with its topic, and what it gets is equal
// to what was published; one key's events and telemetry reach the same
// partition.
func TestConformanceValuesAndCoPartitionedTopics(t *testing.T) {
	forEach(t, func(t *testing.T, newBus func() bus.Bus) {
		b := newBus()
		var mu sync.Mutex
		var got []contract.Record
		parts := map[string]map[int]bool{}
		g := bus.Group{Name: "both", Topics: []string{contract.TopicTelemetry, contract.TopicEvents}}
		if err := b.Declare(g); err != nil {
			t.Fatal(err)
		}
		run(t, b, g, func(ctx context.Context, r contract.Record) error {
			p, ok := bus.Partition(ctx)
			if !ok {
				t.Error("no partition in the handler's context")
			}
			mu.Lock()
			got = append(got, r)
			if parts[r.Key] == nil {
				parts[r.Key] = map[int]bool{}
			}
			parts[r.Key][p] = true
			mu.Unlock()
			return nil
		})
		want := []*contract.Reading{reading("H-7", 1, contract.ChannelTelemetry), reading("H-7", 2, contract.ChannelEvent)}
		want[1].Event = "alarm"
		for _, w := range want {
			if err := b.Publish(context.Background(), w.Record()); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 }, "both records")
		mu.Lock()
		defer mu.Unlock()
		byTopic := map[string]*contract.Reading{}
		for _, r := range got {
			byTopic[r.Topic] = r.Value.(*contract.Reading)
		}
		if !reflect.DeepEqual(byTopic[contract.TopicTelemetry], want[0]) || !reflect.DeepEqual(byTopic[contract.TopicEvents], want[1]) {
			t.Errorf("got %+v\nwant %+v and %+v", byTopic, want[0], want[1])
		}
		if len(parts["H-7"]) != 1 {
			t.Errorf("H-7's records came from partitions %v: events and telemetry are not co-partitioned", parts["H-7"])
		}
	})
}

// TestPartitionerIsKafkasMurmur2: firegrid partitions keys as Kafka's own
// clients do (kafka-go's Murmur2Balancer is the Java client's hash), so
// another producer's records of a site land where firegrid's do.
func TestPartitionerIsKafkasMurmur2(t *testing.T) {
	ref := kafka.Murmur2Balancer{Consistent: true}
	for n := 1; n <= 16; n++ {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for i := range 500 {
			key := fmt.Sprintf("H-%04d%s", i, strings.Repeat("x", i%7))
			if got, want := bus.Partitioner(key, n), ref.Balance(kafka.Message{Key: []byte(key)}, parts...); got != want {
				t.Fatalf("Partitioner(%q, %d) = %d, kafka-go says %d", key, n, got, want)
			}
		}
	}
	if testing.AllocsPerRun(100, func() { bus.Partitioner("H-0108", 12) }) != 0 {
		t.Error("partitioning a key allocates")
	}
}
