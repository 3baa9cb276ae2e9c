package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/firegrid/firegrid/bus"
	"github.com/firegrid/firegrid/internal/testenv"
)

// testKafka returns a Kafka bus on a fresh in-process cluster, topics
// created, with group timings short enough for tests.
func testKafka(t *testing.T) (*bus.Kafka, bus.KafkaConfig) {
	t.Helper()
	cfg := bus.DefaultKafkaConfig()
	cfg.Brokers = testenv.Kafka(t)
	cfg.Topics.Telemetry.Partitions = 4
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.SessionTimeout = time.Second
	cfg.RebalanceTimeout = 2 * time.Second
	cfg.CommitInterval = 20 * time.Millisecond
	k := newKafka(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.EnsureTopics(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.EnsureTopics(ctx); err != nil {
		t.Fatalf("second EnsureTopics must accept existing topics: %v", err)
	}
	return k, cfg
}

func newKafka(t *testing.T, cfg bus.KafkaConfig) *bus.Kafka {
	t.Helper()
	k, err := bus.NewKafka(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// collector records what a consumer handled.
type collector struct {
	mu   sync.Mutex
	recs []bus.Record
	seen map[string]int
}

func (c *collector) handle(_ context.Context, r bus.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, r)
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[string(r.Value)]++
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// consume runs a consumer until the returned stop is called (or the test
// ends).
func consume(t *testing.T, b bus.Bus, ctx context.Context, topic, group string, h bus.Handler) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, topic, group, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consume %s/%s: %v", topic, group, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func publish(t *testing.T, b bus.Bus, topic string, from, to int, key func(i int) string) {
	t.Helper()
	for i := from; i < to; i++ {
		err := b.Publish(context.Background(), bus.Record{Topic: topic, Key: []byte(key(i)), Value: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// TestKafkaOrderPerKeyAndCommit: records of one key arrive in order; a
// group that stops and starts again goes on where it was (offsets were
// committed), and a new group reads from the beginning.
func TestKafkaOrderPerKeyAndCommit(t *testing.T) {
	k, _ := testKafka(t)
	key := func(i int) string { return fmt.Sprintf("site-%d", i%7) }
	publish(t, k, bus.TopicTelemetry, 0, 200, key)

	var c collector
	stop := consume(t, k, context.Background(), bus.TopicTelemetry, "order", c.handle)
	testenv.Eventually(t, 20*time.Second, func() bool { return c.count() >= 200 }, "200 records consumed")
	stop()
	last := map[string]int{}
	for _, r := range c.recs {
		var i int
		fmt.Sscan(string(r.Value), &i)
		if prev, ok := last[string(r.Key)]; ok && i <= prev {
			t.Fatalf("key %s: %d after %d", r.Key, i, prev)
		}
		last[string(r.Key)] = i
	}

	publish(t, k, bus.TopicTelemetry, 200, 250, key)
	var again collector
	consume(t, k, context.Background(), bus.TopicTelemetry, "order", again.handle)
	testenv.Eventually(t, 20*time.Second, func() bool { return again.count() >= 50 }, "50 new records consumed")
	// Nothing more arrives: the first 200 were committed.
	time.Sleep(200 * time.Millisecond)
	if n := again.count(); n != 50 {
		t.Errorf("restarted group handled %d records, want the 50 new ones only", n)
	}
	for v, n := range again.seen {
		var i int
		fmt.Sscan(v, &i)
		if i < 200 || n != 1 {
			t.Errorf("restarted group handled %s %d times", v, n)
		}
	}
}

// TestKafkaRetryAndPoison: an error makes the bus deliver the record again
// (and blocks the partition meanwhile); ErrPoison drops it.
func TestKafkaRetryAndPoison(t *testing.T) {
	k, _ := testKafka(t)
	var mu sync.Mutex
	attempts := map[string]int{}
	var order []string
	h := func(_ context.Context, r bus.Record) error {
		mu.Lock()
		defer mu.Unlock()
		v := string(r.Value)
		attempts[v]++
		switch {
		case v == "1" && attempts[v] < 3:
			return errors.New("store unavailable")
		case v == "2":
			return fmt.Errorf("%w: cannot decode", bus.ErrPoison)
		}
		order = append(order, v)
		return nil
	}
	consume(t, k, context.Background(), bus.TopicSignals, "retry", h)
	publish(t, k, bus.TopicSignals, 0, 4, func(int) string { return "one-key" })
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	}, "three records handled")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"0", "1", "3"}) || attempts["1"] != 3 || attempts["2"] != 1 {
		t.Errorf("order %v attempts %v; want 0 1 3, record 1 tried 3 times, poison 2 once", order, attempts)
	}
}

// TestKafkaGroupSplitsPartitions: two members of one group own disjoint
// partitions that cover the topic, and each record is handled once; when
// one member stops, the other takes every partition and what the stopped
// one had not handled.
func TestKafkaGroupSplitsPartitions(t *testing.T) {
	k, cfg := testKafka(t)
	k2 := newKafka(t, cfg)
	var mu sync.Mutex
	owned := map[string][]int{}
	var a, b collector
	opts := func(name string) context.Context {
		return bus.WithConsumeOptions(context.Background(), bus.ConsumeOptions{OnAssign: func(p []int) {
			mu.Lock()
			owned[name] = p
			mu.Unlock()
		}})
	}
	stopA := consume(t, k, opts("a"), bus.TopicTelemetry, "split", a.handle)
	consume(t, k2, opts("b"), bus.TopicTelemetry, "split", b.handle)
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(owned["a"]) > 0 && len(owned["b"]) > 0 && len(owned["a"])+len(owned["b"]) == 4
	}, "both members own partitions")
	mu.Lock()
	all := append(slices.Clone(owned["a"]), owned["b"]...)
	mu.Unlock()
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3}) {
		t.Fatalf("assignments %v, want 0..3 split", owned)
	}
	key := func(i int) string { return fmt.Sprintf("site-%d", i) }
	publish(t, k, bus.TopicTelemetry, 0, 100, key)
	testenv.Eventually(t, 20*time.Second, func() bool { return a.count()+b.count() >= 100 }, "100 records")
	if a.count() == 0 || b.count() == 0 {
		t.Errorf("a handled %d, b %d: want both to share the load", a.count(), b.count())
	}
	stopA()
	testenv.Eventually(t, 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(owned["b"]) == 4
	}, "b owns every partition after a left")
	publish(t, k, bus.TopicTelemetry, 100, 200, key)
	testenv.Eventually(t, 20*time.Second, func() bool { return a.count()+b.count() >= 200 }, "200 records")
	seen := map[string]int{}
	for _, c := range []*collector{&a, &b} {
		for v, n := range c.seen {
			seen[v] += n
		}
	}
	for i := range 200 {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("record %d handled %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

// TestKafkaUrgentLatency: an alarm-path record goes from Publish to the
// handler in milliseconds, not kafka-go's default batch timeout (1 s) or
// fetch wait (10 s), even on a quiet topic and while telemetry is batched.
func TestKafkaUrgentLatency(t *testing.T) {
	k, _ := testKafka(t)
	got := make(chan time.Time, 100)
	consume(t, k, context.Background(), bus.TopicSignals, "latency", func(context.Context, bus.Record) error {
		got <- time.Now()
		return nil
	})
	// Wait until the consumer is live.
	testenv.Eventually(t, 20*time.Second, func() bool {
		publish(t, k, bus.TopicSignals, 0, 1, func(int) string { return "warmup" })
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
		if err := k.Publish(context.Background(), bus.Record{Topic: bus.TopicSignals, Key: []byte(fmt.Sprint(i)), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			worst = max(worst, at.Sub(start))
		case <-time.After(5 * time.Second):
			t.Fatal("signal not consumed within 5s")
		}
	}
	t.Logf("worst publish→handler latency of 20 signals: %v", worst)
	if worst > 250*time.Millisecond {
		t.Errorf("worst latency %v, want well under a second (batching or fetch wait on the alarm path)", worst)
	}
	start := time.Now()
	if err := k.Publish(context.Background(), bus.Record{Topic: bus.TopicTelemetry, Key: []byte("s"), Value: []byte("alarm"), Urgent: true}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("urgent telemetry publish took %v", d)
	}
}

// TestKafkaFromEnd: a new group with FromEnd skips the history.
func TestKafkaFromEnd(t *testing.T) {
	k, _ := testKafka(t)
	publish(t, k, bus.TopicIncidents, 0, 10, func(i int) string { return fmt.Sprint(i) })
	var c collector
	assigned := make(chan struct{})
	var once sync.Once
	ctx := bus.WithConsumeOptions(context.Background(), bus.ConsumeOptions{FromEnd: true,
		OnAssign: func([]int) { once.Do(func() { close(assigned) }) }})
	consume(t, k, ctx, bus.TopicIncidents, "stream", c.handle)
	<-assigned
	time.Sleep(200 * time.Millisecond) // readers positioned at the end
	publish(t, k, bus.TopicIncidents, 10, 15, func(i int) string { return fmt.Sprint(i) })
	testenv.Eventually(t, 20*time.Second, func() bool { return c.count() >= 5 }, "5 new records")
	for v := range c.seen {
		var i int
		fmt.Sscan(v, &i)
		if i < 10 {
			t.Errorf("FromEnd group handled old record %d", i)
		}
	}
}

func TestKafkaConfigValidate(t *testing.T) {
	if err := bus.DefaultKafkaConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := bus.DefaultKafkaConfig()
	c.Brokers = []string{"kafka"}
	c.Topics.Signals.Name = c.Topics.Telemetry.Name
	c.Topics.Commands.Partitions = 0
	c.MaxWait = 0
	err := c.Validate()
	for _, want := range []string{"brokers.0:", "topics.signals.name:", "topics.commands.partitions:", "max_wait:"} {
		if err == nil || !containsLine(err.Error(), want) {
			t.Errorf("error %v: want a line starting %q", err, want)
		}
	}
}

func containsLine(s, prefix string) bool {
	for _, l := range splitLines(s) {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
