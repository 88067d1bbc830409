package nursery_test

// Conformance suite ported from Trio, part 2: cancel scopes, deadlines and
// shielding from src/trio/_core/_tests/test_run.py, and
// src/trio/_tests/test_timeouts.py. The mapping, the deliberate
// differences, the helpers and the list of what was not ported are at the
// top of conformance_trio_test.go.
//
// The rule these tests press hardest: each deadline scope (FailAfter,
// MoveOnAfter, Shield, a task's Timeout) recognises only its own deadline.
// When an enclosing deadline fires first, the inner scope returns fn's
// cancellation unchanged — not ErrTimeout, not timedOut — and the
// enclosing scope, whose deadline it was, reports it (Trio: the Cancelled
// propagates to the scope that was cancelled, which alone catches it).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// trioCtxKey carries a value through scopes.
type trioCtxKey struct{}

// Ported from trio src/trio/_core/_tests/test_run.py test_basic_timeout and
// src/trio/_tests/test_timeouts.py test_move_on_after and test_fail: a
// scope whose deadline passes cancels its body at exactly that time;
// move_on_after swallows the Cancelled, fail_after raises TooSlowError
// (ours: MoveOnAfter reports timedOut with a nil error, FailAfter returns
// ErrTimeout itself). A scope whose deadline does not fire reports nothing.
func TestConformanceTrioBasicTimeout(t *testing.T) {
	t.Parallel()
	t.Run("MoveOnAfter fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			t0 := time.Now()
			timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return trioSleep(ctx, 100*time.Second)
			})
			assert.True(t, timedOut)
			require.NoError(t, err)
			assert.Equal(t, time.Second, time.Since(t0))
			assert.NoError(t, t.Context().Err(), "the scope's cancellation does not leak out of it")
		})
	})
	t.Run("FailAfter fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			t0 := time.Now()
			err := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return trioSleep(ctx, 100*time.Second)
			})
			assertOwnTimeout(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("in time", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			t0 := time.Now()
			timedOut, err := nursery.MoveOnAfter(t.Context(), 100*time.Second, func(ctx context.Context) error {
				return trioSleep(ctx, 0)
			})
			assert.False(t, timedOut)
			require.NoError(t, err)
			require.NoError(t, nursery.FailAfter(t.Context(), 100*time.Second, func(ctx context.Context) error {
				return trioSleep(ctx, time.Second)
			}))
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("wrapped cancellation", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			err := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return fmt.Errorf("reading: %w", trioSleepForever(ctx))
			})
			assertOwnTimeout(t, err, "the cancellation, wrapped, is still the cancellation")
			err = nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				<-ctx.Done()
				return context.Cause(ctx)
			})
			assertOwnTimeout(t, err, "returning context.Cause is returning the cancellation")
		})
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting
// ("if a scope is pending, but then gets popped off the stack, then it
// isn't delivered"): a deadline that fires while the body finishes
// without checking does not fail it. Ours: MoveOnAfter still says
// timedOut ("whenever that deadline fired") with a nil error; FailAfter
// returns nil ("nil is success, in time or late"); the context outside is
// untouched.
func TestConformanceTrioDeadlineFiredButBodySucceeded(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		late := func(ctx context.Context) error {
			time.Sleep(2 * time.Second) // does not check ctx
			return nil
		}
		timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, late)
		assert.True(t, timedOut)
		require.NoError(t, err)
		require.NoError(t, nursery.FailAfter(t.Context(), time.Second, late))
		assert.NoError(t, t.Context().Err())
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py
// test_cancel_scope_no_cancellederror: a cancelled scope that sees an error
// which is not a Cancelled does not catch it. Ours: after the deadline, an
// error that is not the cancellation comes out unchanged, and MoveOnAfter
// still says its deadline fired.
func TestConformanceTrioDeadlineOtherErrorUnchanged(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		group := errors.Join(errors.New("RuntimeError 1"), errors.New("RuntimeError 2"))
		fn := func(ctx context.Context) error {
			<-ctx.Done()
			return group
		}
		timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, fn)
		assert.True(t, timedOut)
		assert.Same(t, group, err)
		assert.Same(t, group, nursery.FailAfter(t.Context(), time.Second, fn))
		assert.Same(t, group, nursery.Shield(t.Context(), time.Second, fn))
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py
// test_cancel_scope_exceptiongroup_filtering, for deadline scopes: a scope
// strips only the Cancelled from a group and re-raises the rest. Ours:
// MoveOnAfter returns nil "in place of the cancellation fn returned — never
// in place of another error", and FailAfter returns "any other error ...
// unchanged": a real error joined with the cancellation must come out.
func TestConformanceTrioDeadlineKeepsRealErrorInGroup(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		errKey := errors.New("KeyError")
		fn := func(ctx context.Context) error {
			err := trioSleepForever(ctx)
			return errors.Join(err, errKey) // cleanup failed while cancelled
		}
		timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, fn)
		assert.True(t, timedOut)
		assert.ErrorIs(t, err, errKey, "MoveOnAfter swallowed a real error")
		assert.ErrorIs(t, nursery.FailAfter(t.Context(), time.Second, fn), errKey, "FailAfter replaced a real error")
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting
// (the innermost pending scope does not catch what an outer scope
// delivered; the scope that was cancelled catches it, nothing above it
// sees anything). Each case nests deadline scopes and lets one of them
// fire; only that one may report a timeout.
func TestConformanceTrioCancelScopeNesting(t *testing.T) {
	t.Parallel()

	t.Run("MoveOnAfter in MoveOnAfter, outer fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerTimedOut bool
			var innerErr error
			t0 := time.Now()
			outerTimedOut, outerErr := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
				innerTimedOut, innerErr = nursery.MoveOnAfter(ctx, 5*time.Second, trioSleepForever)
				return innerErr
			})
			assert.False(t, innerTimedOut, "the inner scope's deadline did not fire")
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded, "the inner scope returns the outer cancellation unchanged")
			assert.NotErrorIs(t, innerErr, nursery.ErrTimeout)
			assert.True(t, outerTimedOut)
			require.NoError(t, outerErr)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})

	t.Run("MoveOnAfter in MoveOnAfter, inner fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerTimedOut bool
			var innerErr error
			t0 := time.Now()
			outerTimedOut, outerErr := nursery.MoveOnAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				innerTimedOut, innerErr = nursery.MoveOnAfter(ctx, time.Second, trioSleepForever)
				return ctx.Err() // the outer context is still live
			})
			assert.True(t, innerTimedOut)
			require.NoError(t, innerErr)
			assert.False(t, outerTimedOut)
			require.NoError(t, outerErr)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})

	t.Run("three levels, the middle fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var t2, t3 bool
			var e2, e3 error
			t1, e1 := nursery.MoveOnAfter(t.Context(), 10*time.Second, func(ctx context.Context) error {
				t2, e2 = nursery.MoveOnAfter(ctx, time.Second, func(ctx context.Context) error {
					t3, e3 = nursery.MoveOnAfter(ctx, 5*time.Second, trioSleepForever)
					return e3
				})
				return e2
			})
			assert.False(t, t3, "scope3 did not fire")
			assert.ErrorIs(t, e3, context.DeadlineExceeded)
			assert.True(t, t2, "scope2 fired and catches")
			require.NoError(t, e2)
			assert.False(t, t1, "scope1 sees nothing")
			require.NoError(t, e1)
		})
	})

	t.Run("FailAfter in FailAfter, outer fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerErr error
			outerErr := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				innerErr = nursery.FailAfter(ctx, 5*time.Second, trioSleepForever)
				return innerErr
			})
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded)
			assert.NotErrorIs(t, innerErr, nursery.ErrTimeout, "the inner FailAfter's own deadline did not fire")
			assertOwnTimeout(t, outerErr)
		})
	})

	t.Run("FailAfter in FailAfter, inner fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerErr error
			t0 := time.Now()
			outerErr := nursery.FailAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				innerErr = nursery.FailAfter(ctx, time.Second, trioSleepForever)
				if ctx.Err() != nil {
					return errors.New("the outer context was cancelled by the inner deadline")
				}
				return innerErr
			})
			assertOwnTimeout(t, innerErr)
			assertOwnTimeout(t, outerErr, "TooSlowError propagates through the outer scope unchanged")
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})

	t.Run("MoveOnAfter in FailAfter, outer fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerTimedOut bool
			var innerErr error
			outerErr := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				innerTimedOut, innerErr = nursery.MoveOnAfter(ctx, 5*time.Second, trioSleepForever)
				return innerErr
			})
			assert.False(t, innerTimedOut)
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded)
			assertOwnTimeout(t, outerErr)
		})
	})

	t.Run("FailAfter in MoveOnAfter, outer fires", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerErr error
			outerTimedOut, outerErr := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
				innerErr = nursery.FailAfter(ctx, 5*time.Second, trioSleepForever)
				return innerErr
			})
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded)
			assert.NotErrorIs(t, innerErr, nursery.ErrTimeout)
			assert.True(t, outerTimedOut)
			require.NoError(t, outerErr)
		})
	})

	t.Run("inner scope sees the outer cause", func(t *testing.T) {
		// Inside the inner scope, context.Cause tells whose deadline
		// fired: a scope that did not fire must not look like its own
		// timeout to the code it runs.
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var innerCause, outerCause error
			_, _ = nursery.MoveOnAfter(t.Context(), time.Second, func(octx context.Context) error {
				_, err := nursery.MoveOnAfter(octx, 5*time.Second, func(ictx context.Context) error {
					err := trioSleepForever(ictx)
					innerCause = context.Cause(ictx)
					return err
				})
				outerCause = context.Cause(octx)
				return err
			})
			assert.Equal(t, outerCause, innerCause, "the inner context's cause is the outer scope's")
		})
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_unbound
// (a cancel scope cancelled before or after entry wraps fail_after(1): the
// task ends by that cancellation, at once, and fail_after does not turn it
// into TooSlowError) and test_cancel_scope_nesting: a cancellation or
// deadline from outside is not the scope's own.
func TestConformanceTrioOuterCancellationIsNotOwnTimeout(t *testing.T) {
	t.Parallel()
	errCancelTrio := errors.New("scope cancelled")
	for _, tt := range []struct {
		name    string
		parent  func(ctx context.Context) (context.Context, func())
		elapsed time.Duration
		want    error // errors.Is
	}{
		{
			name: "cancelled before entry",
			parent: func(ctx context.Context) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(ctx)
				cancel(errCancelTrio)
				return ctx, func() {}
			},
			want: context.Canceled,
		},
		{
			name: "cancelled after entry",
			parent: func(ctx context.Context) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(ctx)
				timer := time.AfterFunc(time.Second/2, func() { cancel(errCancelTrio) })
				return ctx, func() { timer.Stop(); cancel(nil) }
			},
			elapsed: time.Second / 2,
			want:    context.Canceled,
		},
		{
			name: "earlier parent deadline",
			parent: func(ctx context.Context) (context.Context, func()) {
				ctx, cancel := context.WithTimeout(ctx, time.Second/2)
				return ctx, func() { cancel() }
			},
			elapsed: time.Second / 2,
			want:    context.DeadlineExceeded,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			trioBubble(t, func(t *testing.T) {
				ctx, release := tt.parent(t.Context())
				defer release()
				t0 := time.Now()
				err := nursery.FailAfter(ctx, time.Second, trioSleepForever)
				assert.ErrorIs(t, err, tt.want)
				assert.NotErrorIs(t, err, nursery.ErrTimeout)
				assert.NotErrorIs(t, err, nursery.ErrTimeout, "the outer cancellation is not FailAfter's timeout")
				timedOut, merr := nursery.MoveOnAfter(ctx, time.Second, trioSleepForever)
				assert.False(t, timedOut, "the outer cancellation is not MoveOnAfter's timeout")
				assert.ErrorIs(t, merr, tt.want, "returned unchanged")
				assert.Equal(t, tt.elapsed, time.Since(t0))
			})
		})
	}
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting
// and test_cancel_inheritance, for a nursery inside a deadline scope (Trio:
// `with move_on_after(1): async with open_nursery() as n:
// n.start_soon(sleep_forever)`): the scope's deadline cancels every task;
// the nursery reports the interruption once, and the scope turns it into
// its own outcome.
func TestConformanceTrioNurseryInsideDeadline(t *testing.T) {
	t.Parallel()
	body := func(n *nursery.Nursery) error {
		n.Go(trioSleepForever)
		n.Go(trioSleepForever)
		return nil
	}
	t.Run("MoveOnAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var runErr error
			t0 := time.Now()
			timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
				runErr = nursery.Run(ctx, body)
				return runErr
			})
			assert.True(t, timedOut)
			require.NoError(t, err)
			assert.ErrorIs(t, runErr, context.DeadlineExceeded, "the nursery says it was interrupted")
			assert.Equal(t, 1, trioCount(runErr, "timeout after 1s"), "once: %v", runErr)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("FailAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			err := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return nursery.Run(ctx, body)
			})
			assertOwnTimeout(t, err)
		})
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_inheritance
// and test_task_crash_propagation, for a deadline scope inside a task: a
// sibling's crash cancels the scope's body; the scope did not time out and
// passes the cancellation on; the nursery reports only the crash.
func TestConformanceTrioDeadlineInsideCancelledNursery(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		crash := errors.New("crash")
		var timedOut bool
		var moveErr error
		n := nursery.New(t.Context())
		n.Go(func(ctx context.Context) error {
			timedOut, moveErr = nursery.MoveOnAfter(ctx, 5*time.Second, trioSleepForever)
			return moveErr
		})
		n.Go(func(ctx context.Context) error {
			time.Sleep(time.Second)
			return crash
		})
		err := n.Wait()
		assert.False(t, timedOut)
		assert.ErrorIs(t, moveErr, context.Canceled)
		assert.Same(t, crash, err)
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting,
// for the Timeout task option (a task's own deadline) inside FailAfter or
// MoveOnAfter: only the deadline that fired reports a timeout.
func TestConformanceTrioTimeoutTaskInsideDeadline(t *testing.T) {
	t.Parallel()
	t.Run("FailAfter fires first", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var runErr error
			t0 := time.Now()
			err := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				runErr = nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(trioSleepForever, nursery.Timeout(5*time.Second), nursery.Name("task"))
					return nil
				})
				return runErr
			})
			assertOwnTimeout(t, err)
			assert.NotContains(t, runErr.Error(), "task:", "the task's own deadline did not fire: not a task failure: %v", runErr)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("task deadline fires first", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			t0 := time.Now()
			var outerLive bool
			err := nursery.FailAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				err := nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(trioSleepForever, nursery.Timeout(time.Second), nursery.Name("task"))
					return nil
				})
				outerLive = ctx.Err() == nil
				return err
			})
			assert.True(t, outerLive, "the task's deadline does not cancel the scope around its nursery")
			require.ErrorIs(t, err, nursery.ErrTimeout)
			assert.EqualError(t, err, "task: timeout after 1s: context deadline exceeded", "the task's own timeout, named, passed through unchanged")
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("MoveOnAfter fires first", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(trioSleepForever, nursery.Timeout(5*time.Second))
					return nil
				})
			})
			assert.True(t, timedOut)
			require.NoError(t, err)
		})
	})
	t.Run("task deadline fires first under MoveOnAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			timedOut, err := nursery.MoveOnAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(trioSleepForever, nursery.Timeout(time.Second))
					return nil
				})
			})
			assert.False(t, timedOut)
			assert.ErrorIs(t, err, nursery.ErrTimeout, "the task's failure is not MoveOnAfter's to swallow")
		})
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting:
// a Timeout task under a deadline scope that fires first (FailAfter, or the
// Timeout of an enclosing task). Ours: inside the task, the context's cause
// says a deadline ended it (errors.Is ErrTimeout), whichever deadline it
// was — the cause is inherited from above — but only the task's own
// deadline makes its error a timeout: here it was interrupted, and only the
// scope whose deadline fired reports the timeout.
func TestConformanceTrioTimeoutTaskTellsOwnDeadlineFromOuter(t *testing.T) {
	t.Parallel()
	t.Run("own deadline", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var cause error
			n := nursery.New(t.Context())
			n.Go(func(ctx context.Context) error {
				err := trioSleepForever(ctx)
				cause = context.Cause(ctx)
				return err
			}, nursery.Timeout(time.Second))
			require.ErrorIs(t, n.Wait(), nursery.ErrTimeout)
			assert.ErrorIs(t, cause, nursery.ErrTimeout)
		})
	})
	t.Run("under FailAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var cause error
			err := nursery.FailAfter(t.Context(), time.Second, func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(func(ctx context.Context) error {
						err := trioSleepForever(ctx)
						cause = context.Cause(ctx)
						return err
					}, nursery.Timeout(5*time.Second))
					return nil
				})
			})
			assertOwnTimeout(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "timeout after 1s"), "FailAfter's deadline, not the task's: %v", err)
			require.Error(t, cause)
			assert.ErrorIs(t, cause, nursery.ErrTimeout, "a deadline above ended the task: %v", cause)
		})
	})
	t.Run("under an enclosing task's Timeout", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			var cause, innerRunErr error
			n := nursery.New(t.Context())
			n.Go(func(ctx context.Context) error {
				innerRunErr = nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(func(ctx context.Context) error {
						err := trioSleepForever(ctx)
						cause = context.Cause(ctx)
						return err
					}, nursery.Timeout(5*time.Second), nursery.Name("inner-task"))
					return nil
				})
				return innerRunErr
			}, nursery.Timeout(time.Second), nursery.Name("outer-task"))
			err := n.Wait()
			require.ErrorIs(t, err, nursery.ErrTimeout)
			assert.NotContains(t, err.Error(), "inner-task", "only the outer task timed out: %v", err)
			assert.True(t, strings.HasPrefix(err.Error(), "outer-task: timeout after 1s"), "only the outer task timed out: %v", err)
			assert.NotContains(t, innerRunErr.Error(), "inner-task", "the inner task did not time out: %v", innerRunErr)
			require.Error(t, cause)
			assert.ErrorIs(t, cause, nursery.ErrTimeout, "a deadline above ended the inner task: %v", cause)
		})
	})
}

