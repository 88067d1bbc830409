package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// Counters count every outcome exactly: success, failure, panic, Goexit,
// a task dropped by cancellation, and a task that passes the cancellation
// on (not a failure).
func TestCountersCountEveryOutcome(t *testing.T) {
	t.Parallel()
	var c nursery.Counters
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(noop)
		n.Go(func(context.Context) error { return errBoom })
		n.Go(func(context.Context) error { panic("p") })
		return nil
	}, nursery.WithCounters(&c), nursery.PanicsAsErrors(), nursery.CollectErrors())
	require.Error(t, err)
	assert.Equal(t, uint64(3), c.Started())
	assert.Equal(t, uint64(3), c.Completed())
	assert.Equal(t, uint64(0), c.Running())
	assert.Equal(t, uint64(2), c.Failed())

	// One Counters shared with a second nursery, whose tasks are cancelled.
	n := nursery.New(t.Context(), nursery.WithCounters(&c), nursery.WithLimit(1))
	gate := make(chan struct{})
	n.Go(func(ctx context.Context) error { <-gate; <-ctx.Done(); return ctx.Err() }) // runs, passes the cancellation on
	n.Go(noop)                                                                       // waits in the queue, dropped
	assert.Equal(t, uint64(5), c.Started())
	assert.Equal(t, uint64(2), c.Running())
	n.Cancel(errStop)
	close(gate)
	require.NoError(t, n.Wait())
	assert.Equal(t, uint64(5), c.Completed())
	assert.Equal(t, uint64(0), c.Running())
	assert.Equal(t, uint64(2), c.Failed(), "passing the cancellation on, or being dropped, is not failing")
}

// Running is readable while the tasks run: what a progress line shows.
func TestCountersWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c nursery.Counters
		release := make(chan struct{})
		n := nursery.New(t.Context(), nursery.WithCounters(&c), nursery.WithLimit(2))
		for range 4 {
			n.Go(func(context.Context) error { <-release; return nil })
		}
		synctest.Wait()
		assert.Equal(t, uint64(4), c.Started())
		assert.Equal(t, uint64(4), c.Running(), "two running, two waiting for a slot")
		assert.Equal(t, uint64(0), c.Completed())
		close(release)
		require.NoError(t, n.Wait())
		assert.Equal(t, uint64(4), c.Completed())
	})
}

func TestCountersMisuse(t *testing.T) {
	t.Parallel()
	requireMisuse(t, func() { nursery.WithCounters(nil) })
	requireMisuse(t, func() { nursery.WithErrorHandler(nil) })
}

// The error handler gets each failure as it happens, named; the failures
// neither cancel the siblings nor reach Wait. Panics still do.
func TestErrorHandler(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var handled []string
	handle := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, err.Error())
		var te *nursery.TaskError
		assert.ErrorAs(t, err, &te)
		assert.ErrorIs(t, err, errBoom)
	}
	siblingDone := false
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for i := range 3 {
			n.Go(func(context.Context) error { return fmt.Errorf("conn %d: %w", i, errBoom) }, nursery.Name(fmt.Sprint("conn-", i)))
		}
		n.Go(func(ctx context.Context) error {
			// Not cancelled by the failures.
			siblingDone = ctx.Err() == nil
			return nil
		})
		return nil
	}, nursery.WithName("server"), nursery.WithErrorHandler(handle))
	require.NoError(t, err, "handled failures are not Wait's")
	assert.True(t, siblingDone)
	assert.ElementsMatch(t, []string{
		"server: conn-0: conn 0: boom", "server: conn-1: conn 1: boom", "server: conn-2: conn 2: boom",
	}, handled)

	t.Run("panics still reach Wait", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(context.Context) error { panic("bug") })
			return nil
		}, nursery.WithErrorHandler(func(error) { calls++ }), nursery.PanicsAsErrors())
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Zero(t, calls)
	})
	t.Run("the body's error is Run's", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			return errBoom
		}, nursery.WithErrorHandler(func(error) { t.Error("the body's error went to the handler") }))
		assert.True(t, errors.Is(err, errBoom))
	})
}

// A long-lived nursery with the error handler keeps nothing per failure:
// the allocations of a failing task are the same as a succeeding one's
// plus the task's own error.
func TestErrorHandlerKeepsNothing(t *testing.T) {
	perTask := func(fail bool) float64 {
		n := nursery.New(context.Background(), nursery.WithErrorHandler(func(error) {}))
		defer func() { _ = n.Wait() }()
		fn := noop
		if fail {
			fn = func(context.Context) error { return errBoom } // no allocation of its own
		}
		done := make(chan struct{}, 1)
		return testing.AllocsPerRun(200, func() {
			n.Go(func(ctx context.Context) error { defer func() { done <- struct{}{} }(); return fn(ctx) })
			<-done
		})
	}
	ok, failing := perTask(false), perTask(true)
	assert.LessOrEqual(t, failing, ok, "a handled failure must keep nothing")
}
