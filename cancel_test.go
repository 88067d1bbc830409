package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestErrTimeoutMatchesDeadlineExceeded(t *testing.T) {
	t.Parallel()
	require.Error(t, nursery.ErrTimeout)
	assert.ErrorIs(t, nursery.ErrTimeout, context.DeadlineExceeded)
	assert.NotErrorIs(t, context.DeadlineExceeded, nursery.ErrTimeout)
}

// timeoutCase describes fn's behaviour and the parent it runs under; the
// same table drives FailAfter, MoveOnAfter and a task's Timeout.
type timeoutCase struct {
	name string
	// parent derives the parent context; nil: t.Context().
	parent func(ctx context.Context) (context.Context, context.CancelFunc)
	fn     func(ctx context.Context) error
	// elapsed is how long the call takes in fake time.
	elapsed time.Duration
	// own is true when the helper's own deadline (5s) fired first.
	own bool
	// failAfter is what FailAfter returns: nursery.ErrTimeout means "an
	// error matching ErrTimeout"; anything else must be returned unchanged
	// (matched with errors.Is, and == when exact is set).
	failAfter error
	exact     bool
	// moveOn is the error MoveOnAfter returns (nil: nil).
	moveOn error
}

const ownDeadline = 5 * time.Second

func parentTimeout(d time.Duration) func(ctx context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, d)
	}
}

func parentCancelAfter(d time.Duration, cause error) func(ctx context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(d, func() { cancel(cause) })
		return ctx, func() { timer.Stop(); cancel(nil) }
	}
}

func parentCancelled(cause error) func(ctx context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancelCause(ctx)
		cancel(cause)
		return ctx, func() { cancel(nil) }
	}
}

func timeoutCases() []timeoutCase {
	return []timeoutCase{
		{
			name:    "fn returns nil in time",
			fn:      func(context.Context) error { time.Sleep(time.Second); return nil },
			elapsed: time.Second,
		},
		{
			name:      "fn returns another error in time",
			fn:        func(context.Context) error { time.Sleep(time.Second); return errOther },
			elapsed:   time.Second,
			failAfter: errOther, exact: true,
			moveOn: errOther,
		},
		{
			name:      "own deadline, fn returns ctx.Err()",
			fn:        blockOnCtx,
			elapsed:   ownDeadline,
			own:       true,
			failAfter: nursery.ErrTimeout,
		},
		{
			name:      "own deadline, fn returns the cause",
			fn:        func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) },
			elapsed:   ownDeadline,
			own:       true,
			failAfter: nursery.ErrTimeout,
		},
		{
			name:      "own deadline, fn wraps ctx.Err()",
			fn:        func(ctx context.Context) error { <-ctx.Done(); return fmt.Errorf("query: %w", ctx.Err()) },
			elapsed:   ownDeadline,
			own:       true,
			failAfter: nursery.ErrTimeout,
		},
		{
			name:      "own deadline, fn returns context.Canceled",
			fn:        func(ctx context.Context) error { <-ctx.Done(); return context.Canceled },
			elapsed:   ownDeadline,
			own:       true,
			failAfter: nursery.ErrTimeout,
		},
		{
			name: "own deadline, fn returns another error late",
			fn: func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(time.Second)
				return errOther
			},
			elapsed:   ownDeadline + time.Second,
			own:       true,
			failAfter: errOther, exact: true,
			moveOn: errOther,
		},
		{
			name:    "own deadline, fn ignores it and returns nil late",
			fn:      func(context.Context) error { time.Sleep(2 * ownDeadline); return nil },
			elapsed: 2 * ownDeadline,
			own:     true,
		},
		{
			name:      "zero duration",
			fn:        blockOnCtx,
			elapsed:   0,
			own:       true,
			failAfter: nursery.ErrTimeout,
		},
		{
			name:      "parent deadline first",
			parent:    parentTimeout(time.Second),
			fn:        blockOnCtx,
			elapsed:   time.Second,
			failAfter: context.DeadlineExceeded, exact: true,
			moveOn: context.DeadlineExceeded,
		},
		{
			name:      "parent cancelled first, fn returns the cause",
			parent:    parentCancelAfter(time.Second, errParent),
			fn:        func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) },
			elapsed:   time.Second,
			failAfter: errParent,
			moveOn:    errParent,
		},
		{
			name:      "parent cancelled first, fn returns ctx.Err()",
			parent:    parentCancelAfter(time.Second, errParent),
			fn:        blockOnCtx,
			elapsed:   time.Second,
			failAfter: context.Canceled, exact: true,
			moveOn: context.Canceled,
		},
	}
}

