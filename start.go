package nursery

import (
	"context"
	"sync"
)

// Start runs fn as a service task of n and blocks until fn calls ready(v),
// then returns v — Trio's nursery.start. A typical fn starts a server, calls
// ready with its bound address, and serves until its context ends.
//
// If fn returns or panics before calling ready, Start returns its error (or
// an error saying it returned without calling ready), or re-panics with a
// *[PanicError] (returned instead with [PanicsAsErrors]); that outcome is
// Start's alone and does not fail the nursery. After ready, the task belongs
// to the nursery like any other. If n's context is already done, Start
// returns its cause without running fn.
//
// Start tasks are services: they always run on their own goroutine and never
// count toward [WithLimit] or occupy an [Executor]. Start is one of the
// library's waits: a task blocked in it gives its slot back meanwhile (see
// [WithLimit]), so a service may spawn into a full nursery and wait for
// what it spawned before it calls ready. Calling ready twice panics.
func Start[T any](n *Nursery, fn func(ctx context.Context, ready func(T)) error, opts ...TaskOption) (T, error) {
	if n == nil {
		panic("nursery: nil Nursery")
	}
	if fn == nil {
		panic("nursery: nil function")
	}
	n.accept()
	var zero T
	if n.ctx.Err() != nil {
		n.finished()
		return zero, context.Cause(n.ctx)
	}
	s := &service[T]{n: n, fn: fn, started: make(chan struct{})}
	go n.exec(item{task: s, tc: n.taskConfig(opts)})
	c := block()
	<-s.started
	c.unblock()
	switch {
	case s.ready:
		return s.val, nil
	case s.panicked != nil:
		if n.cfg.panicErr {
			return zero, s.panicked
		}
		panic(s.panicked)
	case s.err == nil:
		return zero, errNotReady
	}
	return zero, s.err
}

// service is the runner behind Start.
type service[T any] struct {
	n  *Nursery
	fn func(context.Context, func(T)) error

	mu       sync.Mutex
	started  chan struct{} // closed at ready or at an early return
	ready    bool
	returned bool
	val      T
	err      error
	panicked *PanicError
}

func (s *service[T]) claim() bool              { return true }
func (s *service[T]) context() context.Context { return s.n.ctx }
func (s *service[T]) cancelledAlone() bool     { return false }
func (s *service[T]) finish(error)             {}

func (s *service[T]) call(ctx context.Context) error {
	return s.fn(ctx, s.markReady)
}

func (s *service[T]) markReady(v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		panic("nursery: Start: ready called twice")
	}
	if s.returned {
		panic("nursery: Start: ready called after the function returned")
	}
	s.ready = true
	s.val = v
	close(s.started)
}

func (s *service[T]) ownsOutcome(err error, panicked *PanicError) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returned = true
	if s.ready {
		return false
	}
	s.err, s.panicked = err, panicked
	close(s.started)
	return true
}
