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
// goroutine per task. The nursery hands e runners, jobs that each run the
// nursery's queued tasks one after another, and passes its own context to
// e.Go. An error from e.Go (for example [ErrPoolClosed]) fails the queued
// tasks that no runner of the nursery can take any more — none is
// running or on its way — each reported by Wait. Tasks launched with
// [Start] never use e.
//
// On a [Pool] the nursery keeps its waiting tasks in a queue of its own:
// without [WithLimit], at most as many of its tasks as the pool has
// workers plus its queue size are running or waiting; once they are, Go
// waits for room, from whichever goroutine it is called. A task blocked
// in one of the library's waits (see [WithLimit]) lends its pool worker to other work meanwhile, so nurseries nested on
// one shared pool never wait for themselves. Other executors get no such
// help: a task waiting in one of the library's waits keeps the executor's
// worker it runs on, and an executor whose Go blocks blocks the caller of
// the nursery's Go.
func WithExecutor(e Executor) Option {
	if p, isPool := e.(*Pool); e == nil || isPool && p == nil {
		panic("nursery: nil Executor")
	}
	return optionFunc(func(c *config) {
		c.executor = e
		c.sched = startLimiter
	})
}
