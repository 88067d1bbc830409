package nursery

import (
	"context"
	"reflect"
	"time"
)

// ErrTimeout matches the error of a scope whose own deadline cut it short:
// from [FailAfter], [Shield], and a task started with [Timeout]. Test for it
// with errors.Is; the error itself says which deadline fired and what it cut
// short ("timeout after 2s: Get ...: context deadline exceeded").
// errors.Is(err, context.DeadlineExceeded) also holds for it.
var ErrTimeout error = timeoutSentinel{}

type timeoutSentinel struct{}

func (timeoutSentinel) Error() string        { return "nursery: timeout" }
func (timeoutSentinel) Timeout() bool        { return true }
func (timeoutSentinel) Is(target error) bool { return target == context.DeadlineExceeded }

// timeoutError is the error of one deadline scope. As a context's cause
// (err nil) it is the scope's identity: each scope makes its own, so that
// when scopes nest, a scope tells its own deadline from an outer one that
// fired first. The type has a size, so every new value has its own address.
// As the scope's result, err is what the deadline cut short.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	s := "timeout after " + e.d.String()
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *timeoutError) Timeout() bool { return true }
func (e *timeoutError) Unwrap() error { return e.err }
func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// runWithDeadline runs fn with a context derived from base that ends d from now. It
// reports whether that deadline, rather than base, ended the context, and,
// when fn's error is just the resulting cancellation, the timeout to report
// in its place.
func runWithDeadline(base context.Context, d time.Duration, fn func(context.Context) error) (fired bool, timeout, err error) {
	cause := &timeoutError{d: d}
	ctx, cancel := context.WithTimeoutCause(base, d, cause)
	defer cancel()
	err = fn(ctx)
	if context.Cause(ctx) != error(cause) {
		return false, nil, err
	}
	if err == nil || !isCancellation(err, ctx) {
		return true, nil, err
	}
	if err == error(cause) {
		return true, cause, err
	}
	return true, &timeoutError{d: d, err: err}, err
}

// isCancellation reports whether err only passes on ctx's cancellation,
// and so is no failure. It is called as the function that returned err
// returns, and holds when ctx is done and every leaf of err — each error
// it joins, followed through wrapping — is context.Canceled,
// context.DeadlineExceeded when a deadline ended ctx, or ctx's cause
// itself: the same value, compared with ==. A cause wrapped by the task
// still counts — net/http, for one, returns a request's context.Cause
// inside a *url.Error — but an error that merely matches the cause with
// errors.Is (another error wrapping the same sentinel) does not.
//
// A DeadlineExceeded from elsewhere, while ctx was merely cancelled, is a
// real failure: some inner deadline of the task's own ran out.
func isCancellation(err error, ctx context.Context) bool {
	cerr := ctx.Err()
	if cerr == nil || err == nil {
		return false
	}
	cause := context.Cause(ctx)
	if cause != nil && !reflect.TypeOf(cause).Comparable() {
		cause = nil
	}
	return passesOn(err, cerr, cause)
}

// withoutCancellation returns err without the parts of its join that only
// pass ctx's cancellation on: a nested nursery's Wait, interrupted by this
// nursery's own cancellation, reports real failures joined with that
// cancellation, whose cause this nursery has reported already — or, if it
// came from above, reports once itself. It never changes err: it makes a
// new join of the parts kept (the same error if nothing is dropped).
// Errors wrapped around the join are left as they are.
func withoutCancellation(err error, ctx context.Context) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || ctx.Err() == nil {
		return err
	}
	parts := j.Unwrap()
	keep := make([]error, 0, len(parts))
	for _, p := range parts {
		if p != nil && !isCancellation(p, ctx) {
			keep = append(keep, p)
		}
	}
	if len(keep) == len(parts) || len(keep) == 0 {
		return err
	}
	return join(keep)
}

// passesOn is isCancellation's walk over err.
func passesOn(err, cerr, cause error) bool {
	if cause != nil && err == cause {
		return true
	}
	switch err {
	case context.Canceled:
		return true
	case context.DeadlineExceeded:
		return cerr == context.DeadlineExceeded
	}
	switch e := err.(type) {
	case *TaskError:
		return e.Err != nil && passesOn(e.Err, cerr, cause)
	case *indexed:
		return e.err != nil && passesOn(e.err, cerr, cause)
	case *timeoutError:
		// A deadline of the task's own; the cause was matched above.
		return false
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, err := range errs {
			if err == nil || !passesOn(err, cerr, cause) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		inner := e.Unwrap()
		return inner != nil && passesOn(inner, cerr, cause)
	}
	return false
}

// FailAfter runs fn with a context that ends d from now and returns fn's
// error. If that deadline fires and fn then returns the cancellation (an
// error matching context.DeadlineExceeded, context.Canceled or the
// context's cause), FailAfter returns an error matching [ErrTimeout] and
// context.DeadlineExceeded that says which deadline fired and wraps what
// fn returned ("timeout after 2s: Get ...: context deadline exceeded").
// Any other error is returned unchanged, even after the deadline, and nil is
// success, in time or late. If ctx ends first — an outer FailAfter's
// deadline, say — fn's error is returned unchanged. FailAfter runs fn in the
// calling goroutine, so it returns only after fn has.
// A d <= 0 means the deadline has already passed.
func FailAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	checkCall(ctx, fn)
	_, timeout, err := runWithDeadline(ctx, d, fn)
	if timeout != nil {
		return timeout
	}
	return err
}

// MoveOnAfter runs fn with a context that ends d from now. It reports
// timedOut whenever that deadline fired, and then returns a nil error in
// place of the cancellation fn returned — never in place of another error.
// If ctx ends first — an outer MoveOnAfter's deadline, say — timedOut is
// false and fn's error is returned unchanged, so the outer scope sees it.
// MoveOnAfter returns only after fn has.
func MoveOnAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) (timedOut bool, err error) {
	checkCall(ctx, fn)
	fired, timeout, err := runWithDeadline(ctx, d, fn)
	if timeout != nil {
		err = nil
	}
	return fired, err
}

// Shield runs fn with a context that keeps ctx's values but ignores its
// cancellation and deadline (see context.WithoutCancel), bounded instead by
// its own deadline d from now; that deadline reports an error matching
// [ErrTimeout] as in [FailAfter]. Use it for cleanup that must run while everything around it
// is being cancelled, for example closing a session after a failure.
// Shield returns only after fn has.
func Shield(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	checkCall(ctx, fn)
	return FailAfter(context.WithoutCancel(ctx), d, fn)
}

func checkCall(ctx context.Context, fn func(context.Context) error) {
	if ctx == nil {
		panic("nursery: nil Context")
	}
	if fn == nil {
		panic("nursery: nil function")
	}
}
