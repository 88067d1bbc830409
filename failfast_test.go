package nursery_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestFailFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sibling func(ctx context.Context) error
		extra   error // another error that must be reported as well
	}{
		{name: "sibling returns ctx.Err()", sibling: blockOnCtx},
		{name: "sibling returns the cause", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx)
		}},
		{name: "sibling wraps ctx.Err()", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("sibling stopped: %w", ctx.Err())
		}},
		{name: "sibling ignores cancellation", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		}},
		{name: "sibling fails for another reason", extra: errOther, sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return errOther
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			causes := goCauseReporters(n, 3, tt.sibling)
			n.Go(func(context.Context) error { return errBoom })
			err := n.Wait()
			require.ErrorIs(t, err, errBoom)
			assert.Equal(t, 1, strings.Count(err.Error(), errBoom.Error()), "the failure must be reported once: %q", err)
			assert.NotErrorIs(t, err, context.Canceled, "a sibling's cancellation must not be reported")
			assert.NotContains(t, err.Error(), context.Canceled.Error())
			if tt.extra != nil {
				assert.ErrorIs(t, err, tt.extra)
			}
			for range 3 {
				assert.ErrorIs(t, <-causes, errBoom, "siblings must see the failure as their context's cause")
			}
			assert.ErrorIs(t, context.Cause(n.Context()), errBoom, "the first failure is the nursery's cause")
		})
	}
}

// goCauseReporters starts k tasks on n that each run task and then send
// their context's cause on the returned channel; it returns once all k
// have started.
func goCauseReporters(n *nursery.Nursery, k int, task func(ctx context.Context) error) <-chan error {
	causes := make(chan error, k)
	var started sync.WaitGroup
	started.Add(k)
	for range k {
		n.Go(func(ctx context.Context) error {
			started.Done()
			err := task(ctx)
			causes <- context.Cause(ctx)
			return err
		})
	}
	started.Wait()
	return causes
}

func TestFailFastCancelsSiblingsBeforeWait(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	released := goUntilCancelled(n)
	n.Go(func(context.Context) error { return errBoom })
	mustFinish(t, "sibling cancellation before Wait", func(context.Context) { <-released }, nil)
	assert.ErrorIs(t, context.Cause(n.Context()), errBoom)
	require.ErrorIs(t, n.Wait(), errBoom)
}

func TestFirstErrorIsTheCause(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	first := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
	<-first.Done()
	n.Go(func(context.Context) error { return errOther }) // does not start: the nursery is cancelled
	err := n.Wait()
	require.ErrorIs(t, err, errBoom)
	assert.ErrorIs(t, context.Cause(n.Context()), errBoom)
	assert.NotErrorIs(t, context.Cause(n.Context()), errOther)
}

func TestCollectErrors(t *testing.T) {
	t.Parallel()
	t.Run("failure does not cancel siblings", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context(), nursery.CollectErrors())
			failed := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
			var siblingErr atomic.Value
			n.Go(func(ctx context.Context) error {
				<-failed.Done()
				time.Sleep(time.Millisecond)
				siblingErr.Store(fmt.Sprint(ctx.Err()))
				return nil
			})
			err := n.Wait()
			require.ErrorIs(t, err, errBoom)
			assert.Equal(t, "<nil>", siblingErr.Load(), "a failure cancelled a sibling under CollectErrors")
		})
	})
	t.Run("all failures joined", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context(), nursery.CollectErrors())
			for i := range 5 {
				n.Go(func(context.Context) error {
					time.Sleep(time.Duration(i) * time.Millisecond)
					return &codeError{code: i}
				})
			}
			n.Go(func(context.Context) error { return fmt.Errorf("wrapped: %w", errBoom) })
			n.Go(noop)
			err := n.Wait()
			require.Error(t, err)
			assert.ErrorIs(t, err, errBoom)
			var ce *codeError
			require.ErrorAs(t, err, &ce)
			codes := map[int]int{}
			for _, leaf := range leaves(err) {
				if c, ok := leaf.(*codeError); ok {
					codes[c.code]++
				}
			}
			assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1}, codes)
		})
	})
	t.Run("n.Cancel still cancels everything", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		for range 3 {
			n.Go(blockOnCtx)
		}
		n.Cancel(errStop)
		assert.NoError(t, n.Wait())
	})
}

func TestErrorsAsThroughJoinedErrors(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	n.Go(func(context.Context) error { started.Done(); <-gate; return &codeError{code: 7} })
	n.Go(func(context.Context) error { started.Done(); <-gate; return fmt.Errorf("layer: %w", errRefused) })
	started.Wait()
	close(gate)
	err := n.Wait()
	require.Error(t, err)
	// Both tasks were past the gate when either failed, so both are real failures.
	var ce *codeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 7, ce.code)
	assert.ErrorIs(t, err, errRefused)
}

func TestNurseryCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cause   error
		task    func(ctx context.Context) error
		wantErr error // nil: Wait must return nil
	}{
		{name: "tasks return ctx.Err()", cause: errStop, task: blockOnCtx},
		{name: "tasks return the cause", cause: errStop, task: func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx)
		}},
		{name: "tasks wrap the cause", cause: errStop, task: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("stopping: %w", context.Cause(ctx))
		}},
		{name: "nil cause", cause: nil, task: blockOnCtx},
		{name: "a task fails for another reason", cause: errStop, wantErr: errOther, task: func(ctx context.Context) error {
			<-ctx.Done()
			return errOther
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			causes := goCauseReporters(n, 4, tt.task)
			n.Cancel(tt.cause)
			err := n.Wait()
			if tt.wantErr == nil {
				require.NoError(t, err, "cancelling is not failing")
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				assert.NotErrorIs(t, err, errStop)
			}
			want := tt.cause
			if want == nil {
				want = context.Canceled
			}
			for range 4 {
				assert.ErrorIs(t, <-causes, want)
			}
			assert.ErrorIs(t, context.Cause(n.Context()), want)
		})
	}
}

func TestCancelIsIdempotentAndFirstCauseWins(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	n.Go(blockOnCtx)
	n.Cancel(errStop)
	n.Cancel(errOther)
	require.NoError(t, n.Wait())
	assert.ErrorIs(t, context.Cause(n.Context()), errStop)
	assert.NotPanics(t, func() { n.Cancel(errOther) }, "Cancel after Wait")
}

// A task error counts as "just cancellation" only when the task's context
// is done; a cancellation error from the task's own inner work, while its
// context is live, is a failure like any other.
func TestCancellationErrorsAreFailuresUnlessCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cancel func(n *nursery.Nursery)
		err    error
	}{
		{name: "context.Canceled with a live context", err: context.Canceled},
		{name: "context.DeadlineExceeded with a live context", err: context.DeadlineExceeded},
		{
			// Only a parent deadline makes DeadlineExceeded a cancellation.
			name:   "context.DeadlineExceeded after the nursery's own Cancel",
			cancel: func(n *nursery.Nursery) { n.Cancel(errStop) },
			err:    context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			started := make(chan struct{})
			n.Go(func(ctx context.Context) error {
				close(started)
				if tt.cancel != nil {
					<-ctx.Done()
				}
				return fmt.Errorf("inner call: %w", tt.err)
			})
			<-started
			if tt.cancel != nil {
				tt.cancel(n)
			}
			err := n.Wait()
			require.ErrorIs(t, err, tt.err, "the task's own cancellation error is a failure")
		})
	}
}