func (tc timeoutCase) duration() time.Duration {
	if tc.name == "zero duration" {
		return 0
	}
	return ownDeadline
}

func (tc timeoutCase) parentCtx(t *testing.T) context.Context {
	if tc.parent == nil {
		return t.Context()
	}
	ctx, cancel := tc.parent(t.Context())
	t.Cleanup(cancel)
	return ctx
}

func checkTimeoutErr(t *testing.T, tc timeoutCase, err error) {
	t.Helper()
	switch {
	case tc.failAfter == nil:
		assert.NoError(t, err)
	case tc.failAfter == nursery.ErrTimeout:
		assert.ErrorIs(t, err, nursery.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	default:
		require.ErrorIs(t, err, tc.failAfter)
		assert.NotErrorIs(t, err, nursery.ErrTimeout, "only the helper's own deadline reports ErrTimeout")
		if tc.exact {
			assert.Equal(t, tc.failAfter, err, "the error must be returned unchanged")
		}
	}
}

func TestFailAfter(t *testing.T) {
	for _, tc := range timeoutCases() {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := tc.parentCtx(t)
				start := time.Now()
				err := nursery.FailAfter(ctx, tc.duration(), tc.fn)
				assert.Equal(t, tc.elapsed, time.Since(start), "FailAfter must return when fn returns")
				checkTimeoutErr(t, tc, err)
			})
		})
	}
}

func TestMoveOnAfter(t *testing.T) {
	for _, tc := range timeoutCases() {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := tc.parentCtx(t)
				start := time.Now()
				timedOut, err := nursery.MoveOnAfter(ctx, tc.duration(), tc.fn)
				assert.Equal(t, tc.elapsed, time.Since(start), "MoveOnAfter must return when fn returns")
				assert.Equal(t, tc.own, timedOut, "timedOut must be true exactly when its own deadline fired")
				if tc.moveOn == nil {
					assert.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, tc.moveOn)
				assert.NotErrorIs(t, err, nursery.ErrTimeout)
				if tc.exact {
					assert.Equal(t, tc.moveOn, err, "the error must be returned unchanged")
				}
			})
		})
	}
}

// A task's Timeout follows the same rules: its expiry is that task's error.
func TestTaskTimeout(t *testing.T) {
	for _, tc := range timeoutCases() {
		if tc.name == "zero duration" {
			continue // a zero Timeout may reasonably mean "no timeout"
		}
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := tc.parentCtx(t)
				n := nursery.New(ctx)
				start := time.Now()
				task := nursery.Spawn(n, func(ctx context.Context) (int, error) {
					return 1, tc.fn(ctx)
				}, nursery.Timeout(tc.duration()))
				_, err := task.Wait()
				assert.Equal(t, tc.elapsed, time.Since(start))
				checkTimeoutErr(t, tc, err)
				werr := n.Wait()
				switch {
				case tc.failAfter == nil:
					assert.NoError(t, werr)
				case tc.parent != nil:
					// Interrupted by the parent: Wait reports the parent's cause.
					assert.NotErrorIs(t, werr, nursery.ErrTimeout)
					assert.Error(t, werr)
				default:
					require.ErrorIs(t, werr, tc.failAfter, "a task's timeout or error is a failure of the nursery")
				}
			})
		})
	}
}

func TestTaskTimeoutCancelsSiblings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		sibling := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			return 0, blockOnCtx(ctx)
		})
		n.Go(blockOnCtx, nursery.Timeout(time.Second))
		_, serr := sibling.Wait()
		assert.ErrorIs(t, serr, context.Canceled, "a task's timeout is a failure and cancels siblings (fail-fast)")
		err := n.Wait()
		require.ErrorIs(t, err, nursery.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, context.Cause(n.Context()), nursery.ErrTimeout)
	})
}

func TestTaskTimeoutOnlyThatTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.CollectErrors())
		slow := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			return 0, blockOnCtx(ctx)
		}, nursery.Timeout(time.Second))
		other := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			time.Sleep(3 * time.Second)
			return 3, ctx.Err()
		}, nursery.Timeout(time.Hour))
		_, err := slow.Wait()
		require.ErrorIs(t, err, nursery.ErrTimeout)
		v, err := other.Wait()
		require.NoError(t, err, "another task's timeout must not touch this task")
		assert.Equal(t, 3, v)
		require.ErrorIs(t, n.Wait(), nursery.ErrTimeout)
	})
}

