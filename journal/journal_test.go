package journal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/journal"
)

func uplink(i int) *contract.Uplink {
	u := &contract.Uplink{
		Topic:      fmt.Sprintf("fg/v1/smoke/SD-%06d/event", i),
		Payload:    []byte(fmt.Sprintf(`{"v":1,"seq":%d,"event":"alarm"}`, i)),
		ReceivedAt: time.Unix(1_790_000_000, int64(i)).UTC(),
	}
	if i%3 == 1 {
		// A field source's: its source and sender come back too.
		u.Topic, u.Source, u.Remote = "gb26875/0000A0010001", contract.SourceGB26875, "10.0.0.7:40112"
	}
	return u
}

type replayed struct {
	seq journal.Seq
	u   contract.Uplink
}

func replayAll(t *testing.T, j *journal.Journal) []replayed {
	t.Helper()
	var out []replayed
	if _, err := j.Replay(func(seq journal.Seq, u *contract.Uplink) error {
		c := *u
		c.Payload = append([]byte(nil), u.Payload...)
		out = append(out, replayed{seq, c})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalUplink(t *testing.T, got contract.Uplink, want *contract.Uplink) {
	t.Helper()
	if got.Topic != want.Topic || got.Source != want.Source || got.Remote != want.Remote || string(got.Payload) != string(want.Payload) ||
		!got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Fatalf("replayed %+v, want %+v", got, *want)
	}
}

// A journal left without Close (the process was killed) gives back, on
// the next open, every record in order, and goes on numbering after them.
func TestReplayAfterAKill(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{SegmentBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := appendSynced(j, uplink(i), i%10 == 0); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: the files are as a SIGKILL leaves them.
	j2, err := journal.Open(dir, journal.Options{SegmentBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got := replayAll(t, j2)
	if len(got) != 100 {
		t.Fatalf("replayed %d records, want 100", len(got))
	}
	for i, r := range got {
		if r.seq != journal.Seq(i+1) {
			t.Fatalf("record %d has seq %d", i, r.seq)
		}
		equalUplink(t, r.u, uplink(i))
	}
	seq, err := appendSynced(j2, uplink(100), true)
	if err != nil || seq != 101 {
		t.Fatalf("append after reopen: seq %d, %v; want 101", seq, err)
	}
	j.Close()
}

// A checkpoint removes the segments wholly before it, and a replay starts
// after it, on this open and the next.
func TestCheckpointTruncates(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		seq, err := j.Append(uplink(i), false)
		if err != nil {
			t.Fatal(err)
		}
		j.Done(seq)
	}
	before := segments(t, dir)
	if before < 10 {
		t.Fatalf("%d segments, want many with 512-byte segments", before)
	}
	if h := j.Handed(); h != 200 {
		t.Fatalf("handed %d, want 200 once every append is done", h)
	}
	if err := j.Checkpoint(150); err != nil {
		t.Fatal(err)
	}
	after := segments(t, dir)
	if after >= before/3 {
		t.Fatalf("%d segments after a checkpoint at 150 of 200, were %d", after, before)
	}
	got := replayAll(t, j)
	if len(got) != 50 || got[0].seq != 151 {
		t.Fatalf("replay after checkpoint 150: %d records from %v", len(got), got[0].seq)
	}
	j.Close()
	j2, err := journal.Open(dir, journal.Options{SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got = replayAll(t, j2)
	if len(got) != 50 || got[0].seq != 151 {
		t.Fatalf("replay after reopen: %d records", len(got))
	}
	equalUplink(t, got[0].u, uplink(150))
	if err := j2.Checkpoint(200); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, j2); len(got) != 0 {
		t.Fatalf("replayed %d records after a checkpoint at the end", len(got))
	}
}

func segments(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A record that is still being handed on holds the checkpoint back.
func TestHandedWaitsForDone(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var seqs []journal.Seq
	for i := range 5 {
		s, err := j.Append(uplink(i), false)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	j.Done(seqs[0])
	j.Done(seqs[1])
	j.Done(seqs[3])
	j.Done(seqs[4])
	// Append returned for all five, but the third was never handed on.
	if h := j.Handed(); h != 2 {
		t.Fatalf("handed %d, want 2 while record 3 is in hand", h)
	}
	j.Done(seqs[2])
	if h := j.Handed(); h != 5 {
		t.Fatalf("handed %d, want 5", h)
	}
}

// A crash in the middle of a write leaves a torn record: the replay stops
// at it, and what is written after the reopen is replayed too.
// TestAppendsDoNotWaitForACheckpoint holds a checkpoint's write of its
// file and appends meanwhile: a device's message must not wait for the
// checkpoint's sync or its removals.
func TestAppendsDoNotWaitForACheckpoint(t *testing.T) {
	fs := &journal.Faulty{}
	j, err := journal.Open(t.TempDir(), journal.Options{FS: fs, SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var last journal.Seq
	for i := range 20 {
		s, err := j.Append(uplink(i), false)
		if err != nil {
			t.Fatal(err)
		}
		j.Done(s)
		last = s
	}
	entered, release := make(chan struct{}), make(chan struct{})
	fs.SetBeforeWriteFile(func() { close(entered); <-release })
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	done := make(chan error, 1)
	go func() { done <- j.Checkpoint(last) }()
	<-entered
	appended := make(chan error, 1)
	go func() {
		_, err := appendSynced(j, uplink(20), true)
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an append waited for the checkpoint")
	}
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := j.Append(uplink(i), false); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	f, err := os.OpenFile(m[len(m)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Close()
	j2, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if _, err := appendSynced(j2, uplink(10), true); err != nil {
		t.Fatal(err)
	}
	got := replayAll(t, j2)
	if len(got) != 11 {
		t.Fatalf("replayed %d, want the 10 whole records and the one after the reopen", len(got))
	}
	equalUplink(t, got[10].u, uplink(10))
	j.Close()
}

// An event's Append returns only once a sync that began after its write
// has ended; telemetry's does not wait for one.
func TestEventsWaitForTheSync(t *testing.T) {
	fs := &journal.Faulty{}
	j, err := journal.Open(t.TempDir(), journal.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	fs.SetBeforeSync(func() { entered <- struct{}{}; <-release })

	if _, err := j.Append(uplink(0), false); err != nil {
		t.Fatal(err) // telemetry: written, no sync wanted, returns
	}
	done := make(chan error, 1)
	go func() { _, err := appendSynced(j, uplink(1), true); done <- err }()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("an event's append returned (%v) while its sync was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ops := fs.Recorded()
	// write (telemetry), write (event), sync: the event was acknowledged
	// after the sync.
	if len(ops) < 3 || ops[0] != "write" || ops[1] != "write" || ops[2] != "sync" {
		t.Fatalf("operations %v, want write, write, sync", ops)
	}
}

// Events waiting together share syncs: 100 of them, written while one
// sync is under way, need one more sync between them.
func TestGroupCommit(t *testing.T) {
	fs := &journal.Faulty{}
	j, err := journal.Open(t.TempDir(), journal.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 100
	var first sync.Once
	allWritten := make(chan struct{})
	var mu sync.Mutex
	written := 0
	fs.SetBeforeSync(func() { first.Do(func() { <-allWritten }) })
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := appendSynced(j, uplink(i), true); err != nil {
				t.Error(err)
			}
		}()
	}
	go func() {
		for {
			mu.Lock()
			written = 0
			for _, op := range fs.Recorded() {
				if op == "write" {
					written++
				}
			}
			w := written
			mu.Unlock()
			if w == n {
				close(allWritten)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	syncs := 0
	for _, op := range fs.Recorded() {
		if op == "sync" {
			syncs++
		}
	}
	if syncs > 2 {
		t.Fatalf("%d syncs for %d events written while the first sync was held; want at most 2", syncs, n)
	}
}

// A full disk: the record is refused with ENOSPC, the journal says it is
// unhealthy (and the metric), and once the disk has room again it writes
// again; the refused record is not replayed, the others are.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	fs := &journal.Faulty{}
	reg := prometheus.NewRegistry()
	j, err := journal.Open(dir, journal.Options{FS: fs, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	healthy := func() float64 { return metric(t, reg, "firegrid_journal_healthy") }
	if _, err := appendSynced(j, uplink(0), true); err != nil {
		t.Fatal(err)
	}
	fs.Full.Store(true)
	_, err = appendSynced(j, uplink(1), true)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", err)
	}
	if j.Healthy() == nil || healthy() != 0 {
		t.Fatalf("healthy %v, gauge %v while the disk is full", j.Healthy(), healthy())
	}
	if n := metric(t, reg, "firegrid_journal_errors_total"); n != 1 {
		t.Fatalf("errors %v, want 1", n)
	}
	fs.Full.Store(false)
	if _, err := appendSynced(j, uplink(2), true); err != nil {
		t.Fatal(err)
	}
	if j.Healthy() != nil || healthy() != 1 {
		t.Fatalf("healthy %v, gauge %v once the disk has room", j.Healthy(), healthy())
	}
	j.Close()
	j2, err := journal.Open(dir, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	got := replayAll(t, j2)
	if len(got) != 2 {
		t.Fatalf("replayed %d, want 2 (the refused record is not there)", len(got))
	}
	equalUplink(t, got[0].u, uplink(0))
	equalUplink(t, got[1].u, uplink(2))
}

// A sync that fails refuses the events that waited for it.
func TestSyncFailureRefuses(t *testing.T) {
	fs := &journal.Faulty{}
	j, err := journal.Open(t.TempDir(), journal.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fs.SyncFails.Store(true)
	if _, err := appendSynced(j, uplink(0), true); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing sync: %v, want EIO", err)
	}
	if j.Healthy() == nil {
		t.Fatal("healthy while syncs fail")
	}
	fs.SyncFails.Store(false)
	if _, err := appendSynced(j, uplink(1), true); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of a gauge or counter gathered from reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// appendSynced appends u and, when sync is set, waits until it is on the
// disk, as serve does for an event.
func appendSynced(j *journal.Journal, u *contract.Uplink, sync bool) (journal.Seq, error) {
	seq, err := j.Append(u, sync)
	if err != nil || !sync {
		return seq, err
	}
	if err := j.Sync(context.Background(), seq); err != nil {
		j.Done(seq)
		return 0, err
	}
	return seq, nil
}
