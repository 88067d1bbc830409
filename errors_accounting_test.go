package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// A nested nursery's real failures reach the outer Wait even when its
// error also holds the parent's cancellation.
func TestNestedFailuresSurviveParentCancellation(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	errStop := errors.New("stop")
	tests := []struct {
		name   string
		cancel func(n *nursery.Nursery, cancelParent context.CancelCauseFunc)
	}{
		{name: "outer cancelled itself", cancel: func(n *nursery.Nursery, _ context.CancelCauseFunc) { n.Cancel(errStop) }},
		{name: "outer's parent cancelled", cancel: func(_ *nursery.Nursery, cancel context.CancelCauseFunc) { cancel(errStop) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			err := nursery.Run(parent, func(n *nursery.Nursery) error {
				started := make(chan struct{}, 2)
				n.Go(func(ctx context.Context) error {
					return nursery.Run(ctx, func(inner *nursery.Nursery) error {
						inner.Go(func(ctx context.Context) error {
							started <- struct{}{}
							<-ctx.Done()
							return errBoom // a real failure, while cancelled
						}, nursery.Name("t1"))
						inner.Go(func(ctx context.Context) error {
							started <- struct{}{}
							return waitDone(ctx)
						}, nursery.Name("t2"))
						return nil
					}, nursery.WithName("inner"))
				}, nursery.Name("nested"))
				<-started
				<-started
				tt.cancel(n, cancel)
				return nil
			})
			require.ErrorIs(t, err, errBoom, "the nested nursery's real failure vanished: %v", err)
			assert.Contains(t, err.Error(), "nested: inner: t1: boom")
		})
	}
}

// A Run body's error is judged like a task's: returning the cancellation is
// not a failure, and the parent's cancellation is reported once.
func TestRunBodyReturnsCancellation(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	errStop := errors.New("stop")
	tests := []struct {
		name string
		run  func(ctx context.Context, cancelParent context.CancelCauseFunc) error
		want []error // nil: Run returns nil
		text string
	}{
		{
			name: "ctx.Err after Cancel",
			run: func(ctx context.Context, _ context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone)
					n.Cancel(errStop)
					return n.Context().Err()
				})
			},
		},
		{
			name: "cause after Cancel",
			run: func(ctx context.Context, _ context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Cancel(errStop)
					return context.Cause(n.Context())
				})
			},
		},
		{
			name: "ctx.Err after a task failed",
			run: func(ctx context.Context, _ context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(func(context.Context) error { return errBoom }, nursery.Name("t"))
					<-n.Context().Done()
					return n.Context().Err()
				})
			},
			want: []error{errBoom},
			text: "t: boom",
		},
		{
			name: "ctx.Err after the parent was cancelled",
			run: func(ctx context.Context, cancel context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone)
					cancel(nil)
					<-n.Context().Done()
					return n.Context().Err()
				})
			},
			want: []error{context.Canceled},
			text: "context canceled",
		},
		{
			name: "cause after the parent was cancelled, named",
			run: func(ctx context.Context, cancel context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone)
					cancel(errStop)
					<-n.Context().Done()
					return context.Cause(n.Context())
				}, nursery.WithName("scope"))
			},
			want: []error{errStop},
			text: "scope: stop",
		},
		{
			name: "cause after the parent was cancelled, no task interrupted",
			run: func(ctx context.Context, cancel context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					cancel(errStop)
					return context.Cause(n.Context())
				})
			},
			want: []error{errStop},
			text: "stop",
		},
		{
			name: "a body error cancels even with CollectErrors",
			run: func(ctx context.Context, _ context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone, nursery.Name("t"))
					return errBoom
				}, nursery.CollectErrors(), nursery.WithName("s"))
			},
			want: []error{errBoom},
			text: "s: boom",
		},
		{
			name: "real failure after the parent was cancelled",
			run: func(ctx context.Context, cancel context.CancelCauseFunc) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone)
					cancel(errStop)
					<-n.Context().Done()
					return errBoom
				})
			},
			want: []error{errBoom, errStop},
			text: "boom\nstop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			err := tt.run(parent, cancel)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorIs(t, err, w)
			}
			assert.Equal(t, tt.text, err.Error())
		})
	}
}

// A task that returns the error that cancelled the nursery after the
// cancellation — as it is, or wrapped, as net/http wraps a request's
// context.Cause in a *url.Error — passes the cancellation on; one that
// fails with it before the cancellation is a failure of its own.
func TestSameErrorAsTheCause(t *testing.T) {
	t.Parallel()
	errX := errors.New("x")
	t.Run("wrapped after the cancellation passes the cause on", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			a := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errX }, nursery.Name("a"))
			n.Go(func(ctx context.Context) error {
				<-a.Done()
				<-ctx.Done()
				return fmt.Errorf("b: %w", context.Cause(ctx))
			}, nursery.Name("b"))
			return nil
		})
		require.ErrorIs(t, err, errX)
		assert.Equal(t, "a: x", err.Error())
	})
	t.Run("returned as is after the cancellation passes the cause on", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return context.Cause(ctx)
			}, nursery.Name("b"))
			n.Go(func(context.Context) error { return errX }, nursery.Name("a"))
			return nil
		})
		require.Error(t, err)
		assert.Equal(t, "a: x", err.Error())
	})
	t.Run("the cause of Cancel, wrapped, is no failure", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return fmt.Errorf("b: %w", context.Cause(ctx))
			}, nursery.Name("b"))
			n.Cancel(errX)
			return nil
		})
		assert.NoError(t, err)
	})
	t.Run("returned before the cancellation", func(t *testing.T) {
		t.Parallel()
		// b returns errX while the context is live; a fails with it
		// only after b has settled, so b's failure is b's own.
		for range 100 {
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				b := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errX }, nursery.Name("b"))
				n.Go(func(context.Context) error {
					<-b.Done()
					return fmt.Errorf("a: %w", errX)
				}, nursery.Name("a"))
				return nil
			})
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "b: x"), "%q", err)
		}
	})
}

// With PanicsAsErrors, a body that returns the *PanicError it got from
// Task.Wait does not report the panic twice.
func TestRunBodyReturnsTaskPanic(t *testing.T) {
	t.Parallel()
	for _, collect := range []bool{false, true} {
		t.Run(fmt.Sprint("collect=", collect), func(t *testing.T) {
			t.Parallel()
			opts := []nursery.Option{nursery.PanicsAsErrors()}
			if collect {
				opts = append(opts, nursery.CollectErrors())
			}
			var got error
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				task := nursery.Spawn(n, func(context.Context) (int, error) { panic("boom") }, nursery.Name("p"))
				_, got = task.Wait()
				return got
			}, opts...)
			var pe *nursery.PanicError
			require.ErrorAs(t, got, &pe)
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 1, strings.Count(err.Error(), "boom"), "the panic is reported once: %q", err)
		})
	}
}