// Sibling failure first: the timed task's cancellation is not a timeout.
func TestTaskTimeoutSiblingFailureFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		timed := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			return 0, blockOnCtx(ctx)
		}, nursery.Timeout(5*time.Second))
		n.Go(func(context.Context) error { time.Sleep(time.Second); return errBoom })
		_, err := timed.Wait()
		assert.NotErrorIs(t, err, nursery.ErrTimeout)
		werr := n.Wait()
		require.ErrorIs(t, werr, errBoom)
		assert.NotErrorIs(t, werr, nursery.ErrTimeout)
		assert.NotErrorIs(t, werr, context.Canceled)
	})
}

func TestFailAfterPanicPropagates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, panicked := catchPanic(func() {
			_ = nursery.FailAfter(t.Context(), time.Second, func(context.Context) error { panic("in fail-after") })
		})
		require.True(t, panicked, "FailAfter must not swallow a panic")
		var pe *nursery.PanicError
		if err, ok := r.(error); ok && errors.As(err, &pe) {
			assert.Equal(t, "in fail-after", pe.Value)
		} else {
			assert.Equal(t, "in fail-after", r)
		}
	})
}

func TestShield(t *testing.T) {
	type ctxKey struct{}
	tests := []struct {
		name    string
		parent  func(ctx context.Context) (context.Context, context.CancelFunc)
		fn      func(ctx context.Context) error
		elapsed time.Duration
		want    error // nursery.ErrTimeout: matches ErrTimeout; else exact
	}{
		{
			name:    "parent already cancelled: fn still runs to completion",
			parent:  parentCancelled(errParent),
			fn:      func(ctx context.Context) error { time.Sleep(2 * time.Second); return ctx.Err() },
			elapsed: 2 * time.Second,
		},
		{
			name:    "parent cancelled while fn runs",
			parent:  parentCancelAfter(time.Second, errParent),
			fn:      func(ctx context.Context) error { time.Sleep(3 * time.Second); return ctx.Err() },
			elapsed: 3 * time.Second,
		},
		{
			name:    "parent deadline is ignored, own deadline applies",
			parent:  parentTimeout(time.Second),
			fn:      blockOnCtx,
			elapsed: ownDeadline,
			want:    nursery.ErrTimeout,
		},
		{
			name:    "own deadline",
			fn:      func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) },
			elapsed: ownDeadline,
			want:    nursery.ErrTimeout,
		},
		{
			name:    "other error unchanged",
			parent:  parentCancelled(errParent),
			fn:      func(context.Context) error { return errOther },
			elapsed: 0,
			want:    errOther,
		},
		{
			name:    "nil late is success",
			fn:      func(context.Context) error { time.Sleep(2 * ownDeadline); return nil },
			elapsed: 2 * ownDeadline,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.WithValue(t.Context(), ctxKey{}, "kept")
				if tt.parent != nil {
					var cancel context.CancelFunc
					ctx, cancel = tt.parent(ctx)
					defer cancel()
				}
				start := time.Now()
				var sawValue atomic.Value
				err := nursery.Shield(ctx, ownDeadline, func(ctx context.Context) error {
					sawValue.Store(ctx.Value(ctxKey{}))
					return tt.fn(ctx)
				})
				assert.Equal(t, tt.elapsed, time.Since(start))
				assert.Equal(t, "kept", sawValue.Load(), "Shield must keep the parent's values")
				switch {
				case tt.want == nil:
					assert.NoError(t, err)
				case tt.want == nursery.ErrTimeout:
					assert.ErrorIs(t, err, nursery.ErrTimeout)
					assert.ErrorIs(t, err, context.DeadlineExceeded)
				default:
					assert.Equal(t, tt.want, err)
				}
			})
		})
	}
}

// The reason Shield exists: cleanup that must run while everything else is
// being cancelled.
func TestShieldCleanupDuringCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		var cleaned atomic.Bool
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			err := nursery.Shield(ctx, time.Minute, func(ctx context.Context) error {
				time.Sleep(time.Second) // e.g. flush a buffer
				if ctx.Err() != nil {
					return ctx.Err()
				}
				cleaned.Store(true)
				return nil
			})
			if err != nil {
				return err
			}
			return context.Cause(ctx)
		})
		n.Go(func(context.Context) error { time.Sleep(time.Second); return errBoom })
		err := n.Wait()
		require.ErrorIs(t, err, errBoom)
		assert.True(t, cleaned.Load(), "the shielded cleanup did not run to completion")
	})
}
