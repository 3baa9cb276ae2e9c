// Package clock gives every firegrid component its time from outside, so
// that tests and the simulator can run the 60-second and 3-minute timers in
// virtual time.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// started is when this process began, with its monotonic reading.
var started = time.Now()

// Elapsed is the time elapsed since the process began, by the monotonic
// clock: a step of the system clock does not change it.
func (Real) Elapsed() time.Duration { return time.Since(started) }

// Fake is a clock that moves only when told to. The zero value starts at
// the zero time; use NewFake to start somewhere sensible. Time passes
// (Advance, Set forward), which fires timers; or the wall clock steps
// (Jump, Set backward), which does not, as with a real clock's timers.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	elapsed time.Duration
	waiters []waiter
}

// waiter is a timer, due when the elapsed time reaches at.
type waiter struct {
	at time.Duration
	ch chan time.Time
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Elapsed is the time that has passed on the fake clock (its steps aside).
func (f *Fake) Elapsed() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.elapsed
}

// After returns a channel that fires once d more time has passed.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.elapsed + d, ch: ch})
	return ch
}

// Advance lets d pass (d >= 0) and fires the timers that fall due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d < 0 {
		d = 0
	}
	f.now = f.now.Add(d)
	f.elapsed += d
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at <= f.elapsed {
			w.ch <- f.now
			continue
		}
		kept = append(kept, w)
	}
	f.waiters = kept
}

// Jump steps the wall clock by d, forward or back, with no time passing:
// no timer fires, and a Steady clock over this one does not move.
func (f *Fake) Jump(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Set moves the fake time to t: forward, time passes to it (Advance);
// backward, the wall clock steps back (Jump).
func (f *Fake) Set(t time.Time) {
	if d := t.Sub(f.Now()); d >= 0 {
		f.Advance(d)
	} else {
		f.Jump(d)
	}
}

// Waiters reports how many timers are pending, so a test can wait until a
// component has armed its timer before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Elapser is a clock that also tells the time elapsed, steps of its wall
// clock aside: Real (the monotonic clock) and Fake.
type Elapser interface {
	Clock
	Elapsed() time.Duration
}

// Steady counts on from the time of the clock it wraps when it was made,
// by the time elapsed since, so that a step of the system clock (set by
// hand, a virtual machine resumed, NTP stepping instead of slewing) moves
// neither its time nor its timers: the 1-3-5 deadlines neither all fall
// due at once on a step forward nor wait an hour more on a step back, and
// devices do not all look silent. What it takes from the wrapped clock
// after it was made is only how fast time passes; Offset says how far the
// two have come apart, and a restart takes the wrapped clock's time again.
type Steady struct {
	src  Elapser
	base time.Time
	from time.Duration
}

// NewSteady returns a steady clock over c.
func NewSteady(c Elapser) *Steady {
	return &Steady{src: c, base: c.Now().Round(0), from: c.Elapsed()}
}

// Now is the time the wrapped clock had when this one was made, plus the
// time elapsed since.
func (s *Steady) Now() time.Time { return s.base.Add(s.src.Elapsed() - s.from) }

// After returns a channel that fires once d has passed (it sends the
// wrapped clock's time).
func (s *Steady) After(d time.Duration) <-chan time.Time { return s.src.After(d) }

// Elapsed is the wrapped clock's.
func (s *Steady) Elapsed() time.Duration { return s.src.Elapsed() }

// Offset is how far the wrapped clock has stepped away from this one
// since it was made: positive when it is ahead.
func (s *Steady) Offset() time.Duration { return s.src.Now().Round(0).Sub(s.Now()) }

// Source is the wrapped clock.
func (s *Steady) Source() Elapser { return s.src }
