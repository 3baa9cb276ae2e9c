package minheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type num int

func (a num) Before(b num) bool { return a < b }

func TestHeapSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Heap[num]
	var want []num
	for range 1000 {
		v := num(r.IntN(100))
		h.Push(v)
		want = append(want, v)
	}
	slices.Sort(want)
	for i, w := range want {
		if h.Top() != w {
			t.Fatalf("top %d at %d, want %d", h.Top(), i, w)
		}
		if got := h.Pop(); got != w {
			t.Fatalf("pop %d at %d, want %d", got, i, w)
		}
	}
	if h.Len() != 0 {
		t.Fatalf("len %d after popping all", h.Len())
	}
	h.Push(3)
	h.Reset()
	if h.Len() != 0 {
		t.Fatal("reset left values")
	}
}

func BenchmarkPushPop(b *testing.B) {
	var h Heap[num]
	for i := range 1024 {
		h.Push(num(i * 7919 % 1024))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Push(num(i % 1024))
		h.Pop()
	}
}
