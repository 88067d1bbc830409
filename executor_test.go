package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// recordingExecutor runs each task on a new goroutine and records the
// contexts it was given; refuse makes it refuse every task.
type recordingExecutor struct {
	mu     sync.Mutex
	ctxs   []context.Context
	refuse error
	wg     sync.WaitGroup
}

func (e *recordingExecutor) Go(ctx context.Context, task func()) error {
	e.mu.Lock()
	e.ctxs = append(e.ctxs, ctx)
	e.mu.Unlock()
	if e.refuse != nil {
		return e.refuse
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	e.wg.Go(task)
	return nil
}

func newPool(t *testing.T, workers int, opts ...nursery.PoolOption) *nursery.Pool {
	t.Helper()
	p := nursery.NewPool(workers, opts...)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func TestNurseryOnPool(t *testing.T) {
	t.Parallel()
	p := newPool(t, 2, nursery.IdleTimeout(time.Hour))
	n := nursery.New(t.Context(), nursery.WithExecutor(p))
	var ids goids
	var g gauge
	var ran atomic.Int32
	for range 100 {
		n.Go(func(context.Context) error {
			g.enter()
			defer g.exit()
			ids.record()
			ran.Add(1)
			return nil
		})
	}
	require.NoError(t, n.Wait())
	assert.Equal(t, int32(100), ran.Load())
	assert.LessOrEqual(t, g.max.Load(), int64(2))
	assert.LessOrEqual(t, ids.count(), 2, "tasks of a nursery on a pool of 2 must run on the pool's 2 workers")
}

// The nursery passes its own context to the executor.
func TestExecutorReceivesNurseryContext(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	exec := &recordingExecutor{}
	ctx := context.WithValue(t.Context(), ctxKey{}, "v")
	n := nursery.New(ctx, nursery.WithExecutor(exec))
	started := make(chan struct{})
	n.Go(func(ctx context.Context) error { close(started); return blockOnCtx(ctx) })
	<-started
	exec.mu.Lock()
	require.Len(t, exec.ctxs, 1)
	got := exec.ctxs[0]
	exec.mu.Unlock()
	assert.Equal(t, "v", got.Value(ctxKey{}))
	assert.NoError(t, got.Err())
	n.Cancel(errStop)
	assert.ErrorIs(t, context.Cause(got), errStop, "the executor's ctx must be the nursery's context")
	require.NoError(t, n.Wait())
	exec.wg.Wait()
}

// An executor's refusal is that task's error, reported by Wait.
func TestExecutorRefusalIsTaskError(t *testing.T) {
	t.Parallel()
	closedPool := nursery.NewPool(1)
	require.NoError(t, closedPool.Close())
	tests := []struct {
		name string
		exec nursery.Executor
		want error
	}{
		{name: "custom refusal", exec: &recordingExecutor{refuse: errRefused}, want: errRefused},
		{name: "closed pool", exec: closedPool, want: nursery.ErrPoolClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.WithExecutor(tt.exec))
			var ran atomic.Int32
			task := nursery.Spawn(n, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
			_, err := task.Wait()
			require.ErrorIs(t, err, tt.want, "Task.Wait of a refused task")
			n.Go(func(context.Context) error { ran.Add(1); return nil })
			werr := n.Wait()
			require.ErrorIs(t, werr, tt.want, "Wait must report the executor's refusal")
			assert.Zero(t, ran.Load(), "a refused task must not run")
		})
	}
}

// Many nurseries share one pool; cancelling one never cancels another's
// tasks, and each Wait waits only for its own tasks.
func TestPoolSharedByManyNurseries(t *testing.T) {
	t.Parallel()
	const nurseries, perNursery = 10, 3
	const victim = 3
	p := newPool(t, nurseries*perNursery, nursery.QueueSize(64))
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(nurseries * perNursery)
	ns := make([]*nursery.Nursery, nurseries)
	tasks := make([][]*nursery.Task[string], nurseries)
	for i := range ns {
		ns[i] = nursery.New(t.Context(), nursery.WithExecutor(p))
		for range perNursery {
			tasks[i] = append(tasks[i], nursery.Spawn(ns[i], func(ctx context.Context) (string, error) {
				started.Done()
				select {
				case <-ctx.Done():
					return "cancelled", context.Cause(ctx)
				case <-gate:
					return "done", ctx.Err()
				}
			}))
		}
	}
	started.Wait() // every task is running on the pool
	ns[victim].Cancel(errStop)
	mustFinish(t, "Wait of the cancelled nursery while others still run", func(context.Context) { assert.NoError(t, ns[victim].Wait()) }, nil)
	for _, task := range tasks[victim] {
		v, err := task.Wait()
		assert.ErrorIs(t, err, errStop)
		assert.Equal(t, "cancelled", v)
	}
	for i, n := range ns {
		if i != victim {
			assert.NoError(t, n.Context().Err(), "nursery %d was cancelled by another nursery's Cancel", i)
		}
	}
	close(gate)
	for i, n := range ns {
		if i == victim {
			continue
		}
		require.NoError(t, n.Wait(), "nursery %d", i)
		for _, task := range tasks[i] {
			v, err := task.Wait()
			require.NoError(t, err, "nursery %d", i)
			assert.Equal(t, "done", v)
		}
	}
}

// A cancelled nursery whose tasks are queued behind other nurseries' work
// drops them at once: its Wait does not wait for a worker to free up.
func TestPoolCancelledNurseryDoesNotWaitForOthersWork(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(8))
	busy := nursery.New(t.Context(), nursery.WithExecutor(p))
	gate := make(chan struct{})
	started := make(chan struct{})
	busy.Go(func(context.Context) error { close(started); <-gate; return nil })
	<-started // the only worker belongs to another nursery
	victim := nursery.New(t.Context(), nursery.WithExecutor(p))
	var ran atomic.Int32
	queued := make([]*nursery.Task[int], 3)
	for i := range queued {
		queued[i] = nursery.Spawn(victim, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
	}
	victim.Cancel(errStop)
	mustFinish(t, "Wait of a cancelled nursery whose tasks are queued behind another nursery's work", func(context.Context) {
		assert.NoError(t, victim.Wait())
		for _, task := range queued {
			_, err := task.Wait()
			assert.ErrorIs(t, err, errStop)
		}
	}, nil)
	close(gate)
	require.NoError(t, busy.Wait())
	require.NoError(t, p.Close())
	assert.Zero(t, ran.Load(), "a dropped task ran later")
}

func TestPoolSharedNurseryWaitsOnlyForOwnTasks(t *testing.T) {
	t.Parallel()
	p := newPool(t, 2)
	slow := nursery.New(t.Context(), nursery.WithExecutor(p))
	gate := make(chan struct{})
	started := make(chan struct{})
	slow.Go(func(context.Context) error { close(started); <-gate; return nil })
	<-started
	fast := nursery.New(t.Context(), nursery.WithExecutor(p))
	var ran atomic.Int32
	for range 20 {
		fast.Go(func(context.Context) error { ran.Add(1); return nil })
	}
	mustFinish(t, "Wait of a nursery sharing a pool with a blocked nursery", func(context.Context) { assert.NoError(t, fast.Wait()) }, nil)
	assert.Equal(t, int32(20), ran.Load())
	close(gate)
	require.NoError(t, slow.Wait())
}

// A panic in a pooled task reaches Wait, and the worker survives it.
func TestPooledPanicReachesWaitAndPoolKeepsWorking(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1, nursery.IdleTimeout(time.Hour))
	var before, after uint64

	n1 := nursery.New(t.Context(), nursery.WithExecutor(p))
	first := nursery.Spawn(n1, func(context.Context) (int, error) { before = goid(); return 0, nil })
	_, err := first.Wait()
	require.NoError(t, err)
	n1.Go(func(context.Context) error { panickyHelper("pooled-panic"); return nil }, nursery.Name("pooled"))
	r, panicked := catchPanic(func() { _ = n1.Wait() })
	require.True(t, panicked, "a pooled task's panic must reach Wait")
	pe, ok := r.(*nursery.PanicError)
	require.True(t, ok, "got %T", r)
	assert.Equal(t, "pooled-panic", pe.Value)
	assert.Equal(t, "pooled", pe.Task)
	assert.Contains(t, string(pe.Stack), "panickyHelper")

	n2 := nursery.New(t.Context(), nursery.WithExecutor(p), nursery.PanicsAsErrors())
	n2.Go(func(context.Context) error { panic("again") })
	var pe2 *nursery.PanicError
	require.ErrorAs(t, n2.Wait(), &pe2)
	assert.Equal(t, "again", pe2.Value)

	n3 := nursery.New(t.Context(), nursery.WithExecutor(p))
	last := nursery.Spawn(n3, func(context.Context) (int, error) { after = goid(); return 7, nil })
	v, err := last.Wait()
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	require.NoError(t, n3.Wait())
	assert.Equal(t, before, after, "the worker goroutine must survive a task's panic")
	assert.LessOrEqual(t, p.Stats().Workers, 1)
}

