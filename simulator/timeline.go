package simulator

import (
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/internal/minheap"
)

// Source yields publications in time order; ok is false when there are no
// more. A Timeline is one; a recording replayed or a load generator are
// others, played through Runner.Source.
type Source interface {
	Next() (p Publication, ok bool)
}

// Timeline merges a fleet's heartbeats with a scenario's steps into one
// sequence of publications in time order. When a step and a heartbeat fall
// at the same offset, the step comes first, so a device silenced at 60 s
// does not beat at 60 s. The same fleet (devices, config, seed) and
// scenario give the same sequence. A Timeline is not safe for concurrent
// use.
type Timeline struct {
	fleet *Fleet
	due   minheap.Heap[occurrence]
}

// NewTimeline returns the timeline of sc played on f; sc may be nil for the
// fleet alone. It checks sc against the fleet's devices (see
// Scenario.Check); a step's device the fleet lacks but whose kind the step
// names joins the fleet, without heartbeats.
func NewTimeline(f *Fleet, sc *Scenario) (*Timeline, error) {
	t := &Timeline{fleet: f}
	if sc == nil {
		return t, nil
	}
	err := sc.check(func(id string) (kind contract.Kind, ports int, ok bool) {
		m, ok := f.byID[id]
		if !ok {
			return "", 0, false
		}
		return m.kind, len(m.ports), true
	})
	if err != nil {
		return nil, err
	}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		if _, ok := f.byID[st.Device]; !ok {
			f.add(st.Device, st.Kind, 0)
		}
		t.due.Push(occurrence{at: st.At, step: st})
	}
	return t, nil
}

// Next returns the next publication, or false when the scenario is over
// and no device will beat again.
func (t *Timeline) Next() (Publication, bool) {
	hb, beating := t.fleet.Peek()
	if t.due.Len() > 0 && (!beating || t.due.Top().at <= hb) {
		o := t.due.Pop()
		if o.repeat+1 < o.step.Repeat.times() {
			t.due.Push(occurrence{at: o.at + o.step.Repeat.Every, step: o.step, repeat: o.repeat + 1})
		}
		return t.fleet.apply(o.at, o.step, o.repeat), true
	}
	return t.fleet.Next()
}

// occurrence is one publication of a step: the step itself, or one of its
// repetitions.
type occurrence struct {
	at     time.Duration
	step   *Step
	repeat int
}

func (a occurrence) Before(b occurrence) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.step.Index != b.step.Index {
		return a.step.Index < b.step.Index
	}
	return a.repeat < b.repeat
}
