package nursery

import "sync/atomic"

// Counters count the tasks of the nurseries created with [WithCounters]:
// cheap enough to leave on (an atomic add when a task starts, one when it
// finishes), and readable at any time while the nurseries run — to drive a
// progress line, or to export metrics. One Counters may serve many
// nurseries, say every connection's nursery of a server, and then counts
// all of their tasks.
//
// The zero value is ready to use. Counters must not be copied after first
// use. Each method reads its counters atomically, but the methods are not a
// snapshot taken at one instant.
type Counters struct {
	started  atomic.Uint64
	finished atomic.Uint64
	failed   atomic.Uint64
}

// Started returns how many tasks were started: accepted by Go, Spawn or
// Start, whether or not they ran.
func (c *Counters) Started() uint64 { return c.started.Load() }

// Completed returns how many of the started tasks have finished, whatever
// their outcome: returned, failed, panicked, or dropped without running
// because their nursery was cancelled.
func (c *Counters) Completed() uint64 { return c.finished.Load() }

// Running returns how many started tasks have not finished yet: running,
// blocked, or waiting in a queue for their turn.
func (c *Counters) Running() uint64 {
	finished := c.finished.Load() // first: started, read later, is at least as large
	return c.started.Load() - finished
}

// Failed returns how many tasks failed: an error that was reported (or
// handed to [WithErrorHandler]), a panic, or runtime.Goexit. A task that
// only passed a cancellation on did not fail.
func (c *Counters) Failed() uint64 { return c.failed.Load() }

// WithCounters makes the nursery count its tasks in c (see [Counters]).
// It panics if c is nil.
func WithCounters(c *Counters) Option {
	if c == nil {
		panic("nursery: nil Counters")
	}
	return optionFunc(func(cfg *config) { cfg.counters = c })
}

// WithErrorHandler makes the nursery hand each task's failure to handle as
// it happens, instead of keeping it for Wait: the failure does not cancel
// the other tasks, and Wait does not return it. So a nursery that runs for
// months — a server's, whose connections fail now and then — keeps no
// memory for its failures. The error is named as Wait would report it (a
// *[TaskError] when the task or nursery has a name).
//
// handle runs on the failing task's goroutine, before the task counts as
// finished, so Wait returns only after every call to handle has returned;
// it must be safe for concurrent use, and should be quick. Panics and
// runtime.Goexit are bugs, not failures: they still cancel the nursery and
// reach Wait, as with [CollectErrors]. The error of [Run]'s body is Run's
// own and is returned as usual. It panics if handle is nil.
func WithErrorHandler(handle func(err error)) Option {
	if handle == nil {
		panic("nursery: nil error handler")
	}
	return optionFunc(func(cfg *config) { cfg.handler = handle })
}