// Ported from trio src/trio/_tests/test_timeouts.py
// test_timeout_deadline_on_entry: a relative deadline counts from when the
// scope is entered, not from when it was made. Ours: a Timeout task's
// deadline counts from when the task starts running (here, queued behind
// WithLimit(1) for 3s), and FailAfter/MoveOnAfter from the call.
func TestConformanceTrioTimeoutDeadlineOnEntry(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		t0 := time.Now()
		var deadline time.Time
		var ok bool
		n := nursery.New(t.Context(), nursery.WithLimit(1))
		n.Go(func(ctx context.Context) error { return trioSleep(ctx, 3*time.Second) })
		n.Go(func(ctx context.Context) error {
			deadline, ok = ctx.Deadline()
			return nil
		}, nursery.Timeout(5*time.Second))
		require.NoError(t, n.Wait())
		require.True(t, ok)
		assert.Equal(t, t0.Add(8*time.Second), deadline, "5s from when the task started, 3s after Go")

		time.Sleep(3 * time.Second)
		start := time.Now()
		require.NoError(t, nursery.FailAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
			deadline, ok = ctx.Deadline()
			return nil
		}))
		require.True(t, ok)
		assert.Equal(t, start.Add(5*time.Second), deadline)
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py
// test_current_effective_deadline: the effective deadline is the earliest
// of the enclosing scopes', and a shield replaces the outer ones with its
// own, also after the outer scope was cancelled. Ours: ctx.Deadline().
func TestConformanceTrioCurrentEffectiveDeadline(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		_, ok := t.Context().Deadline()
		assert.False(t, ok, "no deadline outside every scope")
		start := time.Now()
		deadlineOf := func(ctx context.Context) time.Time {
			d, ok := ctx.Deadline()
			require.True(t, ok)
			return d
		}
		_, err := nursery.MoveOnAfter(t.Context(), 5*time.Second, func(ctx1 context.Context) error {
			_, err := nursery.MoveOnAfter(ctx1, 10*time.Second, func(ctx2 context.Context) error {
				assert.Equal(t, start.Add(5*time.Second), deadlineOf(ctx2))
				return nil
			})
			require.NoError(t, err)
			_, err = nursery.MoveOnAfter(ctx1, 3*time.Second, func(ctx2 context.Context) error {
				assert.Equal(t, start.Add(3*time.Second), deadlineOf(ctx2))
				return nil
			})
			require.NoError(t, err)
			require.NoError(t, nursery.Shield(ctx1, 10*time.Second, func(ctx2 context.Context) error {
				assert.Equal(t, start.Add(10*time.Second), deadlineOf(ctx2))
				return nil
			}))
			<-ctx1.Done() // scope1 is cancelled (its deadline)
			return nursery.Shield(ctx1, 10*time.Second, func(ctx2 context.Context) error {
				assert.Equal(t, start.Add(15*time.Second), deadlineOf(ctx2), "10s from the shield's entry at 5s")
				assert.NoError(t, ctx2.Err())
				return nil
			})
		})
		require.NoError(t, err)
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_shielding:
// a shield protects its body from the cancelled scope outside it, but not
// from a scope inside it, nor from its own deadline.
func TestConformanceTrioCancelShielding(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		outer, cancelOuter := context.WithCancelCause(context.WithValue(t.Context(), trioCtxKey{}, "v"))
		cancelOuter(errors.New("outer cancelled"))
		var record trioLog
		t0 := time.Now()
		err := nursery.Shield(outer, 10*time.Second, func(ctx context.Context) error {
			if ctx.Err() == nil {
				record.add("shielded from outer")
			}
			if ctx.Value(trioCtxKey{}) == "v" {
				record.add("values kept")
			}
			timedOut, err := nursery.MoveOnAfter(ctx, time.Second, trioSleepForever)
			if timedOut && err == nil {
				record.add("inner scope fired")
			}
			return trioSleepForever(ctx) // until the shield's own deadline
		})
		assertOwnTimeout(t, err, "the shield's own deadline is its own timeout")
		assert.Equal(t, 10*time.Second, time.Since(t0))
		assert.Equal(t, []string{"shielded from outer", "values kept", "inner scope fired"}, record.get())
	})
}

