package nursery

import (
	"context"
	"errors"
	"time"
)

// ErrTimeout is the error of a scope whose own deadline cut it short: from
// [FailAfter], [Shield], and a task started with [Timeout]. errors.Is(err,
// context.DeadlineExceeded) also holds for it.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string        { return "nursery: timeout" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// scopeDeadline is the cancellation cause of one deadline scope. Each scope
// gets its own value so that, when scopes nest, a scope can tell its own
// deadline from an outer one that fired first.
type scopeDeadline struct{}

func (*scopeDeadline) Error() string { return "nursery: timeout" }
func (*scopeDeadline) Timeout() bool { return true }
func (*scopeDeadline) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// within runs fn with a context derived from base that ends d from now. It
// reports whether that deadline, rather than base, ended the context, and
// whether fn's error is just the resulting cancellation.
func within(base context.Context, d time.Duration, fn func(context.Context) error) (fired, cancelled bool, err error) {
	cause := new(scopeDeadline)
	ctx, cancel := context.WithTimeoutCause(base, d, cause)
	defer cancel()
	err = fn(ctx)
	fired = context.Cause(ctx) == error(cause)
	return fired, fired && err != nil && isCancellation(err, ctx), err
}

// isCancellation reports whether err only says that ctx was cancelled: ctx
// is done and err is context.Canceled, ctx's cause, or — when a deadline
// ended ctx — context.DeadlineExceeded (each possibly wrapped). A
// DeadlineExceeded from elsewhere, while ctx was merely cancelled, is a
// real failure: some inner deadline of the task's own ran out.
func isCancellation(err error, ctx context.Context) bool {
	cerr := ctx.Err()
	if cerr == nil {
		return false
	}
	return errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) && errors.Is(cerr, context.DeadlineExceeded) ||
		errors.Is(err, context.Cause(ctx))
}

// FailAfter runs fn with a context that ends d from now and returns fn's
// error. If that deadline fires and fn then returns the cancellation (an
// error matching context.DeadlineExceeded, context.Canceled or the
// context's cause), FailAfter returns [ErrTimeout]. Any other error is
// returned unchanged, even after the deadline, and nil is success, in time
// or late. If ctx ends first, fn's error is returned unchanged. FailAfter
// runs fn in the calling goroutine, so it returns only after fn has.
// A d <= 0 means the deadline has already passed.
func FailAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	checkCall(ctx, fn)
	_, timedOut, err := within(ctx, d, fn)
	if timedOut {
		return ErrTimeout
	}
	return err
}

// MoveOnAfter runs fn with a context that ends d from now. It reports
// timedOut whenever that deadline fired, and then returns a nil error in
// place of the cancellation fn returned — never in place of another error.
// If ctx ends first, timedOut is false and fn's error is returned unchanged.
// MoveOnAfter returns only after fn has.
func MoveOnAfter(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) (timedOut bool, err error) {
	checkCall(ctx, fn)
	fired, cancelled, err := within(ctx, d, fn)
	if cancelled {
		err = nil
	}
	return fired, err
}

// Shield runs fn with a context that keeps ctx's values but ignores its
// cancellation and deadline (see context.WithoutCancel), bounded instead by
// its own deadline d from now; that deadline reports [ErrTimeout] as in
// [FailAfter]. Use it for cleanup that must run while everything around it
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
