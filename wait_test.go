package nursery_test

import (
	"context"
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

func TestWaitWaitsForEveryTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		gate := make(chan struct{})
		var finished atomic.Int32
		const tasks = 50
		for range tasks {
			n.Go(func(context.Context) error {
				<-gate
				time.Sleep(time.Millisecond)
				finished.Add(1)
				return nil
			})
		}
		var err error
		done := make(chan struct{})
		go func() { defer close(done); err = n.Wait() }()
		synctest.Wait()
		require.False(t, isClosed(done), "Wait returned while tasks were still blocked")
		close(gate)
		<-done
		require.NoError(t, err)
		assert.Equal(t, int32(tasks), finished.Load(), "Wait returned before every task returned")
	})
}

// A task spawned from inside another task while Wait is already blocked
// (dynamic spawning) is owned too.
func TestDynamicSpawnWhileWaitBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		var spawned, finished atomic.Int32
		var crawl func(depth int) func(context.Context) error
		crawl = func(depth int) func(context.Context) error {
			return func(ctx context.Context) error {
				defer finished.Add(1)
				time.Sleep(time.Millisecond) // children appear after their parent began
				if depth == 0 {
					return nil
				}
				for range 3 {
					spawned.Add(1)
					n.Go(crawl(depth - 1))
				}
				return nil
			}
		}
		gate := make(chan struct{})
		spawned.Add(1)
		n.Go(func(ctx context.Context) error {
			<-gate // only spawn once Wait is blocked
			return crawl(4)(ctx)
		})
		var err error
		done := make(chan struct{})
		go func() { defer close(done); err = n.Wait() }()
		synctest.Wait()
		require.False(t, isClosed(done))
		close(gate)
		<-done
		require.NoError(t, err)
		// 1 root + 3 + 9 + 27 + 81
		assert.Equal(t, int32(1+3+9+27+81), spawned.Load())
		assert.Equal(t, spawned.Load(), finished.Load(), "Wait returned before dynamically spawned tasks returned")
	})
}

// A crawler over a synthetic link graph, with real goroutines: every page is
// visited and every task has returned when Wait returns.
func TestDynamicSpawnCrawler(t *testing.T) {
	t.Parallel()
	const pages = 2000
	n := nursery.New(t.Context())
	var mu sync.Mutex
	visited := make(map[int]bool)
	var running atomic.Int32
	var visit func(p int) func(context.Context) error
	visit = func(p int) func(context.Context) error {
		return func(ctx context.Context) error {
			running.Add(1)
			defer running.Add(-1)
			runtime.Gosched()
			for _, next := range []int{2*p + 1, 2*p + 2, (p * 7) % pages} {
				if next >= pages {
					continue
				}
				mu.Lock()
				seen := visited[next]
				visited[next] = true
				mu.Unlock()
				if !seen {
					n.Go(visit(next))
				}
			}
			return nil
		}
	}
	visited[0] = true
	n.Go(visit(0))
	require.NoError(t, n.Wait())
	assert.Equal(t, int32(0), running.Load(), "a task was still running after Wait returned")
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, visited, pages)
}

func TestWaitReleasesScope(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	tests := []struct {
		name  string
		setup func(n *nursery.Nursery)
	}{
		{name: "empty", setup: func(*nursery.Nursery) {}},
		{name: "successful tasks", setup: func(n *nursery.Nursery) { n.Go(noop); n.Go(noop) }},
		{name: "failing task", setup: func(n *nursery.Nursery) { n.Go(func(context.Context) error { return errBoom }) }},
		{name: "cancelled", setup: func(n *nursery.Nursery) { n.Go(blockOnCtx); n.Cancel(errStop) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.WithValue(t.Context(), ctxKey{}, "v")
			n := nursery.New(ctx)
			assert.Equal(t, "v", n.Context().Value(ctxKey{}), "the nursery's context keeps the parent's values")
			tt.setup(n)
			_ = n.Wait()
			assert.True(t, isClosed(n.Context().Done()), "n.Context() must be done once Wait returned")
			assert.Error(t, n.Context().Err())
		})
	}
}

func TestContextLiveBeforeWait(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	ctx := context.WithValue(t.Context(), ctxKey{}, 42)
	n := nursery.New(ctx)
	seen := make(chan any, 1)
	n.Go(func(ctx context.Context) error {
		seen <- ctx.Value(ctxKey{})
		return nil
	})
	assert.Equal(t, 42, <-seen, "a task's context keeps the parent's values")
	assert.NoError(t, n.Context().Err(), "the nursery's context must be live before Wait")
	require.NoError(t, n.Wait())
}

func TestWaitRepeatable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(n *nursery.Nursery)
	}{
		{name: "nil", setup: func(n *nursery.Nursery) { n.Go(noop) }},
		{name: "single error", setup: func(n *nursery.Nursery) { n.Go(func(context.Context) error { return errBoom }) }},
		{name: "joined errors", setup: func(n *nursery.Nursery) {
			gate := make(chan struct{})
			n.Go(func(context.Context) error { <-gate; return errBoom })
			n.Go(func(context.Context) error { <-gate; return errOther })
			close(gate)
		}},
		{name: "cancelled", setup: func(n *nursery.Nursery) {
			n.Go(blockOnCtx)
			n.Cancel(nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			tt.setup(n)
			const callers = 8
			results := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() { results[i] = n.Wait() })
			}
			wg.Wait()
			for i := range callers {
				assert.Equal(t, results[0], results[i], "concurrent Wait calls returned different results")
			}
			for range 3 {
				assert.Equal(t, results[0], n.Wait(), "a later Wait returned a different result")
			}
		})
	}
}

func TestWaitRepanicsSameValueEveryCall(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	n.Go(func(context.Context) error { panic("once") })
	const callers = 4
	values := make([]any, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			v, panicked := catchPanic(func() { _ = n.Wait() })
			assert.True(t, panicked, "every Wait call must re-panic")
			values[i] = v
		})
	}
	wg.Wait()
	v, panicked := catchPanic(func() { _ = n.Wait() })
	require.True(t, panicked, "a later Wait call must re-panic too")
	var pe *nursery.PanicError
	require.ErrorAs(t, v.(error), &pe)
	assert.Equal(t, "once", pe.Value)
	for i := range callers {
		assert.Equal(t, v, values[i], "Wait re-panicked a different value")
	}
}
