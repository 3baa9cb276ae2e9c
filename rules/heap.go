package rules

import "time"

// deviceHeap is a min-heap of watched devices by absence deadline; each
// device knows its index, so a sign of life moves it without allocating.
type deviceHeap []*deviceState

func (h deviceHeap) less(i, j int) bool { return h[i].deadline < h[j].deadline }

func (h deviceHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = int32(i), int32(j)
}

func (h *deviceHeap) push(d *deviceState) {
	d.heapIdx = int32(len(*h))
	*h = append(*h, d)
	h.up(int(d.heapIdx))
}

func (h *deviceHeap) pop() *deviceState {
	old := *h
	n := len(old) - 1
	old.swap(0, n)
	d := old[n]
	old[n] = nil
	*h = old[:n]
	h.down(0)
	d.heapIdx = -1
	return d
}

func (h deviceHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h deviceHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h deviceHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// timer is a deadline of a threshold condition, or a site's idle check.
type timer struct {
	at   time.Time
	cond *condition
	site *siteState
}

// Before orders timers by deadline (minheap.Ordered). Timers are not
// removed when their deadline moves; a stale one is recognised when it pops
// (the owner's timerAt differs) and dropped. Each owner keeps at most one
// live timer.
func (a timer) Before(b timer) bool { return a.at.Before(b.at) }
