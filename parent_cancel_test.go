package nursery_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestParentCancellation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		run   func(t *testing.T, n *nursery.Nursery, cancelParent func())
		want  []error // each must match; nil slice: Wait returns nil
		avoid []error
	}{
		{
			name: "interrupted tasks report the parent's cause once",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(blockOnCtx)
				}
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "tasks returning the cause report it once",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) })
				}
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "tasks that finished before the cancellation",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				tasks := make([]*nursery.Task[int], 3)
				for i := range tasks {
					tasks[i] = nursery.Spawn(n, func(context.Context) (int, error) { return i, nil })
				}
				for _, task := range tasks {
					<-task.Done()
				}
				cancelParent()
			},
		},
		{
			name: "tasks ignoring the cancellation and returning nil",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(func(ctx context.Context) error { <-ctx.Done(); return nil })
				}
				cancelParent()
			},
		},
		{
			name: "a task that never started",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				cancelParent()
				n.Go(func(context.Context) error {
					t.Error("a task started on a cancelled nursery")
					return nil
				})
			},
			want: []error{errParent},
		},
		{
			name: "no task at all",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				cancelParent()
			},
		},
		{
			name: "one finished, one interrupted",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				done := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
				<-done.Done()
				n.Go(blockOnCtx)
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "a real failure plus an interruption",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error { close(started); <-ctx.Done(); return errOther })
				<-started
				n.Go(blockOnCtx)
				cancelParent()
			},
			want: []error{errOther, errParent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent)
			tt.run(t, n, func() { cancel(errParent) })
			err := n.Wait()
			if tt.want == nil {
				require.NoError(t, err, "every task finished: Wait reports only what the tasks returned")
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorIs(t, err, w)
			}
			assert.Equal(t, 1, strings.Count(err.Error(), errParent.Error()), "the parent's cause must be reported once: %q", err)
			assert.NotErrorIs(t, err, context.Canceled, "tasks' context.Canceled must not be reported")
		})
	}
}

func TestParentDeadline(t *testing.T) {
	errSlow := errors.New("too slow for the parent")
	tests := []struct {
		name   string
		parent func(ctx context.Context) (context.Context, context.CancelFunc)
		want   error
		text   string
	}{
		{
			name: "WithTimeout",
			parent: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, time.Second)
			},
			want: context.DeadlineExceeded,
			text: context.DeadlineExceeded.Error(),
		},
		{
			name: "WithTimeoutCause",
			parent: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeoutCause(ctx, time.Second, errSlow)
			},
			want: errSlow,
			text: errSlow.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := tt.parent(t.Context())
				defer cancel()
				start := time.Now()
				n := nursery.New(parent)
				for range 3 {
					n.Go(blockOnCtx)
				}
				err := n.Wait()
				assert.Equal(t, time.Second, time.Since(start))
				require.ErrorIs(t, err, tt.want)
				assert.Equal(t, 1, strings.Count(err.Error(), tt.text), "the parent's deadline must be reported once: %q", err)
			})
		})
	}
}

func TestTasksOnCancelledNurseryDoNotStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cancel    func(t *testing.T, n *nursery.Nursery, cancelParent func())
		cause     error
		waitWants error // what n.Wait must match; nil: Wait returns nil
	}{
		{
			name:   "nursery Cancel",
			cancel: func(_ *testing.T, n *nursery.Nursery, _ func()) { n.Cancel(errStop) },
			cause:  errStop,
		},
		{
			name: "sibling failure",
			cancel: func(_ *testing.T, n *nursery.Nursery, _ func()) {
				failed := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
				<-failed.Done()
			},
			cause:     errBoom,
			waitWants: errBoom,
		},
		{
			name:      "parent cancelled",
			cancel:    func(_ *testing.T, _ *nursery.Nursery, cancelParent func()) { cancelParent() },
			cause:     errParent,
			waitWants: errParent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent)
			tt.cancel(t, n, func() { cancel(errParent) })
			var ran atomic.Int32
			n.Go(func(context.Context) error { ran.Add(1); return nil })
			task := nursery.Spawn(n, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
			v, err := task.Wait()
			assert.Zero(t, v)
			require.ErrorIs(t, err, tt.cause, "Task.Wait of a task that never started returns the cancellation cause")
			assert.True(t, isClosed(task.Done()))
			werr := n.Wait()
			assert.Zero(t, ran.Load(), "a task started on a cancelled nursery")
			if tt.waitWants == nil {
				assert.NoError(t, werr, "tasks that did not start are not failures")
			} else {
				require.ErrorIs(t, werr, tt.waitWants)
				assert.Equal(t, 1, strings.Count(werr.Error(), tt.waitWants.Error()), "reported more than once: %q", werr)
			}
		})
	}
}
