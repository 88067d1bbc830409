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

// A nested scope on an executor that runs its job on the caller's own
// goroutine (allowed: "run exactly once on some goroutine") must not make
// the calling task forget that it holds a WithLimit slot. Afterwards the
// task spawns into its own full nursery (WithLimit(1)) and waits for the
// child: by the one rule it gives its slot back and the child runs.
func TestAttackInlineExecutorInsideLimitedTask(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var err error
	got := 0
	mustFinish(t, "Run with WithLimit(1) after a nested inline-executor scope", func(context.Context) {
		err = nursery.Run(ctx, func(a *nursery.Nursery) error {
			a.Go(func(ctx context.Context) error {
				if err := nursery.Run(ctx, func(b *nursery.Nursery) error {
					b.Go(noop)
					return nil
				}, nursery.WithExecutor(atkInline{})); err != nil {
					return err
				}
				child := nursery.Spawn(a, func(context.Context) (int, error) { return 7, nil })
				v, err := child.Wait()
				got = v
				return err
			})
			return nil
		}, nursery.WithLimit(1))
	}, cancel)
	assert.NoError(t, err)
	assert.Equal(t, 7, got)
}

// atkPoolWrapper is an Executor that forwards to a Pool, as a wrapper for
// metrics or tracing would.
type atkPoolWrapper struct {
	p    *nursery.Pool
	jobs atomic.Int64
}

func (w *atkPoolWrapper) Go(ctx context.Context, task func()) error {
	w.jobs.Add(1)
	return w.p.Go(ctx, task)
}

// Running a nursery through an Executor that wraps a Pool must not break
// the pool for the nurseries that use it directly: afterwards, nested
// nurseries on the same Pool(1) must still complete (the outer task lends
// its worker while it waits).
func TestAttackPoolWrapperExecutorBreaksWorkerLending(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.IdleTimeout(time.Hour))
	defer p.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	w := &atkPoolWrapper{p: p}
	require.NoError(t, nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(noop)
		return nil
	}, nursery.WithExecutor(w)))
	require.Positive(t, w.jobs.Load())

	var err error
	mustFinish(t, "nested nurseries on one Pool(1) after a wrapped-pool nursery", func(context.Context) {
		err = nursery.Run(ctx, func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(noop)
					return nil
				}, nursery.WithExecutor(p))
			})
			return nil
		}, nursery.WithExecutor(p))
	}, cancel)
	assert.NoError(t, err)
}

// atkRefuser is an Executor that accepts its first `accept` jobs, running
// each on a goroutine of its own, and refuses every later one.
type atkRefuser struct {
	accept atomic.Int64
	wg     sync.WaitGroup
}

func (e *atkRefuser) Go(ctx context.Context, task func()) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if e.accept.Add(-1) < 0 {
		return errRefused
	}
	e.wg.Go(task)
	return nil
}

// "An error from e.Go is that task's failure, reported by Wait": a task
// spawned while the executor refuses must fail with the refusal (or run),
// not stay queued for ever while its parent waits for it.
func TestAttackRefusingExecutorStrandsQueuedTask(t *testing.T) {
	t.Parallel()
	e := &atkRefuser{}
	e.accept.Store(1)
	defer e.wg.Wait()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var err, childErr error
	mustFinish(t, "a task waiting for a child the executor refused to run", func(context.Context) {
		err = nursery.Run(ctx, func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				child := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
				_, childErr = child.Wait()
				return nil
			})
			return nil
		}, nursery.WithExecutor(e))
	}, cancel)
	assert.ErrorIs(t, childErr, errRefused, "the child's error is the executor's refusal")
	assert.ErrorIs(t, err, errRefused, "Wait reports the refusal")
}

// The same with WithLimit(2): the limit leaves room, the executor does not.
func TestAttackRefusingExecutorStrandsQueuedTaskWithLimit(t *testing.T) {
	t.Parallel()
	e := &atkRefuser{}
	e.accept.Store(1)
	defer e.wg.Wait()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var err error
	mustFinish(t, "Wait in a task for children the executor refused", func(context.Context) {
		err = nursery.Run(ctx, func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(noop)
					return nil
				}) // not a problem: inner has its own goroutines
			})
			n.Go(func(ctx context.Context) error {
				t1 := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
				_, err := t1.Wait()
				return err
			})
			return nil
		}, nursery.WithExecutor(e), nursery.WithLimit(2))
	}, cancel)
	assert.ErrorIs(t, err, errRefused)
}

