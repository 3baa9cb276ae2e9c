package bus

import (
	"context"
	"errors"
	"fmt"
	"github.com/firegrid/firegrid/contract"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaTopic names one Kafka topic and its partition count.
type KafkaTopic struct {
	Name       string `yaml:"name"`
	Partitions int    `yaml:"partitions"`
}

// KafkaTopics maps firegrid's topics to Kafka topics. Events must have
// as many partitions as telemetry: the two are co-partitioned by site, so
// that a site's events and readings meet in one rules instance.
type KafkaTopics struct {
	Telemetry   KafkaTopic `yaml:"telemetry"`
	Events      KafkaTopic `yaml:"events"`
	Signals     KafkaTopic `yaml:"signals"`
	Incidents   KafkaTopic `yaml:"incidents"`
	Commands    KafkaTopic `yaml:"commands"`
	DeadLetters KafkaTopic `yaml:"deadletters"`
	Control     KafkaTopic `yaml:"control"`
	Hazards     KafkaTopic `yaml:"hazards"`
}

// KafkaConfig configures the Kafka bus of the scale-out roles.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string    `yaml:"brokers"`
	Topics  KafkaTopics `yaml:"topics"`
	// GroupPrefix is put in front of every consumer group name, so that
	// two firegrid installations can share a cluster.
	GroupPrefix string `yaml:"group_prefix"`
	// CreateTopics creates missing topics at start with the configured
	// partitions and ReplicationFactor (idempotent; off when the cluster's
	// topics are managed elsewhere).
	CreateTopics      bool `yaml:"create_topics"`
	ReplicationFactor int  `yaml:"replication_factor"`
	// UrgentBatchTimeout bounds how long an alarm-path record (signals,
	// commands, incidents, dead letters, and urgent telemetry: device
	// events) waits for a batch; such records are sent one per request.
	UrgentBatchTimeout time.Duration `yaml:"urgent_batch_timeout"`
	// TelemetryBatchTimeout and TelemetryBatchSize batch bulk readings.
	// Ingest acknowledges an MQTT message once Publish returns, so the
	// timeout is also the most a periodic reading's acknowledgement waits.
	TelemetryBatchTimeout time.Duration `yaml:"telemetry_batch_timeout"`
	TelemetryBatchSize    int           `yaml:"telemetry_batch_size"`
	// MaxWait is how long a fetch waits for new records when there are
	// none; records that arrive meanwhile are returned at once. kafka-go
	// reads the answer with a deadline of MaxWait and asks the broker to
	// wait three quarters of it, so a short MaxWait on a busy machine
	// makes answers late, and each late one costs a new connection (a
	// dial, versions, metadata, offsets): at 2 ms a run of the scenario
	// library spent a quarter of its CPU reconnecting. A long one delays
	// a consumer's stop and its rebalance by as much (kafka-go's default,
	// 10 s).
	MaxWait time.Duration `yaml:"max_wait"`
	// CommitInterval: handled offsets are committed at this interval and
	// when a consumer stops; a crash redelivers at most this much, which
	// idempotent handlers absorb.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// HeartbeatInterval and SessionTimeout are the consumer groups'; a
	// member that stops heartbeating for SessionTimeout loses its
	// partitions to the others.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long the group waits for members to rejoin.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
}

// DefaultKafkaConfig returns the defaults: topics named as firegrid's, with
// "firegrid." in front; alarm-path records sent at once; telemetry batched
// for 5 ms.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{
		Brokers: []string{"127.0.0.1:9092"},
		Topics: KafkaTopics{
			Telemetry:   KafkaTopic{Name: "firegrid.telemetry", Partitions: 12},
			Events:      KafkaTopic{Name: "firegrid.events", Partitions: 12},
			Signals:     KafkaTopic{Name: "firegrid.signals", Partitions: 6},
			Incidents:   KafkaTopic{Name: "firegrid.incidents", Partitions: 6},
			Commands:    KafkaTopic{Name: "firegrid.commands", Partitions: 3},
			DeadLetters: KafkaTopic{Name: "firegrid.deadletters", Partitions: 1},
			Control:     KafkaTopic{Name: "firegrid.control", Partitions: 1},
			Hazards:     KafkaTopic{Name: "firegrid.hazards", Partitions: 3},
		},
		GroupPrefix:           "firegrid-",
		CreateTopics:          true,
		ReplicationFactor:     1,
		UrgentBatchTimeout:    time.Millisecond,
		TelemetryBatchTimeout: 5 * time.Millisecond,
		TelemetryBatchSize:    500,
		MaxWait:               250 * time.Millisecond,
		CommitInterval:        100 * time.Millisecond,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
	}
}

