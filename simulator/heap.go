package simulator

// ordered is what minHeap holds: values that know whether they come
// before another.
type ordered[T any] interface {
	before(T) bool
}

// minHeap is a binary min-heap. It is written out rather than built on
// container/heap to keep the schedule free of interface boxing.
type minHeap[T ordered[T]] struct{ s []T }

func (h *minHeap[T]) len() int { return len(h.s) }
func (h *minHeap[T]) top() T   { return h.s[0] }

func (h *minHeap[T]) push(x T) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h.s[i].before(h.s[parent]) {
			break
		}
		h.s[i], h.s[parent] = h.s[parent], h.s[i]
		i = parent
	}
}

func (h *minHeap[T]) pop() T {
	top := h.s[0]
	n := len(h.s) - 1
	h.s[0] = h.s[n]
	h.s = h.s[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && h.s[l].before(h.s[small]) {
			small = l
		}
		if r < n && h.s[r].before(h.s[small]) {
			small = r
		}
		if small == i {
			return top
		}
		h.s[i], h.s[small] = h.s[small], h.s[i]
		i = small
	}
}
