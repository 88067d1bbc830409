package nursery_test

import (
	"context"
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

func TestWithLimitBelowOnePanics(t *testing.T) {
	t.Parallel()
	for _, k := range []int{0, -1, -100} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			t.Parallel()
			requireMisuse(t, func() { nursery.New(t.Context(), nursery.WithLimit(k)) })
			requireMisuse(t, func() {
				_ = nursery.Run(t.Context(), func(*nursery.Nursery) error { return nil }, nursery.WithLimit(k))
			})
		})
	}
}

// At most k tasks run at any moment; with enough work, exactly k do.
func TestLimitMaxConcurrency(t *testing.T) {
	for _, k := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := nursery.New(t.Context(), nursery.WithLimit(k))
				var g gauge
				const tasks = 30
				start := time.Now()
				for range tasks {
					n.Go(func(context.Context) error {
						g.enter()
						defer g.exit()
						time.Sleep(time.Second)
						return nil
					})
				}
				require.NoError(t, n.Wait())
				assert.Equal(t, int64(k), g.max.Load())
				rounds := (tasks + k - 1) / k
				assert.Equal(t, time.Duration(rounds)*time.Second, time.Since(start))
			})
		})
	}
}

// The same bound with real goroutines, children included.
func TestLimitMaxConcurrencyWithChildren(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 3} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.WithLimit(k))
			var g gauge
			var ran atomic.Int32
			var work func(depth int) func(context.Context) error
			work = func(depth int) func(context.Context) error {
				return func(context.Context) error {
					g.enter()
					defer g.exit()
					ran.Add(1)
					for range 3 {
						runtime.Gosched()
					}
					if depth > 0 {
						// A task calling Go on its own saturated nursery
						// waits for room without its slot.
						g.exit()
						for range 3 {
							n.Go(work(depth - 1))
						}
						g.enter()
					}
					return nil
				}
			}
			mustFinish(t, "limited nursery with children", func(context.Context) {
				for range 8 {
					n.Go(work(3))
				}
				assert.NoError(t, n.Wait())
			}, nil)
			assert.Equal(t, int32(8*(1+3+9+27)), ran.Load())
			assert.LessOrEqual(t, g.max.Load(), int64(k), "more than k tasks ran at once")
		})
	}
}

// Go/Spawn block once k tasks run and k more wait, until a slot frees.
func TestLimitOutsideGoBlocks(t *testing.T) {
	tests := []struct {
		name  string
		spawn func(n *nursery.Nursery, fn func(context.Context) error)
	}{
		{name: "Go", spawn: func(n *nursery.Nursery, fn func(context.Context) error) { n.Go(fn) }},
		{name: "Spawn", spawn: func(n *nursery.Nursery, fn func(context.Context) error) {
			nursery.Spawn(n, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := nursery.New(t.Context(), nursery.WithLimit(1))
				gate := make(chan struct{})
				tt.spawn(n, func(context.Context) error { <-gate; return nil }) // runs
				tt.spawn(n, func(context.Context) error { <-gate; return nil }) // waits in the queue
				var secondRan atomic.Bool
				returned := make(chan struct{})
				go func() {
					defer close(returned)
					tt.spawn(n, func(context.Context) error { secondRan.Store(true); return nil })
				}()
				synctest.Wait()
				require.False(t, isClosed(returned), "%s from outside must block while the nursery is full", tt.name)
				assert.False(t, secondRan.Load())
				close(gate)
				synctest.Wait()
				require.True(t, isClosed(returned), "%s must return once a slot frees", tt.name)
				require.NoError(t, n.Wait())
				assert.True(t, secondRan.Load())
			})
		})
	}
}

