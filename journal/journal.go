// Package journal is the on-disk log of raw uplinks that `firegrid serve`
// keeps in front of ingest: every device message the embedded broker
// acknowledges is in it first, written to the file (telemetry) or written
// and synced to the disk (events: alarms), so a power cut, an out-of-memory
// kill or a SIGKILL loses nothing a device was told was taken. At start the
// records after the last checkpoint are replayed through ingest; ids are
// derived from what the device said, so a replay changes nothing that
// already happened. A checkpoint is taken once everything before it has
// been handled by every consumer; segments wholly before it are removed, so
// the log and the replay stay small.
//
// Syncs are shared (group commit): concurrent events wait for one fsync
// that covers them all. The journal reaches the disk only through the FS
// seam, so that a test can see that a sync comes before an acknowledgement
// and can make the disk fail.
package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
)

// FS is the file system the journal writes through: the operating
// system's (OS), or a test's.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string, perm os.FileMode) error
	WriteFile(name string, data []byte, perm os.FileMode) error
	ReadFile(name string) ([]byte, error)
}

// File is an open journal file.
type File interface {
	io.Reader
	io.Writer
	Sync() error
	Close() error
}

// OS is the operating system's file system.
type OS struct{}

// OpenFile opens a file.
func (OS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}

// Remove removes a file.
func (OS) Remove(name string) error { return os.Remove(name) }

// ReadDir lists a directory's file names.
func (OS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out, err
}