// Ported from trio src/trio/_tests/test_timeouts.py
// test_context_shields_from_outer, test_move_on_after_moves_on_even_if_shielded
// and test_fail_after_fails_even_if_shielded: a shielded timeout scope in a
// cancelled scope is not cancelled by it, and still times out on its own
// deadline — fail_after raises, move_on_after moves on. Ours: Shield is
// fail_after(shield=True); move_on_after(shield=True) is MoveOnAfter on
// context.WithoutCancel, which is what Shield is documented to use.
func TestConformanceTrioShieldedTimeoutInCancelledScope(t *testing.T) {
	t.Parallel()
	t.Run("fail_after shield=True", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			outer, cancelOuter := context.WithCancel(t.Context())
			cancelOuter()
			t0 := time.Now()
			var live bool
			err := nursery.Shield(outer, time.Second, func(ctx context.Context) error {
				live = ctx.Err() == nil
				return trioSleepForever(ctx)
			})
			assert.True(t, live, "shield didn't work")
			assertOwnTimeout(t, err)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
	t.Run("move_on_after shield=True", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			outer, cancelOuter := context.WithCancel(t.Context())
			cancelOuter()
			t0 := time.Now()
			var live bool
			timedOut, err := nursery.MoveOnAfter(context.WithoutCancel(outer), time.Second, func(ctx context.Context) error {
				live = ctx.Err() == nil
				return trioSleepForever(ctx)
			})
			assert.True(t, live, "shield didn't work")
			assert.True(t, timedOut)
			require.NoError(t, err)
			assert.Equal(t, time.Second, time.Since(t0))
		})
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_shielding,
// in a nursery: cleanup under Shield in a task that is being cancelled by a
// sibling's crash runs to completion; the nursery waits for it and reports
// only the crash.
func TestConformanceTrioShieldCleanupInFailingNursery(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		crash := errors.New("crash")
		var record trioLog
		t0 := time.Now()
		n := nursery.New(t.Context())
		n.Go(func(ctx context.Context) error {
			err := trioSleepForever(ctx)
			serr := nursery.Shield(ctx, 10*time.Second, func(ctx context.Context) error {
				if err := trioSleep(ctx, 2*time.Second); err != nil {
					return err
				}
				record.add("cleaned up")
				return nil
			})
			if serr != nil {
				return serr
			}
			return err
		})
		n.Go(func(ctx context.Context) error {
			time.Sleep(time.Second)
			return crash
		})
		err := n.Wait()
		assert.Same(t, crash, err)
		assert.Equal(t, []string{"cleaned up"}, record.get())
		assert.Equal(t, 3*time.Second, time.Since(t0), "Wait waited for the shielded cleanup")
	})
}