// A Go blocked on the limit and released by cancellation does not run fn.
func TestLimitBlockedGoReleasedByCancellation(t *testing.T) {
	tests := []struct {
		name     string
		cancel   func(n *nursery.Nursery, cancelParent func())
		cause    error
		waitWant error // nil: Wait returns nil
	}{
		{name: "nursery Cancel", cancel: func(n *nursery.Nursery, _ func()) { n.Cancel(errStop) }, cause: errStop},
		{name: "parent cancelled", cancel: func(_ *nursery.Nursery, cp func()) { cp() }, cause: errParent, waitWant: errParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				n := nursery.New(parent, nursery.WithLimit(1))
				n.Go(blockOnCtx) // runs
				var ran atomic.Int32
				n.Go(func(context.Context) error { ran.Add(1); return nil }) // waits in the queue
				var task *nursery.Task[int]
				spawned := make(chan struct{})
				goReturned := make(chan struct{})
				go func() {
					defer close(spawned)
					task = nursery.Spawn(n, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
				}()
				go func() {
					defer close(goReturned)
					n.Go(func(context.Context) error { ran.Add(1); return nil })
				}()
				synctest.Wait()
				require.False(t, isClosed(spawned), "Spawn must block on a full nursery")
				require.False(t, isClosed(goReturned), "Go must block on a full nursery")
				tt.cancel(n, func() { cancel(errParent) })
				synctest.Wait()
				require.True(t, isClosed(spawned), "cancellation must release a blocked Spawn")
				require.True(t, isClosed(goReturned), "cancellation must release a blocked Go")
				v, err := task.Wait()
				assert.Zero(t, v)
				assert.ErrorIs(t, err, tt.cause)
				werr := n.Wait()
				assert.Zero(t, ran.Load(), "a task queued or released by cancellation must not run")
				if tt.waitWant == nil {
					assert.NoError(t, werr)
				} else {
					assert.ErrorIs(t, werr, tt.waitWant)
				}
			})
		})
	}
}

// A task that calls Go on its own saturated nursery must not deadlock it.
func TestLimitGoFromTaskOnSaturatedNursery(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.WithLimit(k))
			var children atomic.Int32
			for range k {
				n.Go(func(context.Context) error {
					// Every slot is taken by a task like this one.
					for range 100 {
						n.Go(func(context.Context) error { children.Add(1); return nil })
					}
					return nil
				})
			}
			mustFinish(t, "Wait on a saturated nursery whose tasks call Go", func(context.Context) { assert.NoError(t, n.Wait()) }, nil)
			assert.Equal(t, int32(100*k), children.Load())
		})
	}
}

// A chain of tasks that each wait on a child they spawned completes under
// WithLimit(1).
func TestLimitChainOfTaskWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		limit, roots int
		depth        int
	}{
		{name: "limit 1, one chain", limit: 1, roots: 1, depth: 30},
		{name: "limit 1, three chains", limit: 1, roots: 3, depth: 10},
		{name: "limit 2, five chains", limit: 2, roots: 5, depth: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.WithLimit(tt.limit))
			var g gauge // tasks running and not blocked in Task.Wait
			var chain func(depth int) func(context.Context) (int, error)
			chain = func(depth int) func(context.Context) (int, error) {
				return func(ctx context.Context) (int, error) {
					g.enter()
					defer g.exit()
					if depth == 0 {
						runtime.Gosched()
						return 0, nil
					}
					g.exit() // Spawn may wait for room, without the slot
					child := nursery.Spawn(n, chain(depth-1))
					v, err := child.Wait()
					g.enter()
					return v + 1, err
				}
			}
			mustFinish(t, "chain of Task.Wait under a limit", func(context.Context) {
				roots := make([]*nursery.Task[int], tt.roots)
				for i := range roots {
					roots[i] = nursery.Spawn(n, chain(tt.depth))
				}
				for _, r := range roots {
					v, err := r.Wait()
					assert.NoError(t, err)
					assert.Equal(t, tt.depth, v)
				}
				assert.NoError(t, n.Wait())
			}, nil)
			assert.LessOrEqual(t, g.max.Load(), int64(tt.limit))
		})
	}
}

