package assembly

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/console"
	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/journal"
)

// keeper is serve's journal in front of ingest: what a source takes is in
// the journal before ingest has it, and the journal is checkpointed once
// everything before the checkpoint has been handled and saved.
//
// Saved means: the rules' state snapshot taken after the readings were
// evaluated, their signals turned into incidents in the store (whose
// outbox carries them on), the sink's buffer written to InfluxDB (or given
// up and counted). The rule state a crash loses between checkpoints is
// recomputed from the journal: the snapshot is restored and the records
// after the checkpoint are replayed through ingest. A replayed record the
// snapshot already reflects changes nothing: its reading is not newer
// than the device's last one, so threshold and rate rules pass over it,
// and the signals it fires again carry the ids they had, which the alarm
// stage drops.
type keeper struct {
	e *env
	j *journal.Journal
	// next is ingest's Accept.
	next func(context.Context, *contract.Uplink) error
	// took is how long each part of a checkpoint took.
	took *prometheus.HistogramVec
}

func buildJournal(e *env) (*parts, error) {
	dir := filepath.Join(e.cfg.Data, "journal")
	j, err := journal.Open(dir, journal.Options{FS: e.journalFS, SegmentBytes: 16 << 20,
		Log: e.log.With("component", "journal"), Registerer: e.metrics})
	if err != nil {
		return nil, fmt.Errorf("%w (the data directory is set with --data)", err)
	}
	*e.closers = append(*e.closers, j.Close)
	k := &keeper{e: e, j: j, took: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "firegrid_checkpoint_seconds",
		Help:    "How long each part of serve's checkpoint took: waiting for the pipeline, the rules' snapshot, the sink's flush, the journal's checkpoint.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
	}, []string{"part"})}
	if e.metrics != nil {
		e.metrics.MustRegister(k.took)
	}
	e.keeper = k
	e.health = append(e.health, console.Check{Name: "journal", Err: func(context.Context) error {
		if err := j.Healthy(); err != nil {
			return fmt.Errorf("the journal cannot write, so device messages are refused until it can: %w", err)
		}
		return nil
	}})
	return &parts{
		tasks:         map[string]func(context.Context) error{"checkpoints": k.run},
		beforeSources: k.replay,
		afterSources:  k.final,
	}, nil
}

// accept keeps an uplink, then hands it to ingest: telemetry written to
// the journal, anything else (alarms, and what a field source brings)
// written and synced. An event goes on to ingest while the journal syncs
// it, and accept returns (the device gets its PUBACK) once both are done:
// an alarm reaches the console without waiting for the disk, and is
// acknowledged only once it is on the disk. Should the sync fail after
// ingest took the event, the device, given no PUBACK, sends it again, and
// the repeat changes nothing (its ids derive from what the device said).
func (k *keeper) accept(ctx context.Context, u *contract.Uplink) error {
	if u.ReceivedAt.IsZero() {
		u.ReceivedAt = k.e.clock.Now()
	}
	event := !strings.HasSuffix(u.Topic, "/"+string(contract.ChannelTelemetry))
	seq, err := k.j.Append(u, event)
	if err != nil {
		return err
	}
	defer k.j.Done(seq)
	err = k.next(ctx, u)
	if event {
		if serr := k.j.Sync(ctx, seq); serr != nil {
			return serr
		}
	}
	return err
}

// replay hands ingest what the journal holds after its checkpoint: what
// was taken before a crash and not yet saved.
func (k *keeper) replay(ctx context.Context) error {
	start := time.Now()
	n, err := k.j.Replay(func(_ journal.Seq, u *contract.Uplink) error { return k.next(ctx, u) })
	if err != nil {
		return fmt.Errorf("journal replay: %w", err)
	}
	if n > 0 {
		k.e.log.Info("device messages replayed from the journal", "messages", n, "took", time.Since(start).Round(time.Millisecond))
		// Checkpoint at once: a second crash need not replay them again.
		if err := k.checkpoint(ctx); err != nil {
			k.e.log.Warn("checkpoint after the replay failed; the next one will take it", "err", err)
		}
	}
	return nil
}

// run checkpoints every rule_engine.snapshot_every.
func (k *keeper) run(ctx context.Context) error {
	t := time.NewTicker(k.e.cfg.RuleEngine.SnapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := k.checkpoint(ctx); err != nil && ctx.Err() == nil {
				k.e.log.Warn("journal checkpoint failed; the journal keeps what it holds until one succeeds", "err", err)
			}
		}
	}
}

// final checkpoints once the sources have stopped, so that a clean stop
// leaves nothing to replay.
func (k *keeper) final(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return k.checkpoint(ctx)
}

// checkpoint saves what was handed on before it began, then moves the
// journal's checkpoint to it.
func (k *keeper) checkpoint(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	upTo := k.j.Handed()
	start := time.Now()
	part := func(name string) {
		now := time.Now()
		k.took.WithLabelValues(name).Observe(now.Sub(start).Seconds())
		start = now
	}
	// Every reading handed on is evaluated and its signals published;
	// then every such signal is an incident change in the store.
	for range 2 {
		if err := k.e.memory.Sync(ctx); err != nil {
			return fmt.Errorf("wait for the pipeline: %w", err)
		}
	}
	part("pipeline")
	if k.e.stage != nil {
		if err := k.e.stage.Checkpoint(ctx); err != nil {
			return err
		}
		part("rules")
	}
	if k.e.sink != nil {
		if err := k.e.sink.Flush(ctx); err != nil {
			return err
		}
		part("sink")
	}
	defer part("journal")
	return k.j.Checkpoint(upTo)
}
