package assembly

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
)

// tasks is what a process runs: its goroutines, the first failure among
// them, and what it opened, closed in reverse order once the goroutines
// have stopped. Sources (what brings device messages in) stop first, so
// that nothing is taken that the rest can no longer handle.
type tasks struct {
	log         *slog.Logger
	cancel      context.CancelFunc
	stopSources context.CancelFunc
	wg          sync.WaitGroup
	sources     sync.WaitGroup
	errc        chan error
	closers     []func() error
	// afterSources run once the sources have stopped, before the rest.
	afterSources []func()
}

func newTasks(log *slog.Logger) tasks { return tasks{log: log, errc: make(chan error, 8)} }

// goRun runs f; a failure other than being stopped is reported on Err.
func (t *tasks) goRun(name string, f func() error) { t.start(&t.wg, name, f) }

// goSource runs a source.
func (t *tasks) goSource(name string, f func() error) { t.start(&t.sources, name, f) }

func (t *tasks) start(wg *sync.WaitGroup, name string, f func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			select {
			case t.errc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// Err delivers the first failure of a running part.
func (t *tasks) Err() <-chan error { return t.errc }

// Close stops the sources, runs what must run once they stopped, then
// stops every other part, waits for their
// goroutines, then closes what was opened, last first.
func (t *tasks) Close() error {
	t.closeAll()
	return nil
}

func (t *tasks) closeAll() {
	if t.stopSources != nil {
		t.stopSources()
	}
	t.sources.Wait()
	for _, f := range t.afterSources {
		f()
	}
	t.afterSources = nil
	if t.cancel != nil {
		t.cancel()
	}
	t.wg.Wait()
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](); err != nil {
			t.log.Warn("close", "err", err)
		}
	}
	t.closers = nil
}