// Recursive fork/join (both children waited) under WithLimit(1).
func TestLimitForkJoin(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.WithLimit(1))
	mustFinish(t, "fork/join under WithLimit(1)", func(context.Context) {
		root := nursery.Spawn(n, forkJoinFib(n, 12, true))
		v, err := root.Wait()
		assert.NoError(t, err)
		assert.Equal(t, 144, v)
		assert.NoError(t, n.Wait())
	}, nil)
}

// Children queued behind the limit when the nursery is cancelled never
// start with a done context.
func TestLimitQueuedChildrenDroppedOnCancel(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.WithLimit(1))
	var entered, enteredCancelled atomic.Int32
	var mu sync.Mutex
	var handles []*nursery.Task[int]
	spawnedAll := make(chan struct{})
	n.Go(func(ctx context.Context) error {
		for range 10 {
			h := nursery.Spawn(n, func(ctx context.Context) (int, error) {
				entered.Add(1)
				if ctx.Err() != nil {
					enteredCancelled.Add(1)
				}
				return 1, nil
			})
			mu.Lock()
			handles = append(handles, h)
			mu.Unlock()
		}
		close(spawnedAll)
		return blockOnCtx(ctx)
	})
	mustFinish(t, "spawning children", func(context.Context) { <-spawnedAll }, nil)
	n.Cancel(errStop)
	mustFinish(t, "Wait after cancelling queued children", func(context.Context) { assert.NoError(t, n.Wait()) }, nil)
	assert.Zero(t, enteredCancelled.Load(), "a queued task started after its nursery was cancelled")
	mu.Lock()
	defer mu.Unlock()
	for _, h := range handles {
		v, err := h.Wait()
		if err != nil {
			assert.ErrorIs(t, err, errStop, "a dropped task's Wait returns the cancellation cause")
			assert.Zero(t, v)
		} else {
			assert.Equal(t, 1, v)
		}
	}
}

// Dynamic spawning under a limit: the tree completes and the limit is
// reached but never exceeded.
func TestLimitWithDynamicSpawnWhileWaitBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.WithLimit(2))
		var g gauge
		var total atomic.Int32
		var spawn func(depth int) func(context.Context) error
		spawn = func(depth int) func(context.Context) error {
			return func(context.Context) error {
				g.enter()
				total.Add(1)
				time.Sleep(time.Second)
				g.exit()
				if depth > 0 {
					n.Go(spawn(depth - 1))
					n.Go(spawn(depth - 1))
				}
				return nil
			}
		}
		n.Go(spawn(4))
		require.NoError(t, n.Wait())
		assert.Equal(t, int32(31), total.Load())
		// The contract bounds concurrency; it does not promise that
		// children spawned from inside tasks reach the limit.
		assert.LessOrEqual(t, g.max.Load(), int64(2))
		assert.Positive(t, g.max.Load())
	})
}

// Stress: several tasks of a limited nursery each run a chain of
// Spawn + Task.Wait. Found by FuzzTree (WithLimit(3), two chains and a
// failing sibling deadlocked with runners blocked in Spawn).
func TestLimitSpawnWaitChainsStress(t *testing.T) {
	t.Parallel()
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	for _, k := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			for it := range iterations {
				opts := []nursery.Option{nursery.WithLimit(k)}
				if it%2 == 0 {
					opts = append(opts, nursery.CollectErrors())
				}
				n := nursery.New(t.Context(), opts...)
				var chain func(depth int) func(context.Context) (int, error)
				chain = func(depth int) func(context.Context) (int, error) {
					return func(ctx context.Context) (int, error) {
						if depth == 0 {
							return 0, nil
						}
						v, err := nursery.Spawn(n, chain(depth-1)).Wait()
						return v + 1, err
					}
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					if it%3 == 0 {
						n.Go(func(context.Context) error { return errBoom })
					}
					for range k + 1 {
						n.Go(func(ctx context.Context) error {
							_, err := chain(3)(ctx)
							return err
						})
					}
					_ = n.Wait()
				}()
				mustFinish(t, fmt.Sprintf("iteration %d: Wait on a limited nursery of Spawn+Wait chains", it), func(context.Context) { <-done }, nil)
			}
		})
	}
}