// topics lists firegrid's topic names with their configuration.
func (c KafkaConfig) topics() map[string]KafkaTopic {
	return map[string]KafkaTopic{
		contract.TopicTelemetry:   c.Topics.Telemetry,
		contract.TopicEvents:      c.Topics.Events,
		contract.TopicSignals:     c.Topics.Signals,
		contract.TopicIncidents:   c.Topics.Incidents,
		contract.TopicCommands:    c.Topics.Commands,
		contract.TopicDeadLetters: c.Topics.DeadLetters,
		contract.TopicControl:     c.Topics.Control,
		contract.TopicHazards:     c.Topics.Hazards,
	}
}

// Validate checks the configuration; each error starts with its key.
func (c KafkaConfig) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: want at least one host:port"))
	}
	for i, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("brokers.%d: want host:port, got %q", i, b))
		}
	}
	names := map[string]string{}
	for _, key := range contract.Topics {
		t := c.topics()[key]
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("topics.%s.name: want a Kafka topic name", key))
		} else if other, dup := names[t.Name]; dup {
			errs = append(errs, fmt.Errorf("topics.%s.name: %q is also the %s topic", key, t.Name, other))
		}
		names[t.Name] = key
		if t.Partitions < 1 || t.Partitions > 10000 {
			errs = append(errs, fmt.Errorf("topics.%s.partitions: want 1..10000, got %d", key, t.Partitions))
		}
	}
	if c.Topics.Events.Partitions != c.Topics.Telemetry.Partitions {
		errs = append(errs, fmt.Errorf("topics.events.partitions: want as many as topics.telemetry.partitions (%d), got %d: the two are co-partitioned by site",
			c.Topics.Telemetry.Partitions, c.Topics.Events.Partitions))
	}
	if c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("replication_factor: want at least 1, got %d", c.ReplicationFactor))
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"urgent_batch_timeout", c.UrgentBatchTimeout}, {"telemetry_batch_timeout", c.TelemetryBatchTimeout},
		{"max_wait", c.MaxWait}, {"commit_interval", c.CommitInterval}, {"heartbeat_interval", c.HeartbeatInterval},
		{"session_timeout", c.SessionTimeout}, {"rebalance_timeout", c.RebalanceTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a duration > 0, got %s", p.key, p.d))
		}
	}
	if c.TelemetryBatchSize < 1 {
		errs = append(errs, fmt.Errorf("telemetry_batch_size: want at least 1, got %d", c.TelemetryBatchSize))
	}
	if c.HeartbeatInterval > 0 && c.SessionTimeout > 0 && c.HeartbeatInterval*3 > c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat_interval: want at most a third of session_timeout (%s), got %s", c.SessionTimeout, c.HeartbeatInterval))
	}
	return errors.Join(errs...)
}

// Kafka is the bus of the scale-out roles, on segmentio/kafka-go. Producers
// wait for every in-sync replica (acks=all) and partition by key with
// Kafka's usual murmur2 hash. Values are encoded with the topic's codec,
// and decoded with the codec each record names, whichever this bus writes.
// Each consumer group consumes its partitions in parallel, one goroutine
// per partition it owns, and commits an offset only once the handler has
// returned for the record (and for every record before it in the
// partition), and once the group's checkpoint, if any, has passed.
type Kafka struct {
	cfg    KafkaConfig
	log    *slog.Logger
	codecs map[string]Codec            // by firegrid topic, for writing
	read   map[string]map[string]Codec // by firegrid topic and codec name, for reading
	names  map[string]string           // Kafka topic name -> firegrid topic

	mu      sync.Mutex
	writers map[string]*kafka.Writer // by firegrid topic
	closed  bool
	tracker *Tracker
}

// NewKafka returns a Kafka bus writing with DefaultCodecs, each replaced
// by the codec codecs gives for its topic, if any; it connects lazily.
// Whatever it writes, it reads every codec it knows (json/1, proto/1 and
// those given), so that a topic may hold records of several: written
// before an upgrade, or by an instance configured otherwise. Call
// EnsureTopics first when CreateTopics is set.
func NewKafka(cfg KafkaConfig, codecs map[string]Codec, log *slog.Logger) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka bus: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Kafka{cfg: cfg, log: log, codecs: DefaultCodecs(), read: map[string]map[string]Codec{}, names: map[string]string{},
		writers: map[string]*kafka.Writer{}}
	for t, c := range codecs {
		k.codecs[t] = c
	}
	for _, known := range []map[string]Codec{JSONCodecs(), ProtoCodecs(), k.codecs} {
		for t, c := range known {
			if k.read[t] == nil {
				k.read[t] = map[string]Codec{}
			}
			k.read[t][c.Name()] = c
		}
	}
	for t, kt := range cfg.topics() {
		k.names[kt.Name] = t
	}
	return k, nil
}