// Ported from trio src/trio/_tests/test_timeouts.py test_sleep (the
// trivial move_on_at(current_time()), whose body is cancelled at once) and
// test_timeouts_raise_value_error. Deliberate difference: Trio rejects a
// negative relative timeout with ValueError; our documented contract is
// "A d <= 0 means the deadline has already passed" — the body starts with
// its context done, and the scope's own deadline is what ended it.
func TestConformanceTrioNonPositiveTimeout(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Second} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			trioBubble(t, func(t *testing.T) {
				var doneAtEntry []bool
				fn := func(ctx context.Context) error {
					doneAtEntry = append(doneAtEntry, ctx.Err() != nil)
					return trioSleep(ctx, 0)
				}
				timedOut, err := nursery.MoveOnAfter(t.Context(), d, fn)
				assert.True(t, timedOut)
				require.NoError(t, err)
				assertOwnTimeout(t, nursery.FailAfter(t.Context(), d, fn))
				assertOwnTimeout(t, nursery.Shield(t.Context(), d, fn))
				n := nursery.New(t.Context())
				n.Go(fn, nursery.Timeout(d), nursery.Name("task"))
				werr := n.Wait()
				require.ErrorIs(t, werr, nursery.ErrTimeout)
				assert.True(t, strings.HasPrefix(werr.Error(), "task: timeout after "), "%v", werr)
				assert.Equal(t, []bool{true, true, true, true}, doneAtEntry)
			})
		})
	}
}

