package nursery_test

import (
	"context"
	"errors"
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

func TestRun(t *testing.T) {
	t.Parallel()
	errBody := errors.New("body failed")
	errTask := errors.New("task failed")
	tests := []struct {
		name         string
		body         func(n *nursery.Nursery, finished *atomic.Int32) error
		wantFinished int32
		check        func(t *testing.T, err error)
	}{
		{
			name: "nil body result and no tasks",
			body: func(*nursery.Nursery, *atomic.Int32) error { return nil },
			check: func(t *testing.T, err error) {
				assert.NoError(t, err)
			},
		},
		{
			name: "body error cancels the nursery and still waits",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				var started sync.WaitGroup
				started.Add(3)
				for range 3 {
					n.Go(func(ctx context.Context) error {
						defer finished.Add(1)
						started.Done()
						<-ctx.Done()
						time.Sleep(time.Millisecond) // Run must still wait for this
						return context.Cause(ctx)
					})
				}
				started.Wait()
				return errBody
			},
			wantFinished: 3,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, errBody)
				assert.Equal(t, 1, strings.Count(err.Error(), errBody.Error()), "body error reported more than once: %q", err)
				assert.NotErrorIs(t, err, context.Canceled)
			},
		},
		{
			name: "body error joined with task errors",
			body: func(n *nursery.Nursery, _ *atomic.Int32) error {
				task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errTask })
				<-task.Done()
				return errBody
			},
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, errBody)
				assert.ErrorIs(t, err, errTask)
			},
		},
		{
			name: "nil body with a failing task",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error {
					defer finished.Add(1)
					close(started)
					return blockOnCtx(ctx)
				})
				<-started
				n.Go(func(context.Context) error { return errTask })
				return nil
			},
			wantFinished: 1,
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, errTask)
				assert.NotErrorIs(t, err, context.Canceled)
			},
		},
		{
			name: "body cancelling its nursery is not a failure",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error {
					defer finished.Add(1)
					close(started)
					return blockOnCtx(ctx)
				})
				<-started
				n.Cancel(errStop)
				return nil
			},
			wantFinished: 1,
			check: func(t *testing.T, err error) {
				assert.NoError(t, err)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var finished atomic.Int32
				var scope *nursery.Nursery
				err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					scope = n
					return tt.body(n, &finished)
				})
				tt.check(t, err)
				assert.Equal(t, tt.wantFinished, finished.Load(), "Run returned before its tasks returned")
				require.NotNil(t, scope)
				assert.True(t, isClosed(scope.Context().Done()), "Run returned with the nursery's context still live")
			})
		})
	}
}

// Run waits for every task: count tasks spawned by the body and check all
// of them returned.
func TestRunWaitsForTasks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var finished atomic.Int32
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			for range 20 {
				n.Go(func(context.Context) error {
					time.Sleep(time.Millisecond)
					finished.Add(1)
					return nil
				})
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, int32(20), finished.Load())
	})
}

// If the body panics, the nursery is cancelled and waited, then the panic
// continues in Run's caller.
func TestRunBodyPanic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var finished atomic.Bool
		var sawCancel atomic.Bool
		v, panicked := catchPanic(func() {
			_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error {
					close(started)
					<-ctx.Done()
					sawCancel.Store(true)
					time.Sleep(time.Millisecond)
					finished.Store(true)
					return ctx.Err()
				})
				<-started
				panic("body-panic")
			})
		})
		require.True(t, panicked, "a body panic must continue in Run's caller")
		assert.True(t, sawCancel.Load(), "the nursery was not cancelled by the body panic")
		assert.True(t, finished.Load(), "Run re-panicked before its tasks returned")
		// The value is the body's own panic value, possibly wrapped in *PanicError.
		var pe *nursery.PanicError
		if err, ok := v.(error); ok && errors.As(err, &pe) {
			assert.Equal(t, "body-panic", pe.Value)
		} else {
			assert.Equal(t, "body-panic", v)
		}
	})
}