// A task still queued when its nursery is cancelled is dropped without
// running, and counted as cancelled, not as a success.
func TestPoolQueuedTaskDroppedOnCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cancel   func(n *nursery.Nursery, cancelParent func())
		cause    error
		waitWant error
	}{
		{name: "nursery Cancel", cancel: func(n *nursery.Nursery, _ func()) { n.Cancel(errStop) }, cause: errStop},
		{name: "parent cancelled", cancel: func(_ *nursery.Nursery, cp func()) { cp() }, cause: errParent, waitWant: errParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPool(t, 1, nursery.QueueSize(8))
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent, nursery.WithExecutor(p))
			started := make(chan struct{})
			n.Go(func(ctx context.Context) error { close(started); return blockOnCtx(ctx) })
			<-started // the only worker is busy
			var ran atomic.Int32
			queued := make([]*nursery.Task[int], 3)
			for i := range queued {
				queued[i] = nursery.Spawn(n, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
			}
			tt.cancel(n, func() { cancel(errParent) })
			for _, task := range queued {
				v, err := task.Wait()
				assert.Zero(t, v)
				assert.ErrorIs(t, err, tt.cause, "a dropped task counts as cancelled, not as a success")
			}
			werr := n.Wait()
			assert.Zero(t, ran.Load(), "a queued task ran after its nursery was cancelled")
			if tt.waitWant == nil {
				assert.NoError(t, werr)
			} else {
				assert.ErrorIs(t, werr, tt.waitWant, "dropped tasks were interrupted: Wait reports the parent's cause")
			}
		})
	}
}

