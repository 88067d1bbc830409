package nursery_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// waitDone is a task body that returns the cancellation once its context
// ends.
func waitDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Nested deadline scopes: each recognises only its own deadline, so an
// inner scope never swallows or claims the outer one's.
func TestNestedDeadlineScopes(t *testing.T) {
	t.Parallel()
	t.Run("MoveOnAfter inside MoveOnAfter", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var (
				innerTimedOut bool
				innerErr      error
				after         bool
			)
			timedOut, err := nursery.MoveOnAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				innerTimedOut, innerErr = nursery.MoveOnAfter(ctx, 10*time.Second, waitDone)
				if innerErr != nil {
					return innerErr
				}
				after = true // the inner scope must not let the body go on as if it moved on
				return nil
			})
			assert.True(t, timedOut, "the outer deadline fired")
			assert.NoError(t, err, "the outer scope swallows its own cancellation")
			assert.False(t, innerTimedOut, "the inner deadline did not fire")
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded, "the inner scope passes the outer cancellation on")
			assert.False(t, after)
		})
	})
	t.Run("FailAfter inside FailAfter", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var innerErr error
			err := nursery.FailAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				innerErr = nursery.FailAfter(ctx, 10*time.Second, waitDone)
				return innerErr
			})
			require.ErrorIs(t, err, nursery.ErrTimeout)
			assert.Contains(t, err.Error(), "after 5s")
			assert.NotErrorIs(t, innerErr, nursery.ErrTimeout, "the inner deadline did not fire")
			assert.ErrorIs(t, innerErr, context.DeadlineExceeded)
		})
	})
	t.Run("Timeout task inside FailAfter", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var runErr error
			err := nursery.FailAfter(t.Context(), 5*time.Second, func(ctx context.Context) error {
				runErr = nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(waitDone, nursery.Name("t"), nursery.Timeout(10*time.Second))
					return nil
				})
				return runErr
			})
			require.ErrorIs(t, err, nursery.ErrTimeout)
			assert.Contains(t, err.Error(), "after 5s")
			assert.NotContains(t, err.Error(), "10s", "the task's own deadline did not fire")
			assert.NotContains(t, runErr.Error(), "t: ", "the task was interrupted, it did not fail: %q", runErr)
		})
	})
	t.Run("MoveOnAfter inside a Timeout task", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var innerTimedOut bool
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(func(ctx context.Context) error {
					var err error
					innerTimedOut, err = nursery.MoveOnAfter(ctx, 10*time.Second, waitDone)
					return err
				}, nursery.Name("t"), nursery.Timeout(5*time.Second))
				return nil
			})
			assert.False(t, innerTimedOut)
			require.ErrorIs(t, err, nursery.ErrTimeout)
			assert.Contains(t, err.Error(), "t: timeout after 5s")
		})
	})
}

// A timeout says which deadline fired and what it cut short.
func TestTimeoutErrorText(t *testing.T) {
	t.Parallel()
	errGet := func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("Get %q: %w", "http://example.com", ctx.Err())
	}
	const cut = `timeout after 2s: Get "http://example.com": context deadline exceeded`
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want string
	}{
		{
			name: "FailAfter",
			call: func(ctx context.Context) error { return nursery.FailAfter(ctx, 2*time.Second, errGet) },
			want: cut,
		},
		{
			name: "Shield",
			call: func(ctx context.Context) error { return nursery.Shield(ctx, 2*time.Second, errGet) },
			want: cut,
		},
		{
			name: "Timeout task",
			call: func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(errGet, nursery.Name("fetch"), nursery.Timeout(2*time.Second))
					return nil
				})
			},
			want: "fetch: " + cut,
		},
		{
			name: "fn returns the cause",
			call: func(ctx context.Context) error {
				return nursery.FailAfter(ctx, 1500*time.Millisecond, func(ctx context.Context) error {
					<-ctx.Done()
					return context.Cause(ctx)
				})
			},
			want: "timeout after 1.5s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				err := tt.call(t.Context())
				require.Error(t, err)
				assert.Equal(t, tt.want, err.Error())
				assert.ErrorIs(t, err, nursery.ErrTimeout)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		})
	}
}