// codecFor returns the codec that reads records of topic written with the
// codec named name; a record without a name is JSON.
func (k *Kafka) codecFor(topic, name string) (Codec, error) {
	if name == "" {
		name = JSONCodecName
	}
	if c := k.read[topic][name]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("%w: %s record written with codec %q, which this firegrid does not know", contract.ErrPoison, topic, name)
}

// Config returns the bus's configuration.
func (k *Kafka) Config() KafkaConfig { return k.cfg }

// TopicName returns the Kafka topic of one of firegrid's topics.
func (k *Kafka) TopicName(topic string) string { return k.topic(topic).Name }

func (k *Kafka) topic(topic string) KafkaTopic {
	if t, ok := k.cfg.topics()[topic]; ok {
		return t
	}
	return KafkaTopic{Name: topic, Partitions: 1}
}

// EnsureTopics creates the configured topics that do not exist yet. A topic
// that exists is left as it is.
func (k *Kafka) EnsureTopics(ctx context.Context) error {
	client := &kafka.Client{Addr: kafka.TCP(k.cfg.Brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range k.cfg.topics() {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions,
			ReplicationFactor: k.cfg.ReplicationFactor})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics on %v: %w", k.cfg.Brokers, err)
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// balancer partitions by key as Partitioner does.
var balancer = kafka.BalancerFunc(func(m kafka.Message, partitions ...int) int {
	return partitions[Partitioner(string(m.Key), len(partitions))]
})

// writer returns the producer of a topic: telemetry is batched, every
// other topic (the alarm path) is sent at once.
func (k *Kafka) writer(topic string) (*kafka.Writer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	if w := k.writers[topic]; w != nil {
		return w, nil
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.cfg.Brokers...),
		Topic:        k.topic(topic).Name,
		Balancer:     balancer,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  5,
		BatchSize:    1,
		BatchTimeout: k.cfg.UrgentBatchTimeout,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
	}
	if topic == contract.TopicTelemetry {
		w.BatchSize, w.BatchTimeout = k.cfg.TelemetryBatchSize, k.cfg.TelemetryBatchTimeout
	}
	k.writers[topic] = w
	return w, nil
}

// Publish encodes the records and returns once every in-sync replica has
// them.
func (k *Kafka) Publish(ctx context.Context, recs ...contract.Record) error {
	type batch struct {
		w    *kafka.Writer
		msgs []kafka.Message
	}
	var batches []*batch
	byTopic := map[string]*batch{}
	for _, r := range recs {
		c := k.codecs[r.Topic]
		if c == nil {
			return fmt.Errorf("kafka: no codec for topic %q", r.Topic)
		}
		val, err := c.Append(nil, r.Value)
		if err != nil {
			return fmt.Errorf("kafka: encode %s record: %w", r.Topic, err)
		}
		b := byTopic[r.Topic]
		if b == nil {
			w, err := k.writer(r.Topic)
			if err != nil {
				return err
			}
			b = &batch{w: w}
			byTopic[r.Topic] = b
			batches = append(batches, b)
		}
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		b.msgs = append(b.msgs, kafka.Message{Key: []byte(r.Key), Value: val, Time: r.Time,
			Headers: []kafka.Header{{Key: codecHeader, Value: []byte(c.Name())}}})
	}
	for _, b := range batches {
		if err := b.w.WriteMessages(ctx, b.msgs...); err != nil {
			return fmt.Errorf("kafka: publish to %s: %w", b.w.Topic, err)
		}
		k.tracker.addPublished(k.names[b.w.Topic], len(b.msgs))
	}
	return nil
}

// Declare does nothing: a Kafka consumer group reads what its topics
// hold, from its committed offset or from the beginning.
func (k *Kafka) Declare(Group) error { return nil }

// Consume runs consumer group g (with the configured prefix) until ctx is
// done. Every partition the group gives this member is consumed by its own
// goroutine, in order; a rebalance stops them, checkpoints and commits what
// was handled, and starts the new assignment.
func (k *Kafka) Consume(ctx context.Context, g Group, h Handler) error {
	start := kafka.FirstOffset
	if g.FromEnd {
		start = kafka.LastOffset
	}
	topics := make([]string, len(g.Topics))
	for i, t := range g.Topics {
		topics[i] = k.topic(t).Name
	}
	groupID := k.cfg.GroupPrefix + g.Name
	log := k.log.With("group", groupID)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                groupID,
		Brokers:           k.cfg.Brokers,
		Topics:            topics,
		HeartbeatInterval: k.cfg.HeartbeatInterval,
		SessionTimeout:    k.cfg.SessionTimeout,
		RebalanceTimeout:  k.cfg.RebalanceTimeout,
		JoinGroupBackoff:  200 * time.Millisecond,
		StartOffset:       start,
		// A member gets the same partitions of co-partitioned topics
		// (telemetry and events).
		GroupBalancers: []kafka.GroupBalancer{coPartitioned{}},
		ErrorLogger:    kafka.LoggerFunc(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("kafka: consumer group %s: %w", groupID, err)
	}
	defer cg.Close()
	k.tracker.consuming(g.Name, g.Topics)
	backoff := 100 * time.Millisecond
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn("consumer group: no generation; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		seen := map[int]bool{}
		var ids []int
		for _, t := range topics {
			for _, pa := range gen.Assignments[t] {
				if !seen[pa.ID] {
					seen[pa.ID] = true
					ids = append(ids, pa.ID)
				}
			}
		}
		slices.Sort(ids)
		log.Info("partitions assigned", "generation", gen.ID, "topics", topics, "partitions", ids)
		if g.OnAssign != nil {
			if err := g.OnAssign(ctx, ids); err != nil {
				// Nothing of this assignment is handled: leave the group
				// and join again, so the partitions go to a member that can.
				log.Error("assignment refused; rejoining", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff):
				}
				continue
			}
		}
		k.runGeneration(ctx, gen, g, topics, h, log)
	}
}

