package nursery

import (
	"context"
	"errors"
	"testing"
	"unsafe"
)

// The empty scope is the one every caller pays for; its size is a budget,
// as its allocations are (alloc_test.go). 80 bytes is a size class of its
// own: one more word and every nursery costs 96.
func TestNurseryFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(Nursery{}); got > 80 {
		t.Errorf("Nursery is %d bytes, over its 80-byte budget", got)
	}
}

// A nursery made without options shares noOptions, which nothing may ever
// write: a write would leak one nursery's settings into every other.
func TestNoOptionsIsSharedAndNeverWritten(t *testing.T) {
	ctx := context.Background()
	plain := New(ctx)
	if plain.cfg != &noOptions {
		t.Fatal("a nursery without options has a config of its own")
	}
	named := New(ctx, WithName("named"), WithLimit(2), CollectErrors())
	if named.cfg == &noOptions {
		t.Fatal("a nursery with options shares noOptions")
	}
	boom := errors.New("boom")
	for _, n := range []*Nursery{plain, named} {
		n.Go(func(context.Context) error { return boom })
		Spawn(n, func(context.Context) (int, error) { return 1, nil }, Name("task"))
		_ = n.Wait()
	}
	c := noOptions
	if c.name != "" || c.limit != 0 || c.collect || c.panicErr || c.executor != nil ||
		c.counters != nil || c.status != nil || c.handler != nil || c.debug != nil ||
		c.dbg != nil || c.node != nil {
		t.Errorf("noOptions was written: %+v", c)
	}
}