// MkdirAll makes a directory.
func (OS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// WriteFile writes a small file whole and syncs it: written beside and
// renamed over, so that a crash leaves the old or the new.
func (OS) WriteFile(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// ReadFile reads a small file.
func (OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Seq numbers the records of a journal, from 1.
type Seq uint64

// Options configure a journal.
type Options struct {
	// FS is where it writes (default OS).
	FS FS
	// SegmentBytes is the size at which a new segment file starts
	// (default 64 MiB).
	SegmentBytes int64
	Log          *slog.Logger
	Registerer   prometheus.Registerer
}

// Journal is an append-only log of uplinks in segment files.
type Journal struct {
	dir  string
	fs   FS
	o    Options
	log  *slog.Logger
	m    *metrics
	crc  *crc32.Table
	sync *syncer

	// ckMu orders checkpoints; mu guards the rest and is what appends
	// take, held only for a write to the open segment.
	ckMu     sync.Mutex
	mu       sync.Mutex
	seg      File
	segFirst Seq   // first seq of the open segment
	segBytes int64 // bytes written to it
	durable  Seq   // every record up to it is in a segment synced whole
	next     Seq   // the next seq to give
	segments []Seq // first seqs of the segments on disk, oldest first
	broken   error // the last write error, until a write succeeds
	buf      []byte

	checkpoint Seq // every record up to it is handled
	inflight   map[Seq]struct{}
}

// A record is its header - the length of its body and the body's CRC-32C -
// then its body: seq, receive time (Unix nanoseconds), topic, source and
// remote address (each a 16-bit length and its bytes), and the payload.
const headerBytes = 4 + 4

// Open opens (creating) the journal in dir.
func Open(dir string, o Options) (*Journal, error) {
	if o.FS == nil {
		o.FS = OS{}
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	j := &Journal{dir: dir, fs: o.FS, o: o, log: o.Log, m: newMetrics(o.Registerer), crc: crc32.MakeTable(crc32.Castagnoli),
		inflight: map[Seq]struct{}{}}
	if err := j.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	if b, err := j.fs.ReadFile(filepath.Join(dir, "checkpoint")); err == nil {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal %s: checkpoint file: %w", dir, err)
		}
		j.checkpoint = Seq(n)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	names, err := j.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	for _, n := range names {
		if first, ok := segmentSeq(n); ok {
			j.segments = append(j.segments, first)
		}
	}
	slices.Sort(j.segments)
	j.next = j.checkpoint + 1
	// The next seq follows the last record on disk.
	if len(j.segments) > 0 {
		last := j.segments[len(j.segments)-1]
		n, err := j.scan(last, func(Seq, *contract.Uplink) error { return nil })
		if err != nil {
			return nil, err
		}
		j.next = max(j.next, n)
	}
	j.sync = newSyncer(j)
	j.m.checkpoint.Set(float64(j.checkpoint))
	return j, nil
}

func segmentName(first Seq) string { return fmt.Sprintf("%020d.log", first) }

func segmentSeq(name string) (Seq, bool) {
	base, ok := strings.CutSuffix(name, ".log")
	if !ok || len(base) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	return Seq(n), err == nil
}

// Append writes an uplink to the journal file. When sync is set, it also
// starts a sync that will cover the record; Sync waits for it. Between
// the two the caller may hand the record on, so that what it wants done
// with the record does not wait for the disk while its acknowledgement
// does. A record the disk refuses is refused with the disk's error, and
// Healthy says so until a write succeeds again.
func (j *Journal) Append(u *contract.Uplink, sync bool) (Seq, error) {
	j.mu.Lock()
	seq, err := j.write(u)
	if err == nil {
		j.inflight[seq] = struct{}{}
	}
	j.mu.Unlock()
	if err != nil {
		j.m.errors.Inc()
		return 0, err
	}
	j.m.appended.Inc()
	if sync {
		j.sync.start()
	}
	return seq, nil
}

// Sync returns once the record seq is on the disk (shared with every
// record written before the sync began: group commit), or with the error
// of the sync that should have put it there.
func (j *Journal) Sync(ctx context.Context, seq Seq) error {
	return j.sync.wait(ctx, seq)
}

// Done says that the record was handed on (ingest has it): a checkpoint
// never passes a record still being handed on.
func (j *Journal) Done(seq Seq) {
	j.mu.Lock()
	delete(j.inflight, seq)
	j.mu.Unlock()
}

// write appends one record to the open segment, opening one when needed.
func (j *Journal) write(u *contract.Uplink) (Seq, error) {
	if j.seg == nil || j.segBytes >= j.o.SegmentBytes {
		if err := j.roll(); err != nil {
			return 0, j.fail(err)
		}
	}
	seq := j.next
	b := j.buf[:0]
	b = append(b, make([]byte, headerBytes)...)
	b = binary.LittleEndian.AppendUint64(b, uint64(seq))
	b = binary.LittleEndian.AppendUint64(b, uint64(u.ReceivedAt.UnixNano()))
	for _, f := range [...]string{u.Topic, u.Source, u.Remote} {
		b = binary.LittleEndian.AppendUint16(b, uint16(min(len(f), 0xFFFF)))
		b = append(b, f[:min(len(f), 0xFFFF)]...)
	}
	b = append(b, u.Payload...)
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)-headerBytes))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[headerBytes:], j.crc))
	j.buf = b
	if _, err := j.seg.Write(b); err != nil {
		// A partial record is cut at replay by its length and checksum;
		// the next record goes to a fresh segment.
		j.seg.Close()
		j.seg = nil
		return 0, j.fail(err)
	}
	j.segBytes += int64(len(b))
	j.next++
	if j.broken != nil {
		j.log.Info("the journal writes again", "after", j.broken)
		j.broken = nil
		j.m.healthy.Set(1)
	}
	return seq, nil
}

func (j *Journal) fail(err error) error {
	if j.broken == nil {
		j.log.Error("the journal cannot write; device messages are refused until it can", "dir", j.dir, "err", err)
	}
	j.broken = err
	j.m.healthy.Set(0)
	return fmt.Errorf("journal: %w", err)
}

