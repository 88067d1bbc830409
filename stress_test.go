package nursery_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// 1000 create/spawn/cancel/wait cycles with random options and task
// behaviours, checking the invariants on every cycle.
func TestStressCreateSpawnCancelWait(t *testing.T) {
	t.Parallel()
	iterations := 1000
	if testing.Short() {
		iterations = 200
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for it := range iterations {
		var opts []nursery.Option
		collect := rng.IntN(3) == 0
		if collect {
			opts = append(opts, nursery.CollectErrors())
		}
		if rng.IntN(3) == 0 {
			opts = append(opts, nursery.WithLimit(1+rng.IntN(3)))
		}
		if rng.IntN(2) == 0 {
			opts = append(opts, nursery.PanicsAsErrors())
		}
		parent, cancelParent := context.WithCancelCause(t.Context())
		n := nursery.New(parent, opts...)
		tasks := 1 + rng.IntN(8)
		kinds := make([]int, tasks)
		for j := range kinds {
			kinds[j] = rng.IntN(6)
		}
		cancelKind := rng.IntN(4)
		failing := 0
		var handles []*nursery.Task[int]
		results := make([]error, 2)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for j, kind := range kinds {
				switch kind {
				case 0:
					failing++
					n.Go(func(context.Context) error { return fmt.Errorf("task %d: %w", j, errBoom) })
				case 1:
					n.Go(blockOnCtxOrSoon)
				case 2:
					handles = append(handles, nursery.Spawn(n, func(ctx context.Context) (int, error) {
						runtime.Gosched()
						return j, nil
					}))
				case 3:
					n.Go(func(ctx context.Context) error {
						n.Go(noop) // dynamic spawn
						return nil
					})
				case 4:
					handles = append(handles, nursery.Spawn(n, func(ctx context.Context) (int, error) {
						return j, blockOnCtxOrSoon(ctx)
					}))
				default:
					n.Go(noop)
				}
			}
			switch cancelKind {
			case 1:
				go n.Cancel(errStop)
			case 2:
				go cancelParent(errParent)
			case 3:
				if len(handles) > 0 {
					go handles[0].Cancel(errStop)
				}
			}
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() { results[i] = n.Wait() })
			}
			wg.Wait()
		}()
		mustFinish(t, fmt.Sprintf("iteration %d: spawn and Wait", it), func(context.Context) { <-done }, nil)
		cancelParent(nil)

		err := results[0]
		assert.Equal(t, err, results[1], "iteration %d: concurrent Waits disagree", it)
		assert.True(t, isClosed(n.Context().Done()), "iteration %d: context live after Wait", it)
		for _, leaf := range leaves(err) {
			if leaf != errBoom && leaf != errParent {
				t.Errorf("iteration %d: unexpected error leaf %q (%T) in %q", it, leaf, leaf, err)
			}
		}
		if failing == 0 && cancelKind != 2 {
			assert.NoError(t, err, "iteration %d: no task failed", it)
		}
		if failing > 0 && cancelKind == 0 {
			assert.ErrorIs(t, err, errBoom, "iteration %d: a failure went unreported", it)
		}
		for _, h := range handles {
			select {
			case <-h.Done():
			default:
				t.Errorf("iteration %d: a task handle is not done after Wait", it)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// Many goroutines wait on and cancel the same tasks concurrently.
func TestStressTaskWaitAndCancel(t *testing.T) {
	t.Parallel()
	for it := range 200 {
		n := nursery.New(t.Context())
		tasks := make([]*nursery.Task[int], 8)
		for i := range tasks {
			tasks[i] = nursery.Spawn(n, func(ctx context.Context) (int, error) {
				if err := blockOnCtxOrSoon(ctx); err != nil {
					return -1, context.Cause(ctx)
				}
				return i, nil
			})
		}
		var wg sync.WaitGroup
		for i, task := range tasks {
			wg.Go(func() {
				if i%3 == 0 {
					task.Cancel(errStop)
				}
			})
			for range 3 {
				wg.Go(func() {
					v, err := task.Wait()
					v2, err2 := task.Wait()
					assert.Equal(t, v, v2)
					assert.Equal(t, err, err2)
					if err == nil {
						assert.Equal(t, i, v)
					} else {
						assert.ErrorIs(t, err, errStop)
					}
				})
			}
		}
		wg.Wait()
		require.NoError(t, n.Wait(), "iteration %d: Task.Cancel is not a failure", it)
	}
}

// Memory is O(live tasks), not O(tasks ever started): a long-lived nursery
// that runs many short tasks keeps a flat heap.
func TestMemoryFlatForLongLivedNursery(t *testing.T) {
	total := 150_000
	if testing.Short() {
		total = 50_000
	}
	const batch = 1000
	const warmup = 20 * batch
	const budget = 1 << 20 // bytes of growth tolerated: under 8 bytes per task
	tests := []struct {
		name string
		opts func(p *nursery.Pool) []nursery.Option
		run  func(n *nursery.Nursery, fn func(context.Context) error)
	}{
		{name: "Go", run: func(n *nursery.Nursery, fn func(context.Context) error) { n.Go(fn) }},
		{name: "Spawn, handles dropped", run: func(n *nursery.Nursery, fn func(context.Context) error) {
			nursery.Spawn(n, func(ctx context.Context) (int, error) { return 0, fn(ctx) })
		}},
		{name: "named tasks", run: func(n *nursery.Nursery, fn func(context.Context) error) {
			n.Go(fn, nursery.Name("short"))
		}},
		{
			name: "WithLimit",
			opts: func(*nursery.Pool) []nursery.Option { return []nursery.Option{nursery.WithLimit(4)} },
			run:  func(n *nursery.Nursery, fn func(context.Context) error) { n.Go(fn) },
		},
		{
			name: "Pool",
			opts: func(p *nursery.Pool) []nursery.Option { return []nursery.Option{nursery.WithExecutor(p)} },
			run:  func(n *nursery.Nursery, fn func(context.Context) error) { n.Go(fn) },
		},
		{
			name: "CollectErrors with cancelled tasks",
			opts: func(*nursery.Pool) []nursery.Option { return []nursery.Option{nursery.CollectErrors()} },
			run: func(n *nursery.Nursery, fn func(context.Context) error) {
				task := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 0, ctx.Err() })
				task.Cancel(errStop)
				<-task.Done()
				_ = fn(nil) // counted here: a cancelled task may never run
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In a bubble, so that heapInUse can wait for the finished
			// tasks' goroutines to exit (synctest.Wait) instead of sleeping.
			synctest.Test(t, func(t *testing.T) {
				p := nursery.NewPool(4)
				defer func() { assert.NoError(t, p.Close()) }()
				var opts []nursery.Option
				if tt.opts != nil {
					opts = tt.opts(p)
				}
				n := nursery.New(t.Context(), opts...)
				var wg sync.WaitGroup
				fn := func(context.Context) error { wg.Done(); return nil }
				var base uint64
				for started := 0; started < total; started += batch {
					if started == warmup {
						base = heapInUse()
					}
					wg.Add(batch)
					for range batch {
						tt.run(n, fn)
					}
					wg.Wait()
				}
				end := heapInUse()
				require.NoError(t, n.Wait())
				growth := int64(end) - int64(base)
				t.Logf("heap after %d tasks: %d bytes, after %d: %d bytes (growth %d, %.2f bytes/task)",
					warmup, base, total, end, growth, float64(growth)/float64(total-warmup))
				assert.Less(t, growth, int64(budget), "heap grew with the number of tasks ever started")
			})
		})
	}
}

// heapInUse is the live heap once the bubble's other goroutines have
// exited or blocked (finished tasks' goroutines are gone) and two
// collections have let finalizers and sweeping settle. It must be called
// in a synctest bubble.
func heapInUse() uint64 {
	var ms runtime.MemStats
	synctest.Wait()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
