package simulator

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// alarmWatch sees where a load's alarms arrive: at a drain subscribed on
// the broker (standing in for ingest on a bare broker), or as incidents on
// firegrid's console stream. Arrivals go to the load's alarm book.
type alarmWatch struct {
	book *alarmBook
	// received counts what the drain received.
	received  atomic.Int64
	streamErr <-chan error
	// drain and stream say which way it watches (neither: not at all).
	drain, stream bool
	stop          []func()
}

// watchAlarms watches through a drain subscribed to drain (with login)
// when drain is set, else the console stream at httpAddr when that is
// set, else not at all. Close stops it.
func watchAlarms(ctx context.Context, book *alarmBook, mqttURL, drain string, login []MQTTOption, httpAddr string) (*alarmWatch, error) {
	w := &alarmWatch{book: book, drain: drain != "", stream: drain == "" && httpAddr != ""}
	switch {
	case drain != "":
		d, err := dialLoad(ctx, mqttURL, 64<<10, login...)
		if err != nil {
			return nil, fmt.Errorf("drain: %w", err)
		}
		w.stop = append(w.stop, func() { d.Close() })
		if err := d.Subscribe(ctx, drain, func(topic string, payload []byte) {
			w.received.Add(1)
			if strings.HasSuffix(topic, "/"+string(contract.ChannelEvent)) {
				if seq, ok := payloadSeq(payload); ok {
					book.arrive(alarmKey(topic, seq), time.Now())
				}
			}
		}); err != nil {
			w.Close()
			return nil, fmt.Errorf("drain: %w", err)
		}
	case httpAddr != "":
		sctx, cancel := context.WithCancel(ctx)
		w.stop = append(w.stop, cancel)
		var err error
		if w.streamErr, err = WatchStream(sctx, httpAddr, func(c *IncidentChange) { book.change(c, time.Now()) }); err != nil {
			cancel()
			return nil, err
		}
	}
	return w, nil
}

// Close stops watching.
func (w *alarmWatch) Close() {
	for _, f := range w.stop {
		f()
	}
}

// settle waits, up to grace, for the alarms still on their way: until as
// many as were sent have arrived, or the stream fails (whose error it
// returns). With a drain it then waits, up to grace again, until the
// drain has received the acknowledged messages it is still behind by (what
// the broker still queues for it).
func (w *alarmWatch) settle(grace time.Duration, alarms, acked int64) string {
	if !w.drain && !w.stream {
		return ""
	}
	var streamError string
	deadline := time.After(grace)
wait:
	for {
		if m, _ := w.book.snapshot(); int64(m) >= alarms {
			break
		}
		select {
		case <-deadline:
			break wait
		case err := <-w.streamErr:
			if err != nil {
				streamError = err.Error()
			}
			break wait
		case <-time.After(10 * time.Millisecond):
		}
	}
	if w.drain {
		until := time.Now().Add(grace)
		for w.received.Load() < acked && time.Now().Before(until) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return streamError
}
