package nursery

import (
	"time"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

// An Option configures a [Nursery] (and the scopes that [Map] creates).
type Option interface {
	apply(*config)
}

// A TaskOption configures one task started by [Nursery.Go], [Spawn] or
// [Start].
type TaskOption interface {
	applyTask(*taskConfig)
}

// config holds a nursery's settings; defaults are the zero value.
type config struct {
	name     string
	limit    int // 0: unlimited
	collect  bool
	panicErr bool
	executor Executor
	sched    func(*Nursery) scheduler // startLimiter, set by WithLimit and WithExecutor
	counters *Counters                // WithCounters, or nil
	status   func() string            // WithStatus, or nil
	handler  func(error)              // WithErrorHandler, or nil
	debug    *debughook.Settings      // nurserydebug's options, rarely given

	// Decided by New, not by options.
	dbg  debughook.Nursery // debug mode's state (debug.go), the one hook; nil outside it
	node *live.Node        // the entry in the live tree (tree.go); nil when not shown
}

// taskConfig holds one task's settings; a nil *taskConfig means defaults.
type taskConfig struct {
	name       string
	timeout    time.Duration
	hasTimeout bool
	dbg        debughook.Task // debug mode only (debug.go)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type taskOptionFunc func(*taskConfig)

func (f taskOptionFunc) applyTask(c *taskConfig) { f(c) }

// WithLimit makes at most k tasks of the nursery run at once, and lets at
// most k more wait in its queue: once both are full, Go and Spawn wait for
// room (backpressure) or for the nursery's context to end, whoever calls
// them — a task of this nursery or of another, a [Start] service, or any
// other goroutine.
//
// No nesting can deadlock on the limit, because of one rule: a task blocked
// in one of the library's waits — [Nursery.Wait] (and so [Run], [Gather],
// [Map], [First]), [Task.Wait], [Start], [AsCompleted], and Go or Spawn
// waiting for room — gives its slot back while it waits and takes one
// again, before queued tasks, when the wait is over. So a task that spawns
// children and waits for them, a crawler whose nested scopes spawn into
// this nursery, or a task that starts a service, all complete at any limit.
// Only running tasks count toward k; a task of this nursery that would find
// room once it gave its slot back does not wait at all.
//
// Waits the library cannot see — a channel, a mutex, I/O — keep the slot:
// k tasks that each wait on a channel for a task still queued behind them
// wait for ever, as they would with any semaphore. Tasks launched with
// Start are services: they do not count toward k. WithLimit panics if
// k < 1.
func WithLimit(k int) Option {
	if k < 1 {
		panic("nursery: WithLimit needs a limit of at least 1")
	}
	return optionFunc(func(c *config) {
		c.limit = k
		c.sched = startLimiter
	})
}

// WithStatus gives the nursery a line of status that the live tree
// (package nurserytree) shows beside it, computed by status
// each time the tree is shown — a supervisor's children and their
// restarts, a server's open connections. status must be quick and safe
// for concurrent use. WithStatus panics if status is nil.
func WithStatus(status func() string) Option {
	if status == nil {
		panic("nursery: nil status function")
	}
	return optionFunc(func(c *config) { c.status = status })
}

// CollectErrors selects the supervisor policy: a task's failure does not
// cancel its siblings, and Wait returns every failure joined. Panics and
// runtime.Goexit still cancel the nursery: they are bugs, not failures.
func CollectErrors() Option {
	return optionFunc(func(c *config) { c.collect = true })
}

// WithName names the nursery. The name prefixes its errors and appears in
// panics and debug output.
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// PanicsAsErrors makes Wait return panics as *[PanicError] values joined
// with the other failures, instead of re-panicking.
func PanicsAsErrors() Option {
	return optionFunc(func(c *config) { c.panicErr = true })
}

// Name names a task. The name prefixes the task's errors and is
// [PanicError.Task] when it panics.
func Name(name string) TaskOption {
	return taskOptionFunc(func(c *taskConfig) { c.name = name })
}

// Timeout gives a task its own deadline, d from when it starts running. If
// the deadline fires and the task then returns the cancellation, the task's
// error matches [ErrTimeout] (as [FailAfter]'s does, saying the deadline and
// what it cut short), a failure like any other; any other error, or nil, is
// returned as it is. If the nursery's context ends first, the task sees
// that cancellation instead. Inside the task, errors.Is(context.Cause(ctx),
// ErrTimeout) tells a deadline — its own, or an enclosing FailAfter's,
// Shield's or Timeout's — from other cancellations; only its own makes the
// task's error a timeout. A d <= 0 means the deadline has already passed
// when the task starts.
func Timeout(d time.Duration) TaskOption {
	return taskOptionFunc(func(c *taskConfig) {
		c.timeout = d
		c.hasTimeout = true
	})
}

func newTaskConfig(opts []TaskOption) *taskConfig {
	if len(opts) == 0 {
		return nil
	}
	tc := new(taskConfig)
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil TaskOption")
		}
		o.applyTask(tc)
	}
	return tc
}

func (tc *taskConfig) taskName() string {
	if tc == nil {
		return ""
	}
	return tc.name
}
