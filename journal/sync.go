package journal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errClosed is what a wait gets once the journal is closing.
var errClosed = errors.New("journal: closed")

// syncer shares fsyncs between the events that wait for them (group
// commit): one goroutine syncs the open segment whenever somebody waits,
// and every record written before the sync began is covered by it.
type syncer struct {
	j    *Journal
	kick chan struct{}
	quit chan struct{}
	done chan struct{}

	mu       sync.Mutex
	synced   Seq           // every record up to it is on the disk
	failed   Seq           // the records up to it were in a sync that failed
	err      error         // why
	complete chan struct{} // closed when the sync under way ends
}

func newSyncer(j *Journal) *syncer {
	s := &syncer{j: j, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		complete: make(chan struct{}), synced: j.next - 1}
	go s.run()
	return s
}

// start asks for a sync soon, without waiting for it.
func (s *syncer) start() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// wait returns once the record seq is on the disk, or with the error of
// the sync that should have put it there.
func (s *syncer) wait(ctx context.Context, seq Seq) error {
	for {
		s.mu.Lock()
		if s.synced >= seq {
			s.mu.Unlock()
			return nil
		}
		if s.failed >= seq {
			err := s.err
			s.mu.Unlock()
			return err
		}
		complete := s.complete
		s.mu.Unlock()
		s.start()
		select {
		case <-complete:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.quit:
			return errClosed
		}
	}
}

func (s *syncer) run() {
	defer close(s.done)
	for {
		select {
		case <-s.kick:
		case <-s.quit:
			return
		}
		j := s.j
		j.mu.Lock()
		target, f := j.next-1, j.seg
		j.mu.Unlock()
		s.mu.Lock()
		covered := s.synced >= target
		s.mu.Unlock()
		if covered {
			continue // a kick left over from waiters the last sync covered
		}
		start := time.Now()
		var err error
		if f != nil {
			err = f.Sync()
		}
		j.m.syncSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			j.mu.Lock()
			// The segment may have been rolled (and synced whole) while we
			// synced it: then what we were after is on the disk.
			if j.durable >= target {
				err = nil
			} else {
				err = j.fail(fmt.Errorf("sync: %w", err))
			}
			j.mu.Unlock()
		}
		s.mu.Lock()
		if err == nil {
			s.synced = max(s.synced, target)
		} else {
			s.failed, s.err = max(s.failed, target), err
		}
		close(s.complete)
		s.complete = make(chan struct{})
		s.mu.Unlock()
	}
}

func (s *syncer) stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}