// Ported from trio src/trio/_core/_tests/test_run.py test_cancel_scope_nesting
// for the Timeout option, and from Trio's rule that a deadline's Cancelled
// is caught by the scope that owns it: a task whose own deadline fires but
// which returns nil, or another error, reports exactly that.
func TestConformanceTrioTimeoutTaskOutcome(t *testing.T) {
	t.Parallel()
	trioBubble(t, func(t *testing.T) {
		other := errors.New("other")
		n := nursery.New(t.Context(), nursery.CollectErrors())
		late := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			time.Sleep(2 * time.Second) // ignores ctx
			return 1, nil
		}, nursery.Timeout(time.Second))
		failing := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, other
		}, nursery.Timeout(time.Second))
		cancelled := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			return 0, trioSleepForever(ctx)
		}, nursery.Timeout(time.Second))
		err := n.Wait()
		v, lerr := late.Wait()
		assert.Equal(t, 1, v)
		require.NoError(t, lerr, "nil is success, in time or late")
		_, ferr := failing.Wait()
		assert.Same(t, other, ferr)
		_, cerr := cancelled.Wait()
		assertOwnTimeout(t, cerr)
		errs := trioJoined(err)
		require.Len(t, errs, 2, "%v", err)
		assert.ErrorIs(t, err, other)
		assert.ErrorIs(t, err, nursery.ErrTimeout)
	})
}

