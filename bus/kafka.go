package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaTopic names one Kafka topic and its partition count.
type KafkaTopic struct {
	Name       string `yaml:"name"`
	Partitions int    `yaml:"partitions"`
}

// KafkaTopics maps firegrid's topics to Kafka topics.
type KafkaTopics struct {
	Telemetry   KafkaTopic `yaml:"telemetry"`
	Signals     KafkaTopic `yaml:"signals"`
	Incidents   KafkaTopic `yaml:"incidents"`
	Commands    KafkaTopic `yaml:"commands"`
	DeadLetters KafkaTopic `yaml:"deadletters"`
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
	// MaxWait is how long a fetch waits for new records (kafka-go's
	// default, 10 s, would be the alarm path's latency floor on a quiet
	// partition after a rebalance).
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
			Signals:     KafkaTopic{Name: "firegrid.signals", Partitions: 6},
			Incidents:   KafkaTopic{Name: "firegrid.incidents", Partitions: 6},
			Commands:    KafkaTopic{Name: "firegrid.commands", Partitions: 3},
			DeadLetters: KafkaTopic{Name: "firegrid.deadletters", Partitions: 1},
		},
		GroupPrefix:           "firegrid-",
		CreateTopics:          true,
		ReplicationFactor:     1,
		UrgentBatchTimeout:    time.Millisecond,
		TelemetryBatchTimeout: 5 * time.Millisecond,
		TelemetryBatchSize:    500,
		MaxWait:               20 * time.Millisecond,
		CommitInterval:        100 * time.Millisecond,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
	}
}

// topics lists firegrid's topic names with their configuration.
func (c KafkaConfig) topics() map[string]KafkaTopic {
	return map[string]KafkaTopic{
		TopicTelemetry:   c.Topics.Telemetry,
		TopicSignals:     c.Topics.Signals,
		TopicIncidents:   c.Topics.Incidents,
		TopicCommands:    c.Topics.Commands,
		TopicDeadLetters: c.Topics.DeadLetters,
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
	for _, key := range []string{TopicTelemetry, TopicSignals, TopicIncidents, TopicCommands, TopicDeadLetters} {
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
// wait for every in-sync replica (acks=all). Each consumer group consumes
// its topic's partitions in parallel, one goroutine per partition it owns,
// and commits an offset only once the handler has returned for the record
// (and for every record before it in the partition).
type Kafka struct {
	cfg KafkaConfig
	log *slog.Logger

	mu      sync.Mutex
	writers map[string]*kafka.Writer // by Kafka topic name, then +"!" for urgent
	closed  bool
}

// NewKafka returns a Kafka bus; it connects lazily. Call EnsureTopics first
// when CreateTopics is set.
func NewKafka(cfg KafkaConfig, log *slog.Logger) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka bus: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Kafka{cfg: cfg, log: log, writers: map[string]*kafka.Writer{}}, nil
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

// writer returns the producer for a topic; urgent ones send each record at
// once.
func (k *Kafka) writer(topic string, urgent bool) (*kafka.Writer, error) {
	t := k.topic(topic)
	bulk := topic == TopicTelemetry && !urgent
	key := t.Name
	if !bulk {
		key += "!"
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	if w := k.writers[key]; w != nil {
		return w, nil
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.cfg.Brokers...),
		Topic:        t.Name,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  5,
		BatchSize:    1,
		BatchTimeout: k.cfg.UrgentBatchTimeout,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
	}
	if bulk {
		w.BatchSize, w.BatchTimeout = k.cfg.TelemetryBatchSize, k.cfg.TelemetryBatchTimeout
	}
	k.writers[key] = w
	return w, nil
}

// PartitionFor returns the partition a key goes to on a topic of n
// partitions: the producers' balancer, so that a consumer can tell which
// keys it owns.
func PartitionFor(key []byte, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: key}, parts...)
}

// Publish sends the records and returns once every in-sync replica has
// them.
func (k *Kafka) Publish(ctx context.Context, recs ...Record) error {
	type batch struct {
		w    *kafka.Writer
		msgs []kafka.Message
	}
	var batches []*batch
	byWriter := map[*kafka.Writer]*batch{}
	for _, r := range recs {
		w, err := k.writer(r.Topic, r.Urgent)
		if err != nil {
			return err
		}
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		b := byWriter[w]
		if b == nil {
			b = &batch{w: w}
			byWriter[w] = b
			batches = append(batches, b)
		}
		b.msgs = append(b.msgs, kafka.Message{Key: r.Key, Value: r.Value, Time: r.Time})
	}
	for _, b := range batches {
		if err := b.w.WriteMessages(ctx, b.msgs...); err != nil {
			return fmt.Errorf("kafka: publish to %s: %w", b.w.Topic, err)
		}
	}
	return nil
}

// Consume runs consumer group group (with the configured prefix) on topic
// until ctx is done. Every partition the group gives this member is
// consumed by its own goroutine, in order; a rebalance stops them, commits
// what was handled, and starts the new assignment.
func (k *Kafka) Consume(ctx context.Context, topic, group string, h Handler) error {
	t := k.topic(topic)
	opts := consumeOptions(ctx)
	start := kafka.FirstOffset
	if opts.FromEnd {
		start = kafka.LastOffset
	}
	groupID := k.cfg.GroupPrefix + group
	log := k.log.With("topic", t.Name, "group", groupID)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                groupID,
		Brokers:           k.cfg.Brokers,
		Topics:            []string{t.Name},
		HeartbeatInterval: k.cfg.HeartbeatInterval,
		SessionTimeout:    k.cfg.SessionTimeout,
		RebalanceTimeout:  k.cfg.RebalanceTimeout,
		JoinGroupBackoff:  200 * time.Millisecond,
		StartOffset:       start,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { log.Debug(fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("kafka: consumer group %s: %w", groupID, err)
	}
	defer cg.Close()
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
		assigned := gen.Assignments[t.Name]
		ids := make([]int, 0, len(assigned))
		for _, pa := range assigned {
			ids = append(ids, pa.ID)
		}
		log.Info("partitions assigned", "generation", gen.ID, "partitions", ids)
		if opts.OnAssign != nil {
			opts.OnAssign(ids)
		}
		k.runGeneration(ctx, gen, t.Name, assigned, h, log)
	}
}

// runGeneration starts one goroutine per assigned partition and a
// committer; kafka-go ends the generation (cancelling their context) on a
// rebalance, and waits for them before joining the next one.
func (k *Kafka) runGeneration(ctx context.Context, gen *kafka.Generation, topic string, assigned []kafka.PartitionAssignment,
	h Handler, log *slog.Logger) {
	c := &committer{gen: gen, topic: topic, handled: map[int]int64{}, committed: map[int]int64{}, log: log}
	for _, pa := range assigned {
		gen.Start(func(gctx context.Context) {
			// Stop with the caller's context too.
			pctx, cancel := context.WithCancel(gctx)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			k.consumePartition(pctx, topic, pa, h, c, log)
		})
	}
	gen.Start(func(gctx context.Context) {
		t := time.NewTicker(k.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				c.commit()
				return
			case <-ctx.Done():
				c.commit()
				return
			case <-t.C:
				c.commit()
			}
		}
	})
}

