package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/firegrid/firegrid/internal/clock"
)

// A capture is MQTT traffic in JSON Lines, one message a line, in the
// order it was seen:
//
//	{"time":"2026-11-23T08:00:05Z","topic":"fg/v1/smoke/SD-0108/event","qos":1,"payload":"{\"ts\":...}"}
//
// time is when the message was published (a run's clock) or received (a
// recording from a broker); payload holds the bytes exactly, as a JSON
// string, or payload_base64 when they are not UTF-8. Replaying a capture
// publishes the same bytes with the same spacing, scaled by the speed.
type captureLine struct {
	Time          time.Time `json:"time"`
	Topic         string    `json:"topic"`
	QoS           byte      `json:"qos"`
	Retained      bool      `json:"retained,omitempty"`
	Payload       *string   `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
}

// CaptureWriter writes a capture. It is safe for concurrent use; call
// Flush (or Close) at the end.
type CaptureWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	c   io.Closer
	n   int
	err error
}

// NewCaptureWriter writes a capture to w.
func NewCaptureWriter(w io.Writer) *CaptureWriter {
	cw := &CaptureWriter{w: bufio.NewWriter(w)}
	if c, ok := w.(io.Closer); ok {
		cw.c = c
	}
	return cw
}

// CreateCapture creates (or truncates) the capture file at path.
func CreateCapture(path string) (*CaptureWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return NewCaptureWriter(f), nil
}

// Write appends one message.
func (w *CaptureWriter) Write(r Record) error {
	line := captureLine{Time: r.Time.UTC(), Topic: r.Topic, QoS: r.QoS, Retained: r.Retained}
	if utf8.Valid(r.Payload) {
		s := string(r.Payload)
		line.Payload = &s
	} else {
		line.PayloadBase64 = base64.StdEncoding.EncodeToString(r.Payload)
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(append(b, '\n')); err != nil {
		w.err = fmt.Errorf("capture: %w", err)
		return w.err
	}
	w.n++
	return nil
}

// Publication appends what a run published, at the time it was stamped
// with (a Runner's OnPublish).
func (w *CaptureWriter) Publication(p Publication) error {
	return w.Write(Record{Time: p.Message.TS, Topic: p.Topic, QoS: p.QoS, Retained: p.Retained, Payload: p.Payload})
}

// Len reports how many messages were written.
func (w *CaptureWriter) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Flush writes what is buffered.
func (w *CaptureWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}

// Close flushes and closes the underlying file, if it is one.
func (w *CaptureWriter) Close() error {
	err := w.Flush()
	if w.c != nil {
		err = errors.Join(err, w.c.Close())
	}
	return err
}

// ReadCapture reads a capture; errors name the line. name is used in
// errors.
func ReadCapture(name string, r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []Record
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var l captureLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		rec := Record{Time: l.Time, Topic: l.Topic, QoS: l.QoS, Retained: l.Retained}
		switch {
		case l.Topic == "":
			return nil, fmt.Errorf("%s:%d: topic: missing", name, n)
		case l.QoS > 2:
			return nil, fmt.Errorf("%s:%d: qos: want 0, 1 or 2, got %d", name, n, l.QoS)
		case l.Time.IsZero():
			return nil, fmt.Errorf("%s:%d: time: missing", name, n)
		case l.Payload != nil:
			rec.Payload = []byte(*l.Payload)
		case l.PayloadBase64 != "":
			p, err := base64.StdEncoding.DecodeString(l.PayloadBase64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: payload_base64: %w", name, n, err)
			}
			rec.Payload = p
		}
		if len(out) > 0 && rec.Time.Before(out[len(out)-1].Time) {
			return nil, fmt.Errorf("%s:%d: time: %s is before the previous line's (a capture is in time order)", name, n, rec.Time.Format(time.RFC3339Nano))
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// LoadCapture reads the capture file at path.
func LoadCapture(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	return ReadCapture(path, f)
}

// Replay is a Source that plays a capture: each message at its offset from
// the first, its payload byte for byte.
type Replay struct {
	recs []Record
	i    int
}

// NewReplay returns a Source of recs.
func NewReplay(recs []Record) *Replay { return &Replay{recs: recs} }

// Start returns the time of the capture's first message (zero when it is
// empty): where a virtual clock replaying it starts, so that the
// payloads' timestamps are current.
func (r *Replay) Start() time.Time {
	if len(r.recs) == 0 {
		return time.Time{}
	}
	return r.recs[0].Time
}

// Next returns the next message of the capture.
func (r *Replay) Next() (Publication, bool) {
	if r.i >= len(r.recs) {
		return Publication{}, false
	}
	rec := r.recs[r.i]
	r.i++
	return Publication{At: rec.Time.Sub(r.recs[0].Time), Topic: rec.Topic, QoS: rec.QoS, Retained: rec.Retained, Payload: rec.Payload}, true
}

// RecordBroker subscribes to filter on the broker and writes every message
// to w, stamped with clk, until ctx ends. It returns how many messages it
// wrote.
func RecordBroker(ctx context.Context, brokerURL, filter string, w *CaptureWriter, clk clock.Clock, opt ...MQTTOption) (int, error) {
	return recordBroker(ctx, brokerURL, filter, w, clk, nil, opt...)
}

// recordBroker is RecordBroker; ready, when not nil, is closed once the
// subscription holds.
func recordBroker(ctx context.Context, brokerURL, filter string, w *CaptureWriter, clk clock.Clock, ready chan<- struct{}, opt ...MQTTOption) (int, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	var werr error
	var mu sync.Mutex
	sub, err := Subscribe(ctx, brokerURL, filter, "", func(topic string, qos byte, retained bool, payload []byte) {
		if err := w.Write(Record{Time: clk.Now(), Topic: topic, QoS: qos, Retained: retained, Payload: payload}); err != nil {
			mu.Lock()
			werr = err
			mu.Unlock()
		}
	}, opt...)
	if ready != nil {
		close(ready)
	}
	if err != nil {
		return 0, err
	}
	<-ctx.Done()
	sub.Close()
	mu.Lock()
	defer mu.Unlock()
	return w.Len(), errors.Join(werr, w.Flush())
}
