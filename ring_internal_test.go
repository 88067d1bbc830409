package nursery

import (
	"slices"
	"testing"
)

// ring.remove keeps the order of the rest, across the buffer's wrap.
func TestRingRemoveKeepsOrder(t *testing.T) {
	for start := range 8 { // every position of the head in a buffer of 8
		for del := range 6 {
			var r ring[int]
			r.push(-1) // one dummy at a time keeps the ring from emptying,
			for range start {
				r.push(-1) // which would send the head back to 0
				r.pop()
			}
			for i := range 6 {
				r.push(i)
			}
			r.pop()
			if len(r.buf) != 8 || r.head != (start+1)%8 {
				t.Fatalf("set-up: buffer %d, head %d", len(r.buf), r.head)
			}
			if !r.remove(func(v int) bool { return v == del }) {
				t.Fatalf("head %d: %d not found", start, del)
			}
			if r.remove(func(v int) bool { return v == del }) {
				t.Fatalf("head %d: %d removed twice", start, del)
			}
			var got []int
			for r.n > 0 {
				got = append(got, r.pop())
			}
			want := slices.DeleteFunc([]int{0, 1, 2, 3, 4, 5}, func(v int) bool { return v == del })
			if !slices.Equal(got, want) {
				t.Errorf("head %d, removing %d: got %v, want %v", start, del, got, want)
			}
		}
	}
}
