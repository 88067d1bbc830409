package bench

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Work is what each task of a pool group does.
type Work int

const (
	// NoWork: the task returns at once.
	NoWork Work = iota
	// CPUWork: the task spins a small deterministic loop calibrated, once per
	// process, to take about a microsecond (see [SpinIterations]).
	CPUWork
)

// String returns "noop" or "1us".
func (w Work) String() string {
	if w == CPUWork {
		return "1us"
	}
	return "noop"
}

func (w Work) iterations() int {
	if w == CPUWork {
		return SpinIterations()
	}
	return 0
}

// task returns the func() a task runs for w, built once per benchmark body so
// that no body allocates it per task.
func (w Work) task() func() {
	n := w.iterations()
	if n == 0 {
		return func() {}
	}
	return func() { Spin(n) }
}

// ctxTask is w.task as a nursery or errgroup task.
func (w Work) ctxTask() func(context.Context) error {
	n := w.iterations()
	if n == 0 {
		return func(context.Context) error { return nil }
	}
	return func(context.Context) error { Spin(n); return nil }
}

// errTask is w.task as an errgroup task.
func (w Work) errTask() func() error {
	n := w.iterations()
	if n == 0 {
		return func() error { return nil }
	}
	return func() error { Spin(n); return nil }
}

// Spin runs n steps of a xorshift generator: a dependent chain of integer
// operations that the compiler cannot drop, since the result is checked.
func Spin(n int) {
	x := uint64(0x9E3779B97F4A7C15)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	if x == 0 { // never true: xorshift does not reach 0 from a non-zero seed
		panic("bench: xorshift reached zero")
	}
}

var spinIterations = sync.OnceValue(func() int {
	const probe = 200_000
	best := time.Duration(1<<63 - 1)
	for range 7 { // the minimum of a few runs resists a noisy machine
		start := time.Now()
		Spin(probe)
		if d := time.Since(start); d < best {
			best = d
		}
	}
	n := int(probe * time.Microsecond / max(best, 1))
	return max(n, 1)
})

// SpinIterations returns how many steps of [Spin] take about one microsecond
// on this machine, measured once per process.
func SpinIterations() int { return spinIterations() }

// errBoom is the failure of the fail-fast workloads.
var errBoom = errors.New("bench: boom")