// coPartitioned is Kafka's range assignment over partitions sorted by
// number: kafka-go's RangeGroupBalancer gives a member the same partitions
// of every topic only when the broker lists each topic's partitions in
// order, which not every broker does.
type coPartitioned struct{}

func (coPartitioned) ProtocolName() string { return kafka.RangeGroupBalancer{}.ProtocolName() }

func (coPartitioned) UserData() ([]byte, error) { return nil, nil }

func (coPartitioned) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	sorted := slices.Clone(partitions)
	slices.SortFunc(sorted, func(a, b kafka.Partition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.ID - b.ID
	})
	return kafka.RangeGroupBalancer{}.AssignGroups(members, sorted)
}

// runGeneration starts one goroutine per assigned partition and a
// committer; kafka-go ends the generation (cancelling their context) on a
// rebalance, and waits for them before joining the next one.
func (k *Kafka) runGeneration(ctx context.Context, gen *kafka.Generation, g Group, topics []string, h Handler, log *slog.Logger) {
	c := &committer{gen: gen, group: g, handled: map[string]map[int]int64{}, committed: map[string]map[int]int64{}, log: log}
	var parts sync.WaitGroup
	for _, t := range topics {
		for _, pa := range gen.Assignments[t] {
			parts.Add(1)
			gen.Start(func(gctx context.Context) {
				defer parts.Done()
				// Stop with the caller's context too.
				pctx, cancel := context.WithCancel(gctx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				k.consumePartition(pctx, t, pa, g.Name, h, c, log)
			})
		}
	}
	every := k.cfg.CommitInterval
	if g.Checkpoint != nil && g.CheckpointEvery > 0 {
		every = g.CheckpointEvery
	}
	gen.Start(func(gctx context.Context) {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
			case <-ctx.Done():
			case <-t.C:
				c.commit(gctx)
				continue
			}
			// The partitions stop first, so that the last commit covers
			// everything they handled.
			parts.Wait()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			c.commit(fctx)
			cancel()
			return
		}
	})
}

func (k *Kafka) consumePartition(ctx context.Context, topic string, pa kafka.PartitionAssignment, group string, h Handler, c *committer, log *slog.Logger) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   k.cfg.Brokers,
		Topic:     topic,
		Partition: pa.ID,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		MaxWait:   k.cfg.MaxWait,
		// The reader's own back-off after an error.
		ReadBackoffMin: 10 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafka.LoggerFunc(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		log.Error("set offset", "topic", topic, "partition", pa.ID, "offset", pa.Offset, "err", err)
		return
	}
	name := k.names[topic]
	hctx := context.WithValue(ctx, partitionKey{}, pa.ID)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetch failed", "topic", topic, "partition", pa.ID, "err", err)
			}
			return
		}
		rec := contract.Record{Topic: name, Key: string(m.Key), Time: m.Time}
		codec := ""
		for _, hd := range m.Headers {
			if hd.Key == codecHeader {
				codec = string(hd.Value)
			}
		}
		dec, err := k.codecFor(name, codec)
		if err == nil {
			rec.Value, err = dec.Decode(m.Value)
		}
		if err != nil {
			// Never handled: count it off as a poison record.
			log.Warn("dropping a record that does not decode", "topic", topic, "partition", pa.ID, "offset", m.Offset, "err", err)
		} else if !deliver(hctx, log, group, h, rec) {
			return // stopped before the handler took it: not committed
		}
		c.mark(topic, pa.ID, m.Offset+1)
		k.tracker.addHandled(group, name)
	}
}