// With a pool of ONE worker: a task calling Go on its own nursery does not
// block, and Task.Wait on a task still queued does not deadlock.
func TestPoolOneWorkerNoDeadlock(t *testing.T) {
	t.Parallel()
	t.Run("Go from a task", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, 1, nursery.QueueSize(1))
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		var children atomic.Int32
		spawned := make(chan struct{})
		n.Go(func(ctx context.Context) error {
			for range 20 {
				n.Go(func(context.Context) error { children.Add(1); return nil })
			}
			close(spawned) // Go never blocked on the full pool
			return nil
		})
		mustFinish(t, "a task calling Go on its own nursery over a full pool", func(context.Context) { <-spawned }, nil)
		mustFinish(t, "Wait", func(context.Context) { assert.NoError(t, n.Wait()) }, nil)
		assert.Equal(t, int32(20), children.Load())
	})
	t.Run("Task.Wait on a queued task", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, 1)
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		var chain func(depth int) func(context.Context) (int, error)
		chain = func(depth int) func(context.Context) (int, error) {
			return func(context.Context) (int, error) {
				if depth == 0 {
					return 0, nil
				}
				v, err := nursery.Spawn(n, chain(depth-1)).Wait()
				return v + 1, err
			}
		}
		mustFinish(t, "chain of Task.Wait on a pool of one worker", func(context.Context) {
			v, err := nursery.Spawn(n, chain(15)).Wait()
			assert.NoError(t, err)
			assert.Equal(t, 15, v)
			assert.NoError(t, n.Wait())
		}, nil)
	})
	t.Run("fork/join", func(t *testing.T) {
		t.Parallel()
		p := newPool(t, 1, nursery.QueueSize(1))
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		mustFinish(t, "fork/join on a pool of one worker", func(context.Context) {
			v, err := nursery.Spawn(n, forkJoinFib(n, 10, false)).Wait()
			assert.NoError(t, err)
			assert.Equal(t, 55, v)
			assert.NoError(t, n.Wait())
		}, nil)
	})
}

