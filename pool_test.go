package nursery_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
)

var _ nursery.Executor = (*nursery.Pool)(nil)

// goid returns the current goroutine's id, parsed from its stack header.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// goids records the distinct goroutines that ran something.
type goids struct {
	mu  sync.Mutex
	ids map[uint64]bool
}

func (g *goids) record() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil {
		g.ids = map[uint64]bool{}
	}
	g.ids[goid()] = true
}

func (g *goids) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ids)
}

// submit calls p.Go on its own goroutine and delivers the result.
func submit(p *nursery.Pool, ctx context.Context, task func()) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Go(ctx, task) }()
	return ch
}

func ready(ch <-chan error) bool { return len(ch) == 1 }

func TestPoolRunsEveryAcceptedTaskOnce(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(3)
	var ran [200]atomic.Int32
	var ids goids
	for i := range ran {
		require.NoError(t, p.Go(t.Context(), func() {
			ids.record()
			ran[i].Add(1)
		}))
	}
	require.NoError(t, p.Close())
	for i := range ran {
		assert.Equal(t, int32(1), ran[i].Load(), "task %d", i)
	}
	assert.LessOrEqual(t, ids.count(), 3, "a pool of 3 workers ran tasks on more than 3 goroutines")
	assert.Equal(t, uint64(len(ran)), p.Stats().Completed)
}

func TestPoolReusesWorkers(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(2, nursery.IdleTimeout(time.Hour))
	defer func() { assert.NoError(t, p.Close()) }()
	var ids goids
	for range 100 {
		done := make(chan struct{})
		require.NoError(t, p.Go(t.Context(), func() { ids.record(); close(done) }))
		<-done
	}
	assert.LessOrEqual(t, ids.count(), 2, "workers must be re-used, not one goroutine per task")
}

// A closed pool leaves no goroutine behind.
func TestPoolCloseLeavesNoGoroutine(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := nursery.NewPool(4, nursery.QueueSize(16))
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		require.NoError(t, p.Go(t.Context(), func() { defer wg.Done(); runtime.Gosched() }))
	}
	wg.Wait()
	require.NoError(t, p.Close())
	goleak.VerifyNone(t, before)
}

func TestPoolCloseWaitsForRunningAndQueuedTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(1, nursery.QueueSize(3))
		gate := make(chan struct{})
		var ran atomic.Int32
		require.NoError(t, p.Go(t.Context(), func() { <-gate; ran.Add(1) }))
		synctest.Wait()
		for range 3 {
			require.NoError(t, p.Go(t.Context(), func() { ran.Add(1) }))
		}
		closed := make(chan error, 1)
		go func() { closed <- p.Close() }()
		synctest.Wait()
		require.Empty(t, closed, "Close returned while a task was running")
		close(gate)
		require.NoError(t, <-closed)
		assert.Equal(t, int32(4), ran.Load(), "every accepted task runs exactly once, even when queued at Close")
		assert.Equal(t, uint64(4), p.Stats().Completed)
	})
}

func TestPoolGoAfterClose(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(2)
	require.NoError(t, p.Close())
	var ran atomic.Bool
	err := p.Go(t.Context(), func() { ran.Store(true) })
	require.ErrorIs(t, err, nursery.ErrPoolClosed)
	assert.False(t, ran.Load())
	assert.NotPanics(t, func() { _ = p.Close() }, "a second Close")
}

func TestPoolGoWithDoneContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{name: "cancelled with cause", want: errParent, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(errParent)
			return ctx
		}},
		{name: "cancelled", want: context.Canceled, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}},
		{name: "deadline passed", want: context.DeadlineExceeded, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
			t.Cleanup(cancel)
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := nursery.NewPool(1)
			defer func() { assert.NoError(t, p.Close()) }()
			var ran atomic.Bool
			err := p.Go(tt.ctx(t), func() { ran.Store(true) })
			require.ErrorIs(t, err, tt.want)
			assert.False(t, ran.Load(), "Pool.Go with a done ctx must not run the task")
		})
	}
}

// When the queue is full, Go blocks until there is room or ctx ends.
func TestPoolQueueSizeBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(1, nursery.QueueSize(2))
		gate := make(chan struct{})
		var ran atomic.Int32
		require.NoError(t, p.Go(t.Context(), func() { <-gate; ran.Add(1) }))
		synctest.Wait() // the worker holds the blocker
		q1 := submit(p, t.Context(), func() { ran.Add(1) })
		q2 := submit(p, t.Context(), func() { ran.Add(1) })
		synctest.Wait()
		require.True(t, ready(q1) && ready(q2), "Go must not block while the queue has room")
		require.NoError(t, <-q1)
		require.NoError(t, <-q2)
		st := p.Stats()
		assert.Equal(t, 1, st.Running)
		assert.Equal(t, 2, st.Queued)

		q3 := submit(p, t.Context(), func() { ran.Add(1) })
		cctx, cancel := context.WithCancelCause(t.Context())
		var droppedRan atomic.Bool
		q4 := submit(p, cctx, func() { droppedRan.Store(true) })
		synctest.Wait()
		require.False(t, ready(q3), "Go must block while the queue is full")
		require.False(t, ready(q4), "Go must block while the queue is full")

		cancel(errStop)
		synctest.Wait()
		require.True(t, ready(q4), "ctx ending must release a blocked Go")
		require.ErrorIs(t, <-q4, errStop)
		require.False(t, ready(q3))

		close(gate)
		require.NoError(t, <-q3)
		require.NoError(t, p.Close())
		assert.Equal(t, int32(4), ran.Load())
		assert.False(t, droppedRan.Load(), "a task whose Go returned an error must never run")
	})
}

func TestPoolStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(2, nursery.QueueSize(4), nursery.IdleTimeout(time.Hour))
		assert.Equal(t, nursery.PoolStats{}, p.Stats(), "a new pool has no worker yet (lazy growth)")
		gate := make(chan struct{})
		for range 2 {
			require.NoError(t, p.Go(t.Context(), func() { <-gate }))
		}
		synctest.Wait()
		assert.Equal(t, nursery.PoolStats{Workers: 2, Running: 2}, p.Stats())
		for range 3 {
			require.NoError(t, p.Go(t.Context(), func() { <-gate }))
		}
		synctest.Wait()
		assert.Equal(t, nursery.PoolStats{Workers: 2, Running: 2, Queued: 3}, p.Stats())
		close(gate)
		synctest.Wait()
		assert.Equal(t, nursery.PoolStats{Workers: 2, Running: 0, Queued: 0, Completed: 5}, p.Stats())
		require.NoError(t, p.Close())
		st := p.Stats()
		assert.Equal(t, 0, st.Workers, "a closed pool has no worker")
		assert.Equal(t, uint64(5), st.Completed)
	})
}

// Tasks of a nursery on the pool count in its Stats like tasks given to
// Pool.Go, though they wait in the nursery's queue and run in batches.
func TestPoolStatsCountNurseryTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(2, nursery.QueueSize(4), nursery.IdleTimeout(time.Hour))
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		gate := make(chan struct{})
		for range 5 {
			n.Go(func(context.Context) error { <-gate; return nil })
		}
		synctest.Wait()
		assert.Equal(t, nursery.PoolStats{Workers: 2, Running: 2, Queued: 3}, p.Stats())
		close(gate)
		require.NoError(t, n.Wait())
		synctest.Wait()
		assert.Equal(t, nursery.PoolStats{Workers: 2, Completed: 5}, p.Stats())

		// A cancelled nursery's dropped tasks leave the queue too.
		n = nursery.New(t.Context(), nursery.WithExecutor(p))
		gate = make(chan struct{})
		for range 5 {
			n.Go(func(context.Context) error { <-gate; return nil })
		}
		synctest.Wait()
		n.Cancel(nil)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Queued, "dropped tasks are no longer queued")
		close(gate)
		require.NoError(t, n.Wait())
		require.NoError(t, p.Close())
		assert.Equal(t, 0, p.Stats().Running)
	})
}

// Idle workers exit after the idle timeout, so an idle program holds no
// goroutines; the pool grows again on demand.
func TestPoolIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		p := nursery.NewPool(3, nursery.IdleTimeout(time.Second))
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			require.NoError(t, p.Go(t.Context(), func() { defer wg.Done(); time.Sleep(time.Millisecond) }))
		}
		wg.Wait()
		synctest.Wait()
		assert.Positive(t, p.Stats().Workers)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, p.Stats().Workers, "idle workers must exit after the idle timeout")
		assert.NoError(t, goleak.Find(before), "an idle pool must hold no goroutine")

		done := make(chan struct{})
		require.NoError(t, p.Go(t.Context(), func() { close(done) }))
		<-done
		require.NoError(t, p.Close())
	})
}

func TestPoolMisuse(t *testing.T) {
	t.Parallel()
	var nilCtx context.Context
	tests := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"zero workers", func(*testing.T) { nursery.NewPool(0) }},
		{"negative workers", func(*testing.T) { nursery.NewPool(-1) }},
		{"nil ctx", func(t *testing.T) {
			p := nursery.NewPool(1)
			defer func() { _ = p.Close() }()
			_ = p.Go(nilCtx, func() {})
		}},
		{"nil task", func(t *testing.T) {
			p := nursery.NewPool(1)
			defer func() { _ = p.Close() }()
			_ = p.Go(t.Context(), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireMisuse(t, func() { tt.f(t) })
		})
	}
}

// A panic in a task given directly to Pool.Go (outside any nursery) is not
// recovered by the pool: it crashes the program like a goroutine's panic.
func TestPoolDirectPanicCrashesProgram(t *testing.T) {
	const marker = "NURSERY_TEST_POOL_PANIC_CHILD"
	if os.Getenv(marker) == "1" {
		p := nursery.NewPool(1)
		_ = p.Go(context.Background(), func() { panic("pool-direct-panic") })
		// A real sleep in the child process: it gives the pool's worker
		// real time to run the task and crash the process; nothing in the
		// child can signal that, since the crash is the outcome.
		time.Sleep(deadlockTimeout)
		os.Exit(0) // not reached if the panic crashed the process
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestPoolDirectPanicCrashesProgram$", "-test.count=1")
	cmd.Env = append(os.Environ(), marker+"=1")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "the child must crash, got err=%v output:\n%s", err, out)
	assert.Equal(t, 2, exitErr.ExitCode(), "an unrecovered panic exits with status 2")
	assert.Contains(t, string(out), "panic: pool-direct-panic")
}

// The queue's capacity defaults to the number of workers.
func TestPoolDefaultQueueSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(2)
		gate := make(chan struct{})
		for range 2 {
			require.NoError(t, p.Go(t.Context(), func() { <-gate }))
		}
		synctest.Wait() // both workers hold a task
		q := []<-chan error{
			submit(p, t.Context(), func() { <-gate }),
			submit(p, t.Context(), func() { <-gate }),
		}
		synctest.Wait()
		require.True(t, ready(q[0]) && ready(q[1]), "the default queue holds as many tasks as workers")
		extra := submit(p, t.Context(), func() { <-gate })
		synctest.Wait()
		require.False(t, ready(extra), "a full default queue must block Go")
		close(gate)
		require.NoError(t, <-extra)
		require.NoError(t, p.Close())
		assert.Equal(t, uint64(5), p.Stats().Completed)
	})
}