// A foreign executor that runs jobs on its own goroutines: the limit and
// all the library's waits work on it (the slot, not the worker, is what
// the nursery lends).
func TestAttackForeignGoroutineExecutorNesting(t *testing.T) {
	t.Parallel()
	e := &atkRefuser{}
	e.accept.Store(1 << 40)
	defer e.wg.Wait()
	var g gauge
	var depthRun func(ctx context.Context, d int) error
	depthRun = func(ctx context.Context, d int) error {
		if d == 0 {
			return nil
		}
		return nursery.Run(ctx, func(n *nursery.Nursery) error {
			for range 2 {
				n.Go(func(ctx context.Context) error {
					g.enter()
					g.exit()
					return depthRun(ctx, d-1)
				})
			}
			return nil
		}, nursery.WithExecutor(e), nursery.WithLimit(1))
	}
	var err error
	mustFinish(t, "nested limited nurseries on a foreign executor", func(context.Context) { err = depthRun(t.Context(), 6) }, nil)
	assert.NoError(t, err)
}

// Stats must be exact once Wait has returned: every task of the nursery
// has returned, so Completed counts each, and nothing is running.
func TestAttackPoolStatsExactAfterWait(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(2)
	defer p.Close()
	total := uint64(0)
	for i := range 2000 {
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		for range 3 {
			n.Go(noop)
		}
		require.NoError(t, n.Wait())
		total += 3
		s := p.Stats()
		if s.Completed != total || s.Running != 0 || s.Queued != 0 {
			t.Fatalf("iteration %d: after Wait, Stats = %+v; want Completed %d, Running 0, Queued 0", i, s, total)
		}
	}
}

// Task.Cancel of a task still queued behind a busy slot: "If the task has
// not started yet, it never starts and Wait returns cause." Wait should
// not have to wait for the unrelated task that holds the slot. (synctest:
// once every goroutine is blocked, Task.Wait must have returned.)
func TestAttackTaskCancelQueuedWaitsForSlot(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Pool(1)"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var opts []nursery.Option
				if name == "Pool(1)" {
					p := nursery.NewPool(1)
					defer p.Close()
					opts = append(opts, nursery.WithExecutor(p))
				} else {
					opts = append(opts, nursery.WithLimit(1))
				}
				release := make(chan struct{})
				n := nursery.New(t.Context(), opts...)
				n.Go(func(context.Context) error { <-release; return nil })
				queued := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
				queued.Cancel(errStop)
				waited := make(chan error, 1)
				go func() { _, err := queued.Wait(); waited <- err }()
				synctest.Wait()
				select {
				case err := <-waited:
					assert.ErrorIs(t, err, errStop)
				default:
					t.Errorf("Task.Wait of a cancelled queued task blocks until the unrelated task holding the slot returns")
					close(release)
					if err := <-waited; !errors.Is(err, errStop) {
						t.Errorf("Task.Wait = %v, want errStop", err)
					}
					release = nil
				}
				if release != nil {
					close(release)
				}
				assert.NoError(t, n.Wait())
			})
		})
	}
}

// WithLimit's documentation: "makes at most k tasks of the nursery run at
// once, and lets at most k more wait in its queue: once both are full, Go
// and Spawn wait for room" (README: "at most k tasks run at once and at
// most k more wait in the queue"). So with WithLimit(1) and one task
// running, one more Go from outside must return at once (it is queued),
// and only the one after must wait.
func TestAttackWithLimitQueueHoldsKMore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		n := nursery.New(t.Context(), nursery.WithLimit(1))
		n.Go(func(context.Context) error { <-release; return nil })
		synctest.Wait()
		var returned atomic.Int32
		go func() {
			n.Go(noop) // the queue has room for k = 1 more
			returned.Add(1)
			n.Go(noop) // now both are full: waits
			returned.Add(1)
		}()
		synctest.Wait()
		assert.EqualValues(t, 1, returned.Load(), "with 1 running and an empty queue of size k=1, exactly one more Go must return without waiting")
		close(release)
		synctest.Wait()
		assert.EqualValues(t, 2, returned.Load())
		assert.NoError(t, n.Wait())
	})
}