// Tasks launched with Start are services: they never occupy a pool worker.
func TestStartOnPoolDoesNotOccupyWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	n := nursery.New(t.Context(), nursery.WithExecutor(p))
	started := make(chan struct{})
	svcFromTask := make(chan string, 1)
	n.Go(func(ctx context.Context) error {
		close(started)
		v, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
			ready("inner")
			return blockOnCtx(ctx)
		})
		svcFromTask <- v
		if err != nil {
			return err
		}
		return blockOnCtx(ctx)
	})
	<-started // the only worker is busy
	mustFinish(t, "Start with the pool's only worker busy", func(context.Context) {
		v, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
			ready("outer")
			return blockOnCtx(ctx)
		})
		assert.NoError(t, err)
		assert.Equal(t, "outer", v)
	}, nil)
	var inner string
	mustFinish(t, "Start from the task holding the only worker", func(context.Context) { inner = <-svcFromTask }, nil)
	assert.Equal(t, "inner", inner)
	n.Cancel(nil)
	require.NoError(t, n.Wait())
}

func TestLimitOnTopOfPool(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPool(t, 4)
		n := nursery.New(t.Context(), nursery.WithExecutor(p), nursery.WithLimit(2))
		var g gauge
		for range 50 {
			n.Go(func(context.Context) error {
				g.enter()
				defer g.exit()
				time.Sleep(100 * time.Microsecond)
				return nil
			})
		}
		require.NoError(t, n.Wait())
		assert.LessOrEqual(t, g.max.Load(), int64(2))
		assert.Equal(t, int64(2), g.max.Load(), "sleeping tasks overlap: the limit is reached")
	})
}

func TestNurseryOnPoolTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(2)
		defer func() { assert.NoError(t, p.Close()) }()
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		task := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 0, blockOnCtx(ctx) }, nursery.Timeout(time.Second))
		_, err := task.Wait()
		require.ErrorIs(t, err, nursery.ErrTimeout)
		require.ErrorIs(t, n.Wait(), nursery.ErrTimeout)
	})
}

// Stress: submit/cancel/close interleavings on shared pools.
func TestPoolStressSubmitCancelClose(t *testing.T) {
	iterations := 200
	if testing.Short() {
		iterations = 50
	}
	for it := range iterations {
		workers := 1 + it%3
		p := nursery.NewPool(workers, nursery.QueueSize(1+it%4))
		var accepted, ran atomic.Int32
		var wg sync.WaitGroup
		// Direct submissions racing with Close.
		for s := range 3 {
			wg.Go(func() {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				for j := range 10 {
					if (s+j+it)%7 == 0 {
						cancel()
					}
					if p.Go(ctx, func() { ran.Add(1) }) == nil {
						accepted.Add(1)
					}
				}
			})
		}
		// Nurseries on the same pool, some cancelled, some failing.
		for k := range 3 {
			wg.Go(func() {
				n := nursery.New(context.Background(), nursery.WithExecutor(p), nursery.PanicsAsErrors())
				for j := range 8 {
					switch (j + k + it) % 5 {
					case 0:
						n.Go(blockOnCtxOrSoon)
					case 1:
						n.Go(func(context.Context) error { return fmt.Errorf("task %d: %w", j, errBoom) })
					case 2:
						n.Go(func(ctx context.Context) error {
							n.Go(noop) // child from inside a task
							return nil
						})
					case 3:
						n.Cancel(errStop)
					default:
						n.Go(noop)
					}
				}
				var err error
				mustFinish(t, fmt.Sprintf("iteration %d: nursery Wait", it), func(context.Context) { err = n.Wait() }, nil)
				for _, leaf := range leaves(err) {
					if leaf == errBoom || leaf == nursery.ErrPoolClosed {
						continue
					}
					t.Errorf("iteration %d: unexpected error leaf %v (%T) in %v", it, leaf, leaf, err)
				}
				assert.True(t, isClosed(n.Context().Done()))
			})
		}
		submitters := goWatched(t, func(context.Context) { wg.Wait() })
		if it%2 == 0 {
			runtime.Gosched() // let some submissions race with Close
			require.NoError(t, p.Close())
			submitters.wait(t, fmt.Sprintf("iteration %d: submitters", it), nil)
		} else {
			submitters.wait(t, fmt.Sprintf("iteration %d: submitters", it), nil)
			require.NoError(t, p.Close())
		}
		assert.Equal(t, accepted.Load(), ran.Load(), "iteration %d: an accepted task did not run exactly once", it)
		assert.Equal(t, 0, p.Stats().Workers)
	}
}