func (k *Kafka) consumePartition(ctx context.Context, topic string, pa kafka.PartitionAssignment, h Handler, c *committer, log *slog.Logger) {
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
		log.Error("set offset", "partition", pa.ID, "offset", pa.Offset, "err", err)
		return
	}
	hctx := context.WithValue(ctx, partitionKey{}, pa.ID)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetch failed", "partition", pa.ID, "err", err)
			}
			return
		}
		rec := Record{Topic: topic, Key: m.Key, Value: m.Value, Time: m.Time}
		if !deliver(hctx, log, topic, c.gen.GroupID, h, rec) {
			return // stopped before the handler took it: not committed
		}
		c.mark(pa.ID, m.Offset+1)
	}
}

// committer commits the next offset to read of every partition whose
// records were handled.
type committer struct {
	gen   *kafka.Generation
	topic string
	log   *slog.Logger

	mu        sync.Mutex
	handled   map[int]int64
	committed map[int]int64
}

func (c *committer) mark(partition int, next int64) {
	c.mu.Lock()
	c.handled[partition] = next
	c.mu.Unlock()
}

func (c *committer) commit() {
	c.mu.Lock()
	offsets := map[int]int64{}
	for p, o := range c.handled {
		if c.committed[p] != o {
			offsets[p] = o
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	if err := c.gen.CommitOffsets(map[string]map[int]int64{c.topic: offsets}); err != nil {
		// Not fatal: the records are handled again by whoever owns the
		// partition next, and handlers are idempotent.
		c.log.Warn("offset commit failed", "offsets", fmt.Sprint(offsets), "err", err)
		return
	}
	c.mu.Lock()
	for p, o := range offsets {
		c.committed[p] = o
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
