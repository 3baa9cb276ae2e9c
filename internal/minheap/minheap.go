// Package minheap is a binary min-heap of values that know their order,
// written out rather than built on container/heap so that pushing and
// popping box nothing: the rule engine's timers and the simulator's
// schedule use it on their hot paths.
package minheap

// Ordered is what a Heap holds: values that know whether they come before
// another.
type Ordered[T any] interface {
	Before(T) bool
}

// Heap is a min-heap; the zero value is empty and ready.
type Heap[T Ordered[T]] struct{ s []T }

// Len returns how many values the heap holds.
func (h *Heap[T]) Len() int { return len(h.s) }

// Top returns the smallest value without removing it; the heap must not
// be empty.
func (h *Heap[T]) Top() T { return h.s[0] }

// Reset empties the heap, keeping its storage.
func (h *Heap[T]) Reset() {
	clear(h.s)
	h.s = h.s[:0]
}

// Push adds x.
func (h *Heap[T]) Push(x T) {
	h.s = append(h.s, x)
	i := len(h.s) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !h.s[i].Before(h.s[parent]) {
			break
		}
		h.s[i], h.s[parent] = h.s[parent], h.s[i]
		i = parent
	}
}

// Pop removes and returns the smallest value; the heap must not be empty.
func (h *Heap[T]) Pop() T {
	top := h.s[0]
	n := len(h.s) - 1
	h.s[0] = h.s[n]
	var zero T
	h.s[n] = zero // no reference kept past the end
	h.s = h.s[:n]
	i := 0
	for {
		l, r, small := 2*i+1, 2*i+2, i
		if l < n && h.s[l].Before(h.s[small]) {
			small = l
		}
		if r < n && h.s[r].Before(h.s[small]) {
			small = r
		}
		if small == i {
			return top
		}
		h.s[i], h.s[small] = h.s[small], h.s[i]
		i = small
	}
}
