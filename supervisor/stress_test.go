package supervisor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// TestStress creates, starts, fails and stops a small tree a thousand
// times on real goroutines and real time, for the race detector: a nested
// supervisor whose child fails at once, next to a sibling that adds and
// removes a child while it all happens.
func TestStress(t *testing.T) {
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	errFlaky := errors.New("flaky")
	for range cycles {
		inner := supervisor.New("inner", supervisor.Logger(nil), supervisor.Backoff(0, 0), supervisor.Intensity(-1, 1))
		flaky := 0
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("flaky", func(ctx context.Context, ready func()) error {
			ready()
			if flaky++; flaky%3 != 0 {
				return errFlaky
			}
			<-ctx.Done()
			return ctx.Err()
		})))
		sup := supervisor.New("outer", supervisor.OneForAll, supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("inner", inner.Serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		idle := func(ctx context.Context, ready func()) error { ready(); <-ctx.Done(); return nil }
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("extra", idle)))
		_ = inner.Children()
		require.NoError(t, sup.Remove(t.Context(), "extra"))
		n.Cancel(nil)
		// A flaky run that fails as it is being stopped is reported, as a
		// nursery reports a task that fails while cancelled.
		if err := n.Wait(); err != nil {
			require.ErrorIs(t, err, errFlaky)
		}
	}
}
