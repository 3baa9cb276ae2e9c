// Package tsdb writes firegrid's time series to InfluxDB: every reading as
// a point of its device kind's measurement, every incident change as an
// event point (the schema is in the README and in ReadingPoints and
// IncidentPoint).
//
// The sink is the cold path. It consumes the bus as its own consumer group,
// keeps points in a bounded buffer, writes them in batches and retries with
// back-off while InfluxDB is slow or down. It never makes the alarm path
// wait: a full buffer drops its oldest points, and every point dropped is
// counted by reason in firegrid_sink_dropped_total.
package tsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// Config says where and how the sink writes.
type Config struct {
	// URL of InfluxDB, http://host:8086. Empty: no sink.
	URL string `yaml:"url"`
	// Org and Bucket for InfluxDB 2.x. For 1.8+ through its v2
	// compatibility API: Org empty, Bucket "database/retention-policy"
	// (or just "database" for the default policy).
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
	// Token is an API token (2.x), or "user:password" (1.8 with
	// authentication), or empty (1.8 without).
	Token string `yaml:"token"`
	// BatchSize is the most points one write carries.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a point waits for a batch to fill.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Buffer is the most points held while InfluxDB is slow or down; when
	// full, the oldest are dropped (and counted).
	Buffer int `yaml:"buffer"`
	// Timeout bounds one write request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetryInterval caps the back-off between failed writes.
	MaxRetryInterval time.Duration `yaml:"max_retry_interval"`
}

// DefaultConfig returns the defaults (no URL: no sink).
func DefaultConfig() Config {
	return Config{
		Bucket:           "firegrid",
		BatchSize:        1000,
		FlushInterval:    time.Second,
		Buffer:           100000,
		Timeout:          5 * time.Second,
		MaxRetryInterval: 5 * time.Second,
	}
}

// Enabled reports whether a URL is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks the configuration; each error starts with its key.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: want http://host:port, got %q", c.URL))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New(`bucket: want a bucket (InfluxDB 1.8: "database/retention-policy")`))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch_size: want at least 1, got %d", c.BatchSize))
	}
	if c.Buffer < c.BatchSize {
		errs = append(errs, fmt.Errorf("buffer: want at least batch_size (%d), got %d", c.BatchSize, c.Buffer))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"flush_interval", c.FlushInterval}, {"timeout", c.Timeout}, {"max_retry_interval", c.MaxRetryInterval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a duration > 0, got %s", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}

// Reasons a point is dropped.
const (
	DropBufferFull = "buffer_full" // InfluxDB was down or slow for longer than the buffer holds
	DropRejected   = "rejected"    // InfluxDB refused the batch (4xx other than 429)
	DropShutdown   = "shutdown"    // still buffered when the sink stopped
	DropUndecoded  = "undecodable" // the record held no incident
)

// Sink buffers points and writes them to InfluxDB.
type Sink struct {
	cfg    Config
	client influxdb2.Client
	write  api.WriteAPIBlocking
	log    *slog.Logger
	m      *metrics

	mu    sync.Mutex
	buf   []*write.Point // FIFO; buf[0] is the oldest
	ready chan struct{}  // signalled when a batch is full (or a Flush waits)
	// added counts every point ever buffered, gone those taken off the
	// buffer since (written, refused for good, or dropped and counted):
	// every point among the first gone has left the buffer.
	added, gone int64
}

// Options are the Sink's collaborators; both may be nil.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// New returns a sink writing to cfg.URL.
func New(cfg Config, o Options) (*Sink, error) {
	if !cfg.Enabled() {
		return nil, errors.New("tsdb: no InfluxDB url configured")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(max(1, cfg.Timeout/time.Second))).
		SetPrecision(time.Millisecond)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &Sink{cfg: cfg, client: client, write: client.WriteAPIBlocking(cfg.Org, cfg.Bucket), log: o.Logger,
		m: newMetrics(o.Registerer), ready: make(chan struct{}, 1)}, nil
}

// HandleReading buffers a reading's points and returns at once: the
// handler of the telemetry and events topics.
func (s *Sink) HandleReading(_ context.Context, r *contract.Reading) error {
	s.add(ReadingPoints(r)...)
	return nil
}

// HandleIncident buffers an incident change's point: the handler of the
// incidents topic.
func (s *Sink) HandleIncident(_ context.Context, c *contract.IncidentChange) error {
	if c.Incident == nil {
		s.m.dropped.WithLabelValues(DropUndecoded).Inc()
		return fmt.Errorf("%w: incident change without an incident", contract.ErrPoison)
	}
	s.add(IncidentPoint(c))
	return nil
}

// add appends points, dropping the oldest beyond the buffer.
func (s *Sink) add(ps ...*write.Point) {
	s.mu.Lock()
	s.buf = append(s.buf, ps...)
	s.added += int64(len(ps))
	if over := len(s.buf) - s.cfg.Buffer; over > 0 {
		clear(s.buf[:over])
		s.buf = s.buf[over:]
		s.gone += int64(over)
		s.m.dropped.WithLabelValues(DropBufferFull).Add(float64(over))
	}
	n := len(s.buf)
	s.mu.Unlock()
	s.m.buffered.Set(float64(n))
	if n >= s.cfg.BatchSize {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// Buffered returns how many points wait to be written.
func (s *Sink) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// Flush returns once every point buffered before the call has left the
// buffer: written, refused by InfluxDB for good, or dropped for space (the
// last two counted). It is the sink's checkpoint: a bus commits, and the
// journal of serve checkpoints, no further than what Flush covered, so a
// crash loses no point that InfluxDB could still take. While InfluxDB is
// down it waits until ctx is done (the buffer's limit bounds the wait).
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.added
	s.mu.Unlock()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		done := s.gone >= target
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case s.ready <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tsdb: %d points not yet written: %w", s.Buffered(), ctx.Err())
		case <-t.C:
		}
	}
}

