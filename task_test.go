package nursery_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestSpawnReturnsValue(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	task := nursery.Spawn(n, func(context.Context) (string, error) { return "hello", nil })
	v, err := task.Wait()
	require.NoError(t, err)
	assert.Equal(t, "hello", v)
	assert.True(t, isClosed(task.Done()))
	require.NoError(t, n.Wait())
}

// Task.Wait may be called any number of times from any goroutine and
// returns the same value.
func TestTaskWaitRepeatableAndConcurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fn      func(context.Context) (int, error)
		wantV   int
		wantErr error
	}{
		{name: "value", fn: func(context.Context) (int, error) { return 42, nil }, wantV: 42},
		{name: "error", fn: func(context.Context) (int, error) { return 0, errBoom }, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			gate := make(chan struct{})
			task := nursery.Spawn(n, func(ctx context.Context) (int, error) {
				<-gate
				return tt.fn(ctx)
			})
			const waiters = 16
			vals := make([]int, waiters)
			errs := make([]error, waiters)
			var wg sync.WaitGroup
			for i := range waiters {
				wg.Go(func() { vals[i], errs[i] = task.Wait() })
			}
			close(gate)
			wg.Wait()
			for i := range waiters {
				if tt.wantErr == nil {
					assert.NoError(t, errs[i])
					assert.Equal(t, tt.wantV, vals[i])
				} else {
					assert.ErrorIs(t, errs[i], tt.wantErr)
					assert.Equal(t, errs[0], errs[i])
				}
			}
			for range 3 {
				v, err := task.Wait()
				assert.Equal(t, vals[0], v)
				assert.Equal(t, errs[0], err)
			}
			_ = n.Wait()
		})
	}
}

func TestTaskDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		gate := make(chan struct{})
		task := nursery.Spawn(n, func(context.Context) (int, error) { <-gate; return 1, nil })
		synctest.Wait()
		assert.False(t, isClosed(task.Done()), "Done closed before the task returned")
		assert.Equal(t, task.Done(), task.Done(), "Done must return the same channel")
		close(gate)
		synctest.Wait()
		assert.True(t, isClosed(task.Done()), "Done not closed after the task returned")
		require.NoError(t, n.Wait())
	})
}

// A task's error still counts toward the nursery's policy even if someone
// waited on it.
func TestTaskErrorCountsEvenIfWaited(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []nursery.Option
	}{
		{name: "fail-fast"},
		{name: "CollectErrors", opts: []nursery.Option{nursery.CollectErrors()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), tt.opts...)
			task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
			_, err := task.Wait()
			require.ErrorIs(t, err, errBoom)
			require.ErrorIs(t, n.Wait(), errBoom, "a waited task's error must still be reported by the nursery")
		})
	}
	t.Run("fail-fast cancels siblings", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		started := make(chan struct{})
		sibling := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			close(started)
			return 0, blockOnCtx(ctx)
		})
		<-started
		task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
		_, _ = task.Wait()
		_, err := sibling.Wait()
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, n.Wait(), errBoom)
	})
}

// Task.Cancel cancels only that task.
func TestTaskCancelOnlyThatTask(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	var started sync.WaitGroup
	started.Add(2)
	victim := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		started.Done()
		<-ctx.Done()
		return 0, context.Cause(ctx)
	})
	release := make(chan struct{})
	siblingErr := make(chan error, 1)
	survivor := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		started.Done()
		<-release
		siblingErr <- ctx.Err()
		return 7, nil
	})
	started.Wait()
	victim.Cancel(errStop)
	_, err := victim.Wait()
	require.ErrorIs(t, err, errStop, "the cancelled task's context must carry the cause")
	assert.NoError(t, n.Context().Err(), "Task.Cancel cancelled the nursery")
	close(release)
	v, err := survivor.Wait()
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	assert.NoError(t, <-siblingErr, "Task.Cancel cancelled a sibling")
	// Cancelling a task is not a failure of the nursery.
	assert.NoError(t, n.Wait())
}

func TestTaskCancelAfterFinish(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	task := nursery.Spawn(n, func(context.Context) (int, error) { return 5, nil })
	v, err := task.Wait()
	require.NoError(t, err)
	task.Cancel(errStop)
	v2, err2 := task.Wait()
	assert.Equal(t, v, v2)
	assert.NoError(t, err2, "Cancel after completion must not change the result")
	assert.NoError(t, n.Context().Err())
	require.NoError(t, n.Wait())
}

// The task's context is a child of the nursery's context.
func TestTaskContextFollowsNursery(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	started := make(chan struct{})
	task := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, context.Cause(ctx)
	})
	<-started
	n.Cancel(errStop)
	_, err := task.Wait()
	require.ErrorIs(t, err, errStop)
	require.NoError(t, n.Wait())
}

func TestSpawnDynamicFromTasks(t *testing.T) {
	t.Parallel()
	// Fan-out/fan-in: each task spawns children, waits for them, and sums.
	n := nursery.New(t.Context())
	var sum func(ctx context.Context, lo, hi int) (int, error)
	sum = func(ctx context.Context, lo, hi int) (int, error) {
		if hi-lo <= 4 {
			s := 0
			for i := lo; i < hi; i++ {
				s += i
			}
			return s, nil
		}
		mid := (lo + hi) / 2
		left := nursery.Spawn(n, func(ctx context.Context) (int, error) { return sum(ctx, lo, mid) })
		right := nursery.Spawn(n, func(ctx context.Context) (int, error) { return sum(ctx, mid, hi) })
		a, err := left.Wait()
		if err != nil {
			return 0, err
		}
		b, err := right.Wait()
		return a + b, err
	}
	root := nursery.Spawn(n, func(ctx context.Context) (int, error) { return sum(ctx, 0, 1000) })
	v, err := root.Wait()
	require.NoError(t, err)
	assert.Equal(t, 999*1000/2, v)
	require.NoError(t, n.Wait())
}

func TestTaskWaitFromOutsideWhileNurseryFails(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	var ran atomic.Bool
	started := make(chan struct{})
	slow := nursery.Spawn(n, func(ctx context.Context) (int, error) {
		close(started)
		ran.Store(true)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(deadlockTimeout):
			return 1, errors.New("never cancelled")
		}
	})
	<-started
	n.Go(func(context.Context) error { return errBoom })
	_, err := slow.Wait()
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, ran.Load())
	require.ErrorIs(t, n.Wait(), errBoom)
}
