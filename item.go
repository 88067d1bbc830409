package nursery

import (
	"context"
	"runtime/debug"
	"sync/atomic"
)

// item is one task waiting to run: either a plain function from Go or a
// runner (Spawn and Start).
type item struct {
	fn   func(context.Context) error
	task runner
	tc   *taskConfig
	pool workerPool // the pool counting it as started, once a worker took it
}

// runner is the part of a typed task that the untyped nursery drives.
type runner interface {
	// claim moves the task from queued to running and reports whether the
	// caller won it; exactly one caller does.
	claim() bool
	// context returns the context the task runs with.
	context() context.Context
	// call runs the task's function and keeps its value.
	call(ctx context.Context) error
	// ownsOutcome reports whether the outcome belongs to the task alone
	// and must not count toward the nursery (a Start before ready).
	ownsOutcome(err error, panicked *PanicError) bool
	// finish publishes the task's outcome to its waiters.
	finish(err error)
	// cancelledAlone reports whether the task was cancelled by Task.Cancel
	// before anything else cancelled it.
	cancelledAlone() bool
}

func (it item) call(ctx context.Context) error {
	if t := it.tc.debugInfo(); t != nil {
		var alone *atomic.Bool
		if c, ok := ctx.(*taskContext); ok {
			alone = &c.alone
		}
		defer t.End()
		return it.callPlain(t.Begin(ctx, alone))
	}
	return it.callPlain(ctx)
}

func (it item) callPlain(ctx context.Context) error {
	if it.fn != nil {
		return it.fn(ctx)
	}
	return it.task.call(ctx)
}

// outcome is how a task's function ended, as settle accounts for it.
type outcome struct {
	how   ending
	err   error       // what it returned
	panic *PanicError // what it panicked with
}

// ending says how a task's function ended.
type ending uint8

const (
	// stillRunning: the function has not returned; if a deferred call
	// sees this, it panicked or called runtime.Goexit.
	stillRunning ending = iota
	// returned: it returned err (perhaps nil) while its context was live,
	// so err, if any, is a failure.
	returned
	// returnedLate: it returned a non-nil err once its context was done,
	// so err may only pass the cancellation on (see isCancellation).
	returnedLate
	// panicked: it panicked; panic holds the value.
	panicked
	// exited: it called runtime.Goexit, and there is no result.
	exited
)

// returnedFrom is the outcome of a function that returned err when its
// context was ctx.
func returnedFrom(err error, ctx context.Context) outcome {
	if err != nil && ctx.Err() != nil {
		return outcome{how: returnedLate, err: err}
	}
	return outcome{how: returned, err: err}
}

// ended is the outcome of a function that did not return: r is what
// recover returned in its deferred call (nil: runtime.Goexit).
func ended(r any, tc *taskConfig) outcome {
	if r == nil {
		return outcome{how: exited}
	}
	return outcome{how: panicked, panic: asPanicError(r, tc)}
}

// failure is the error the outcome reports: what was returned, the
// *PanicError, or errGoexit.
func (o outcome) failure() error {
	switch o.how {
	case panicked:
		return o.panic
	case exited:
		return errGoexit
	}
	return o.err
}

// asPanicError turns a value recovered from the task configured by tc
// into a *PanicError. A value that already is one is kept, so that the
// original stack stays the only one and the message does not repeat
// itself; it is never changed, as another nursery (or a Task's waiter)
// may hold it too. One re-raised as it came from elsewhere — a subprocess
// call's remote panic — is reported as a copy that names the task; one
// that a nested nursery's Wait re-panicked already names where it happened.
func asPanicError(r any, tc *taskConfig) *PanicError {
	task, origin := tc.taskName(), tc.debugInfo()
	pe, ok := r.(*PanicError)
	if !ok {
		return &PanicError{Value: r, Stack: debug.Stack(), Task: task, origin: origin}
	}
	if pe.raised || (pe.Task != "" || task == "") && (pe.origin != nil || origin == nil) {
		return pe
	}
	c := *pe
	if c.Task == "" {
		c.Task = task
	}
	if c.origin == nil {
		c.origin = origin
	}
	return &c
}