// blockOnCtxOrSoon waits briefly for cancellation and returns nil if none
// came.
func blockOnCtxOrSoon(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Microsecond):
		return nil
	}
}

// A task that calls Go on its own nursery while the pool under it is
// closing must not block: Close waits for the running task, so a blocked
// Go would deadlock both. Found by FuzzPool.
func TestPoolCloseWhileTaskSpawns(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts []nursery.Option
	}{
		{name: "no limit"},
		{name: "WithLimit(1)", opts: []nursery.Option{nursery.WithLimit(1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := nursery.NewPool(1, nursery.QueueSize(1))
			n := nursery.New(t.Context(), append(tt.opts, nursery.WithExecutor(p))...)
			started := make(chan struct{})
			proceed := make(chan struct{})
			var children atomic.Int32
			n.Go(func(ctx context.Context) error {
				close(started)
				<-proceed
				for range 5 {
					n.Go(func(context.Context) error { children.Add(1); return nil })
				}
				return nil
			})
			<-started
			closed := goWatched(t, func(context.Context) { assert.NoError(t, p.Close()) })
			for p.Stats().Workers > 0 && !closed.finished() {
				// Close has begun only once Go is refused.
				// The first Go fills the queue; the next waits for room until
				// Close begins and refuses it.
				if err := p.Go(t.Context(), func() {}); errors.Is(err, nursery.ErrPoolClosed) {
					break
				}
			}
			close(proceed)
			closed.wait(t, "Close while the running task calls Go", nil)
			mustFinish(t, "Wait", func(context.Context) {
				err := n.Wait()
				if err != nil {
					assert.ErrorIs(t, err, nursery.ErrPoolClosed)
				}
			}, nil)
			t.Logf("%d of 5 children ran", children.Load())
		})
	}
}

// A nursery kept saturated by a fast submitter must not keep the workers of
// a shared pool for itself: work that others queue on the pool meanwhile
// runs long before the submitter is done.
func TestPoolSaturatedNurseryLeavesWorkersToOthers(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1, nursery.QueueSize(1))
	n := nursery.New(t.Context(), nursery.WithExecutor(p))
	const tasks = 2_000_000
	var done atomic.Int64
	stop := make(chan struct{})
	submitter := goWatched(t, func(context.Context) {
		for range tasks {
			select {
			case <-stop:
				return
			default:
			}
			n.Go(func(context.Context) error { done.Add(1); return nil })
		}
	})
	for done.Load() < 1000 {
		runtime.Gosched() // the nursery's runner now holds the only worker
	}
	ran := make(chan int64)
	require.NoError(t, p.Go(t.Context(), func() { ran <- done.Load() }))
	var at int64
	mustFinish(t, "a Pool.Go task queued behind a saturated nursery", func(context.Context) { at = <-ran }, nil)
	close(stop)
	submitter.wait(t, "the submitter", nil)
	require.NoError(t, n.Wait())
	assert.Less(t, at, int64(tasks/2), "the other task waited for most of the nursery's tasks")
}