// roll closes the open segment (synced) and starts the next.
func (j *Journal) roll() error {
	if j.seg != nil {
		if err := j.seg.Sync(); err != nil {
			return err
		}
		j.seg.Close()
		j.seg = nil
		j.durable = j.next - 1
	}
	// A file already named for the next seq holds no whole record (the
	// next seq follows the last one): a torn write, cut.
	f, err := j.fs.OpenFile(filepath.Join(j.dir, segmentName(j.next)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	j.seg, j.segFirst, j.segBytes = f, j.next, 0
	if len(j.segments) == 0 || j.segments[len(j.segments)-1] != j.next {
		j.segments = append(j.segments, j.next)
	}
	return nil
}

// Healthy returns nil while the journal can write, else why not.
func (j *Journal) Healthy() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.broken
}

// Handed returns the newest seq such that every record up to it has been
// handed on: what a checkpoint may cover once the pipeline has handled
// what it was handed.
func (j *Journal) Handed() Seq {
	j.mu.Lock()
	defer j.mu.Unlock()
	low := j.next - 1
	for s := range j.inflight {
		low = min(low, s-1)
	}
	return low
}

// Checkpoint records that every record up to seq has been handled, and
// removes the segments that hold nothing after it. The checkpoint file's
// write and sync and the removals happen outside the lock that appends
// take: a device's message never waits for a checkpoint.
func (j *Journal) Checkpoint(seq Seq) error {
	j.ckMu.Lock()
	defer j.ckMu.Unlock()
	j.mu.Lock()
	done := seq <= j.checkpoint
	j.mu.Unlock()
	if done {
		return nil
	}
	if err := j.fs.WriteFile(filepath.Join(j.dir, "checkpoint"), []byte(strconv.FormatUint(uint64(seq), 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("journal: checkpoint: %w", err)
	}
	// A segment can go when the next one starts at or before seq+1.
	var gone []Seq
	j.mu.Lock()
	j.checkpoint = seq
	for len(j.segments) > 1 && j.segments[1] <= seq+1 && j.segments[0] != j.segFirst {
		gone = append(gone, j.segments[0])
		j.segments = j.segments[1:]
	}
	j.mu.Unlock()
	j.m.checkpoint.Set(float64(seq))
	for _, first := range gone {
		// One not removed is found again at the next Open and removed at
		// the checkpoint after it: replay skips what it holds.
		if err := j.fs.Remove(filepath.Join(j.dir, segmentName(first))); err != nil {
			return fmt.Errorf("journal: remove a checkpointed segment: %w", err)
		}
	}
	return nil
}

// Replay calls f, in order, for every record after the checkpoint.
func (j *Journal) Replay(f func(seq Seq, u *contract.Uplink) error) (int, error) {
	j.mu.Lock()
	segs := slices.Clone(j.segments)
	from := j.checkpoint
	j.mu.Unlock()
	n := 0
	for i, first := range segs {
		if i+1 < len(segs) && segs[i+1] <= from+1 {
			continue // wholly before the checkpoint
		}
		if _, err := j.scan(first, func(seq Seq, u *contract.Uplink) error {
			if seq <= from {
				return nil
			}
			n++
			return f(seq, u)
		}); err != nil {
			return n, err
		}
	}
	j.m.replayed.Add(float64(n))
	return n, nil
}

// scan reads a segment's records, calling f for each, and returns the seq
// after the last whole record. A torn or corrupt tail (a crash in the
// middle of a write) ends the segment.
func (j *Journal) scan(first Seq, f func(Seq, *contract.Uplink) error) (Seq, error) {
	file, err := j.fs.OpenFile(filepath.Join(j.dir, segmentName(first)), os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	next := first
	for len(data) >= headerBytes {
		n := int(binary.LittleEndian.Uint32(data[0:]))
		sum := binary.LittleEndian.Uint32(data[4:])
		if n < 22 || len(data) < headerBytes+n {
			break
		}
		body := data[headerBytes : headerBytes+n]
		if crc32.Checksum(body, j.crc) != sum {
			break
		}
		seq := Seq(binary.LittleEndian.Uint64(body[0:]))
		at := int64(binary.LittleEndian.Uint64(body[8:]))
		var fields [3]string
		rest, ok := body[16:], true
		for i := range fields {
			if len(rest) < 2 || 2+int(binary.LittleEndian.Uint16(rest)) > len(rest) {
				ok = false
				break
			}
			n := int(binary.LittleEndian.Uint16(rest))
			fields[i], rest = string(rest[2:2+n]), rest[2+n:]
		}
		if !ok {
			break
		}
		u := &contract.Uplink{Topic: fields[0], Source: fields[1], Remote: fields[2], Payload: rest, ReceivedAt: time.Unix(0, at).UTC()}
		if err := f(seq, u); err != nil {
			return next, err
		}
		next = seq + 1
		data = data[headerBytes+n:]
	}
	return next, nil
}

// Close syncs and closes the open segment.
func (j *Journal) Close() error {
	j.sync.stop()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seg == nil {
		return nil
	}
	err := j.seg.Sync()
	j.seg.Close()
	j.seg = nil
	return err
}