// Run writes batches until ctx is done, then tries once more to write what
// is buffered (for at most the write timeout) and counts the rest as
// dropped.
func (s *Sink) Run(ctx context.Context) error {
	defer s.client.Close()
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	backoff := time.Duration(0)
	var retry <-chan time.Time // set while a failed write waits for its retry
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-retry:
			retry = nil
		case <-tick.C:
		case <-s.ready:
		}
		if retry != nil {
			continue // InfluxDB failed; wait for the retry
		}
		for s.Buffered() > 0 {
			err := s.flushOne(ctx)
			if err == nil {
				backoff = 0
				continue
			}
			if ctx.Err() != nil {
				break
			}
			backoff = s.nextBackoff(backoff)
			retry = time.After(backoff)
			s.log.Warn("InfluxDB write failed; retrying", "in", backoff, "buffered", s.Buffered(), "err", err)
			break
		}
	}
}

func (s *Sink) nextBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return min(100*time.Millisecond, s.cfg.MaxRetryInterval)
	}
	return min(prev*2, s.cfg.MaxRetryInterval)
}

// flushOne writes the oldest batch. A batch InfluxDB refuses for good is
// dropped; any other failure leaves it buffered.
func (s *Sink) flushOne(ctx context.Context) error {
	s.mu.Lock()
	n := min(len(s.buf), s.cfg.BatchSize)
	batch := append([]*write.Point(nil), s.buf[:n]...)
	s.mu.Unlock()
	if n == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	start := time.Now()
	err := s.write.WritePoint(wctx, batch...)
	cancel()
	s.m.writeTime.Observe(time.Since(start).Seconds())
	if err != nil && !permanent(err) {
		s.m.writeErrors.Inc()
		return err
	}
	// Written or refused for good: take the batch off the buffer. Points
	// dropped meanwhile for space were the oldest, so the batch may be
	// partly gone already.
	s.mu.Lock()
	removed := 0
	for removed < n && removed < len(s.buf) && s.buf[removed] == batch[removed] {
		removed++
	}
	if removed < n {
		// Some of the batch was pushed out while it was being written:
		// find where the buffer's head is in the batch.
		removed = 0
		for i, p := range batch {
			if len(s.buf) > 0 && s.buf[0] == p {
				removed = n - i
				break
			}
		}
	}
	clear(s.buf[:removed])
	s.buf = s.buf[removed:]
	s.gone += int64(removed)
	left := len(s.buf)
	s.mu.Unlock()
	s.m.buffered.Set(float64(left))
	if err != nil {
		s.m.writeErrors.Inc()
		s.m.dropped.WithLabelValues(DropRejected).Add(float64(n))
		s.log.Error("InfluxDB refused a batch; dropped", "points", n, "err", err)
		return nil
	}
	s.m.written.Add(float64(n))
	return nil
}

// permanent reports whether InfluxDB refused the data itself (a retry
// would fail the same way).
func permanent(err error) bool {
	var he *ihttp.Error
	if errors.As(err, &he) {
		return he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != http.StatusTooManyRequests && he.StatusCode != http.StatusNotFound &&
			he.StatusCode != http.StatusRequestTimeout && he.StatusCode != http.StatusUnauthorized && he.StatusCode != http.StatusForbidden
	}
	return false
}

func (s *Sink) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	for s.Buffered() > 0 && ctx.Err() == nil {
		if err := s.flushOne(ctx); err != nil {
			break
		}
	}
	s.mu.Lock()
	left := len(s.buf)
	s.buf = nil
	s.gone += int64(left)
	s.mu.Unlock()
	if left > 0 {
		s.m.dropped.WithLabelValues(DropShutdown).Add(float64(left))
		s.log.Warn("sink stopped with points not written", "dropped", left)
	}
	s.m.buffered.Set(0)
}

// Describe names the destination for logs (never the token).
func (s *Sink) Describe() string {
	org := s.cfg.Org
	if org == "" {
		org = "-"
	}
	return strings.TrimRight(s.cfg.URL, "/") + " org=" + org + " bucket=" + s.cfg.Bucket
}
