package nursery

import "context"

// An Executor runs a nursery's tasks. The default executor starts a new
// goroutine per task; a [Pool] re-uses a bounded set of worker goroutines
// and may be shared by many nurseries at once.
//
// The nursery's rules hold on any executor: Wait waits for every task,
// panics are recovered inside the task (before they reach the executor) and
// reported by Wait, and a task still queued when its nursery is cancelled
// is dropped without running and counted as cancelled.
type Executor interface {
	// Go arranges for task to run exactly once on some goroutine. It returns an error,
	// and never runs task, when ctx ends before the executor can accept it or the executor is closed.
	Go(ctx context.Context, task func()) error
}

// WithExecutor makes the nursery run its tasks on e instead of starting a
// goroutine per task. The nursery passes its own context to e.Go, and an
// error from e.Go (for example [ErrPoolClosed]) is that task's failure,
// reported by Wait. Tasks launched with [Start] never use e.
//
// A task (or a [Start] service) that calls Go on its own nursery on a full
// [Pool] never waits for itself: at once if every running task may be
// blocked, else after a millisecond blocked, the nursery finds out that the
// caller is one of its own, and queues the new task to run as soon as a
// worker is free. Executors other than *Pool must not block their own
// workers in Go, or such a task may wait for itself.
func WithExecutor(e Executor) Option {
	if e == nil {
		panic("nursery: nil Executor")
	}
	return optionFunc(func(c *config) { c.executor = e })
}
