package clock

import "time"

// Next returns when the earliest pending timer of the fake clock fires, or
// false when none is pending, so that a virtual-time run can move the
// clock straight to the next thing that happens.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Duration
	for i, w := range f.waiters {
		if i == 0 || w.at < next {
			next = w.at
		}
	}
	return f.now.Add(next - f.elapsed), len(f.waiters) > 0
}
