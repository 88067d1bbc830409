package nursery_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Task.Cancel's doc: a task still queued "never starts, and it finishes at
// once: Wait returns cause without waiting for the task's turn". WithLimit's:
// "at most k more wait in its queue: once both are full, Go and Spawn wait
// for room". A task that Task.Cancel finished is no longer waiting, yet its
// item stays in the limiter's queue (to be skipped by a runner or dropped
// at close) and still counts toward the bound: a Go that should find room
// waits for the running task to end. Here the running task ends only when
// the Go has returned (a wait the library cannot see, which WithLimit
// allows for tasks still queued behind it — but nothing is queued), so
// the nursery is stuck.
//
// Failed, and was fixed: a Task.Cancel'ed queued task kept its place in the
// limiter's queue, so Go waited for room that a finished task held.
func TestAttack14bCancelledQueuedTaskHoldsQueueRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.WithLimit(1))
		release := make(chan struct{})
		running := make(chan struct{})
		n.Go(func(context.Context) error { close(running); <-release; return nil })
		<-running
		queued := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
		errGone := errors.New("not needed")
		queued.Cancel(errGone)
		_, err := queued.Wait()
		require.ErrorIs(t, err, errGone, "the cancelled task finished at once")

		// One task running, none waiting: room for one more in the queue.
		submitted := make(chan struct{})
		go func() {
			n.Go(func(context.Context) error { return nil })
			close(submitted)
		}()
		synctest.Wait()
		returned := isClosed(submitted)
		close(release) // unstick it either way, so the bubble ends
		<-submitted
		require.NoError(t, n.Wait())
		assert.True(t, returned, "Go waited for room held by a task that Task.Cancel had finished")
	})
}

// Pool.Stats: "Queued includes those waiting in the nurseries' own queues".
// A queued task that Task.Cancel finished is waiting for nothing, but the
// pool keeps counting it as Queued until a runner or the nursery's close
// pops it.
//
// Failed, and was fixed: Pool.Stats().Queued counted a queued task that
// Task.Cancel had already finished, until Wait.
func TestAttack14bPoolStatsCountCancelledQueuedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(1, nursery.QueueSize(4))
		defer p.Close()
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		release := make(chan struct{})
		running := make(chan struct{})
		n.Go(func(context.Context) error { close(running); <-release; return nil })
		<-running
		queued := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
		synctest.Wait()
		require.Equal(t, 1, p.Stats().Queued, "the spawned task waits for the worker")
		queued.Cancel(nil)
		_, err := queued.Wait()
		require.ErrorIs(t, err, context.Canceled)
		queuedAfter := p.Stats().Queued
		close(release)
		require.NoError(t, n.Wait())
		assert.Equal(t, nursery.PoolStats{Workers: p.Stats().Workers, Completed: 1}, p.Stats())
		assert.Equal(t, 0, queuedAfter, "Stats counts as queued a task that has finished")
	})
}