// Ported from trio src/trio/_core/_tests/test_run.py
// test_cancel_scope_exceptiongroup_filtering, with a deadline scope around
// the nursery (Trio: `with move_on_after(1): async with open_nursery():`
// with a child that raises KeyError while cancelled — the scope absorbs
// the Cancelled and the KeyError comes out). Ours: Run returns the crash
// joined with the interruption by the scope's deadline; MoveOnAfter and
// FailAfter may replace only the cancellation, never the crash.
func TestConformanceTrioDeadlineKeepsNurseryFailure(t *testing.T) {
	t.Parallel()
	errKey := errors.New("KeyError")
	body := func(ctx context.Context) error {
		return nursery.Run(ctx, func(n *nursery.Nursery) error {
			n.Go(trioSleepForever)
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return errKey // crashes while being cancelled
			}, nursery.Name("crasher"))
			return nil
		})
	}
	t.Run("MoveOnAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, body)
			assert.True(t, timedOut)
			assert.ErrorIs(t, err, errKey, "MoveOnAfter swallowed the nursery's crash")
		})
	})
	t.Run("FailAfter", func(t *testing.T) {
		t.Parallel()
		trioBubble(t, func(t *testing.T) {
			err := nursery.FailAfter(t.Context(), time.Second, body)
			assert.ErrorIs(t, err, errKey, "FailAfter replaced the nursery's crash with %v", err)
		})
	})
}

// assertOwnTimeout checks that err is a deadline scope's own timeout. Our
// contract differs from Trio's TooSlowError, a bare exception, in that the
// timeout says which deadline and what it cut short ("timeout after 1s:
// context deadline exceeded"), while errors.Is still matches ErrTimeout and
// context.DeadlineExceeded.
func assertOwnTimeout(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	assert.ErrorIs(t, err, nursery.ErrTimeout, msgAndArgs...)
	assert.ErrorIs(t, err, context.DeadlineExceeded, msgAndArgs...)
	if assert.Error(t, err, msgAndArgs...) {
		assert.Contains(t, err.Error(), "timeout after", msgAndArgs...)
	}
}