// committer commits the next offset to read of every partition whose
// records were handled, after the group's checkpoint.
type committer struct {
	gen   *kafka.Generation
	group Group
	log   *slog.Logger

	mu        sync.Mutex
	handled   map[string]map[int]int64
	committed map[string]map[int]int64
}

func (c *committer) mark(topic string, partition int, next int64) {
	c.mu.Lock()
	if c.handled[topic] == nil {
		c.handled[topic] = map[int]int64{}
	}
	c.handled[topic][partition] = next
	c.mu.Unlock()
}

func (c *committer) commit(ctx context.Context) {
	// What was handled before the checkpoint starts is what it covers.
	c.mu.Lock()
	offsets := map[string]map[int]int64{}
	for t, ps := range c.handled {
		for p, o := range ps {
			if c.committed[t][p] != o {
				if offsets[t] == nil {
					offsets[t] = map[int]int64{}
				}
				offsets[t][p] = o
			}
		}
	}
	c.mu.Unlock()
	if c.group.Checkpoint != nil {
		if err := c.group.Checkpoint(ctx); err != nil {
			c.log.Warn("checkpoint failed; offsets not committed", "err", err)
			return
		}
	}
	if len(offsets) == 0 {
		return
	}
	if err := c.gen.CommitOffsets(offsets); err != nil {
		// Not fatal: the records are handled again by whoever owns the
		// partition next, and handlers are idempotent.
		c.log.Warn("offset commit failed", "offsets", fmt.Sprint(offsets), "err", err)
		return
	}
	c.mu.Lock()
	for t, ps := range offsets {
		if c.committed[t] == nil {
			c.committed[t] = map[int]int64{}
		}
		for p, o := range ps {
			c.committed[t][p] = o
		}
	}
	c.mu.Unlock()
}

// Close flushes and closes the producers.
func (k *Kafka) Close() error {
	k.mu.Lock()
	k.closed = true
	ws := k.writers
	k.writers = map[string]*kafka.Writer{}
	k.mu.Unlock()
	var errs []error
	for name, w := range ws {
		if err := w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("kafka: close writer %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// String describes the bus for logs.
func (k *Kafka) String() string {
	return "kafka" + strconv.Quote(fmt.Sprint(k.cfg.Brokers))
}

// Tracker counts what the Kafka buses of one process published and what
// their consumer groups handled, so that a test or a virtual-time run can
// tell when the pipeline has finished reacting to what it was given (as
// Memory.Idle does in process). Every bus of the process shares one.
type Tracker struct {
	mu        sync.Mutex
	published map[string]int64            // by firegrid topic
	handled   map[string]map[string]int64 // group -> topic -> records handled
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{published: map[string]int64{}, handled: map[string]map[string]int64{}}
}

func (t *Tracker) addPublished(topic string, n int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.published[topic] += int64(n)
	t.mu.Unlock()
}

func (t *Tracker) consuming(group string, topics []string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.handled[group] == nil {
		t.handled[group] = map[string]int64{}
	}
	for _, topic := range topics {
		t.handled[group][topic] += 0
	}
	t.mu.Unlock()
}

func (t *Tracker) addHandled(group, topic string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.handled[group][topic]++
	t.mu.Unlock()
}

// Handled returns how many records of topic group has handled.
func (t *Tracker) Handled(group, topic string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.handled[group][topic]
}

// Idle reports whether every group has handled every record published to
// its topics since it started consuming.
func (t *Tracker) Idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, topics := range t.handled {
		for topic, n := range topics {
			if n < t.published[topic] {
				return false
			}
		}
	}
	return true
}

// Pending describes the groups that have not handled everything
// published to their topics, for a message that says what a run waits
// for.
func (t *Tracker) Pending() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for g, topics := range t.handled {
		for topic, n := range topics {
			if n < t.published[topic] {
				parts = append(parts, fmt.Sprintf("%s: %d of %d %s", g, n, t.published[topic], topic))
			}
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// Track makes the bus count into t.
func (k *Kafka) Track(t *Tracker) { k.tracker = t }
