package natsexec_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

func newPool(tb testing.TB, url string, opts ...natsexec.PoolOption) *natsexec.Pool {
	tb.Helper()
	pool, err := natsexec.NewPool(connect(tb, url), opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { assert.NoError(tb, pool.Close()) })
	return pool
}

// TestFanOut spreads 10 000 calls over two worker processes in a nursery.
func TestFanOut(t *testing.T) {
	s := startServer(t, 0)
	startWorker(t, s.ClientURL(), "w1", 32, 0)
	startWorker(t, s.ClientURL(), "w2", 32, 0)
	// A generous lease: this test is about results, and CI machines under
	// the race detector can starve a worker for seconds.
	pool := newPool(t, s.ClientURL(), natsexec.Lease(20*time.Second))
	waitWorkers(t, pool, "w1", "w2")

	const calls = 10_000
	tasks := make([]*nursery.Task[sumOut], calls)
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for i := range calls {
			tasks[i] = sum.Spawn(n, pool, sumIn{ID: i, A: i, B: 2 * i})
		}
		return nil
	})
	require.NoError(t, err)
	perWorker := map[string]int{}
	for i, task := range tasks {
		out, err := task.Wait()
		require.NoError(t, err)
		require.Equal(t, 3*i, out.Sum, "call %d", i)
		perWorker[out.Worker]++
	}
	t.Logf("calls per worker: %v", perWorker)
	assert.Len(t, perWorker, 2)
	assert.Equal(t, calls, perWorker["w1"]+perWorker["w2"])
}

// TestErrors checks that errors, sentinels, panics and unknown functions
// arrive as they do from a subprocess.Pool.
func TestErrors(t *testing.T) {
	s := startServer(t, 0)
	startWorker(t, s.ClientURL(), "w1", 4, 0)
	pool := newPool(t, s.ClientURL())
	waitWorkers(t, pool, "w1")

	t.Run("error", func(t *testing.T) {
		_, err := fail.Call(t.Context(), pool, "x.txt")
		var re *subprocess.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, "natsexectest.fail", re.Func)
		assert.EqualError(t, err, "opening x.txt: file does not exist")
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("panic", func(t *testing.T) {
		_, err := boom.Call(t.Context(), pool, "kaboom")
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "natsexectest.boom", pe.Task)
		assert.Contains(t, string(pe.Stack), "natsexec_test.init")
		v, ok := pe.Value.(*subprocess.RemoteError)
		require.True(t, ok, "panic value %T", pe.Value)
		assert.Equal(t, "kaboom", v.Message)
	})
	t.Run("panic in a nursery", func(t *testing.T) {
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			boom.Spawn(n, pool, "in a task")
			return nil
		}, nursery.PanicsAsErrors())
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "natsexectest.boom", pe.Task)
	})
	t.Run("unknown function", func(t *testing.T) {
		err := pool.Invoke(t.Context(), "natsexectest.nope", 1, new(int))
		require.ErrorIs(t, err, subprocess.ErrUnknownFunc)
		assert.ErrorContains(t, err, `"natsexectest.nope" in worker w1`)
	})
	t.Run("unencodable input", func(t *testing.T) {
		err := pool.Invoke(t.Context(), "natsexectest.noop", make(chan int), new(int))
		require.ErrorContains(t, err, "cannot encode input of type chan int")
	})
	t.Run("result", func(t *testing.T) {
		got, err := noop.Call(t.Context(), pool, 42)
		require.NoError(t, err)
		assert.Equal(t, 42, got)
	})
}

// TestCancelReachesWorker cancels a call that waits for its context and
// checks that the worker's function saw the caller's cause.
func TestCancelReachesWorker(t *testing.T) {
	s := startServer(t, 0)
	startWorker(t, s.ClientURL(), "w1", 4, 0)
	pool := newPool(t, s.ClientURL())
	waitWorkers(t, pool, "w1")
	ev := events(t, connect(t, s.ClientURL()))

	cause := errors.New("the user gave up")
	ctx, cancel := context.WithCancelCause(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := hold.Call(ctx, pool, holdIn{ID: 1})
		done <- err
	}()
	assert.Equal(t, "start 1 w1 -1", nextEvent(t, ev))
	cancel(cause)
	err := <-done
	require.ErrorIs(t, err, cause)
	assert.Equal(t, "end 1 w1 the user gave up", nextEvent(t, ev))
}

// TestDeadlineHonouredRemotely gives a call a deadline and checks that the
// worker's function had it, and ended with it.
func TestDeadlineHonouredRemotely(t *testing.T) {
	s := startServer(t, 0)
	startWorker(t, s.ClientURL(), "w1", 4, 0)
	pool := newPool(t, s.ClientURL())
	waitWorkers(t, pool, "w1")
	ev := events(t, connect(t, s.ClientURL()))

	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	_, err := hold.Call(ctx, pool, holdIn{ID: 7})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	var id int
	var name string
	var left time.Duration
	_, scanErr := fmt.Sscanf(nextEvent(t, ev), "start %d %s %d", &id, &name, &left)
	require.NoError(t, scanErr)
	assert.Equal(t, 7, id)
	assert.Greater(t, left, time.Duration(0), "the worker's context has no deadline")
	assert.LessOrEqual(t, left, timeout)
	assert.Equal(t, "end 7 w1 context deadline exceeded", nextEvent(t, ev))
}

// TestWorkerKilled kills a worker with SIGKILL while both workers run
// calls: only the killed worker's calls fail, with *WorkerLostError naming
// it, within the lease.
func TestWorkerKilled(t *testing.T) {
	const (
		heartbeat = 100 * time.Millisecond
		lease     = 500 * time.Millisecond
		perWorker = 3
	)
	s := startServer(t, 0)
	w1 := startWorker(t, s.ClientURL(), "w1", perWorker, heartbeat)
	startWorker(t, s.ClientURL(), "w2", perWorker, heartbeat)
	pool := newPool(t, s.ClientURL(), natsexec.Lease(lease))
	waitWorkers(t, pool, "w1", "w2")
	ev := events(t, connect(t, s.ClientURL()))

	type result struct {
		worker string
		err    error
		at     time.Time
	}
	results := make(chan result, 2*perWorker)
	for i := range 2 * perWorker {
		go func() {
			w, err := hold.Call(context.Background(), pool, holdIn{ID: i, Sleep: 3 * time.Second})
			results <- result{w, err, time.Now()}
		}()
	}
	onW1 := 0
	for range 2 * perWorker {
		if strings.Fields(nextEvent(t, ev))[2] == "w1" {
			onW1++
		}
	}
	require.Equal(t, perWorker, onW1, "calls are not spread by room")
	require.NoError(t, w1.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()

	lost, ok := 0, 0
	for range 2 * perWorker {
		r := <-results
		if r.err == nil {
			assert.Equal(t, "w2", r.worker)
			ok++
			continue
		}
		var wl *natsexec.WorkerLostError
		require.ErrorAs(t, r.err, &wl)
		assert.Equal(t, "w1", wl.Worker)
		assert.Equal(t, "natsexectest.hold", wl.Func)
		assert.NotErrorIs(t, r.err, natsexec.ErrDisconnected)
		// The lease plus the pool's check period and a heartbeat of slack.
		assert.Less(t, r.at.Sub(killed), lease+time.Second, "lost too late")
		lost++
	}
	assert.Equal(t, perWorker, lost)
	assert.Equal(t, perWorker, ok)

	// The pool keeps serving with the remaining worker.
	out, err := sum.Call(t.Context(), pool, sumIn{A: 1, B: 2})
	require.NoError(t, err)
	assert.Equal(t, sumOut{Sum: 3, Worker: "w2"}, out)
}

// TestIdempotentRetried kills the worker running a call of a function
// declared Idempotent: the call is run again on the other worker.
func TestIdempotentRetried(t *testing.T) {
	const heartbeat = 100 * time.Millisecond
	s := startServer(t, 0)
	w1 := startWorker(t, s.ClientURL(), "w1", 1, heartbeat)
	w2 := startWorker(t, s.ClientURL(), "w2", 1, heartbeat)
	pool := newPool(t, s.ClientURL(), natsexec.Lease(500*time.Millisecond), natsexec.Idempotent(hold.Name()))
	waitWorkers(t, pool, "w1", "w2")
	ev := events(t, connect(t, s.ClientURL()))

	done := make(chan error, 1)
	var ranOn string
	go func() {
		var err error
		ranOn, err = hold.Call(t.Context(), pool, holdIn{ID: 1, Sleep: 500 * time.Millisecond})
		done <- err
	}()
	first := strings.Fields(nextEvent(t, ev))[2]
	victim, other := w1, "w2"
	if first == "w2" {
		victim, other = w2, "w1"
	}
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	require.NoError(t, <-done)
	assert.Equal(t, other, ranOn)
}

// TestServerRestart stops the NATS server while calls run: they fail with
// clear errors, new calls fail while it is down, and the pool serves again
// once it is back.
func TestServerRestart(t *testing.T) {
	const heartbeat = 100 * time.Millisecond
	s := startServer(t, 0)
	url := s.ClientURL()
	var restarted *server.Server
	// Registered before the workers' cleanups, so that it runs after them:
	// stopping workers need the server.
	t.Cleanup(func() {
		if restarted != nil {
			restarted.Shutdown()
			restarted.WaitForShutdown()
		}
	})
	startWorker(t, url, "w1", 4, heartbeat)
	startWorker(t, url, "w2", 4, heartbeat)
	pool := newPool(t, url, natsexec.Lease(500*time.Millisecond))
	waitWorkers(t, pool, "w1", "w2")
	ev := events(t, connect(t, url))

	const running = 4
	results := make(chan error, running)
	for i := range running {
		go func() {
			_, err := hold.Call(context.Background(), pool, holdIn{ID: i, Sleep: 3 * time.Second})
			results <- err
		}()
	}
	for range running {
		nextEvent(t, ev)
	}
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()

	for range running {
		err := <-results
		var wl *natsexec.WorkerLostError
		require.ErrorAs(t, err, &wl)
		assert.ErrorIs(t, err, natsexec.ErrDisconnected)
		assert.Contains(t, err.Error(), "lost its connection to NATS")
	}
	_, err := sum.Call(t.Context(), pool, sumIn{A: 1})
	require.ErrorIs(t, err, natsexec.ErrDisconnected)

	restarted = newServer(t, port)
	waitWorkers(t, pool, "w1", "w2")
	out, err := sum.Call(t.Context(), pool, sumIn{A: 1, B: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, out.Sum)
}

// TestWaiterWokenWhenWorkerLost fills the only worker from one pool while
// a call of another pool, with no deadline, waits for room: when the
// worker is killed and forgotten, the waiting call must fail with
// ErrNoWorkers, not wait forever.
func TestWaiterWokenWhenWorkerLost(t *testing.T) {
	const (
		heartbeat = 100 * time.Millisecond
		lease     = 500 * time.Millisecond
	)
	s := startServer(t, 0)
	w := startWorker(t, s.ClientURL(), "w1", 1, heartbeat)
	poolA := newPool(t, s.ClientURL(), natsexec.Lease(lease))
	poolB := newPool(t, s.ClientURL(), natsexec.Lease(lease))
	waitWorkers(t, poolA, "w1")
	waitWorkers(t, poolB, "w1")
	ev := events(t, connect(t, s.ClientURL()))

	filled := make(chan error, 1)
	go func() {
		_, err := hold.Call(context.Background(), poolA, holdIn{ID: 1})
		filled <- err
	}()
	require.Equal(t, "start 1 w1 -1", nextEvent(t, ev))
	waiting := make(chan error, 1)
	go func() {
		_, err := noop.Call(context.Background(), poolB, 1)
		waiting <- err
	}()
	require.Eventually(t, func() bool { return natsexec.Waiters(poolB) == 1 }, 20*time.Second, time.Millisecond)
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))

	var wl *natsexec.WorkerLostError
	require.ErrorAs(t, <-filled, &wl)
	select {
	case err := <-waiting:
		require.ErrorIs(t, err, natsexec.ErrNoWorkers)
	case <-time.After(20 * time.Second): // a watchdog: it should take about a lease
		t.Fatal("a call waiting for room was not woken when its only worker was lost")
	}
}

// TestCallRightAfterReconnect restarts the NATS server for longer than a
// lease, so that the pool forgets its workers, and calls as soon as the
// pool is connected again: the call waits for the workers to be heard,
// instead of failing with ErrNoWorkers for the time the pool was cut off.
func TestCallRightAfterReconnect(t *testing.T) {
	const lease = 300 * time.Millisecond
	s := newServer(t, 0)
	port := s.Addr().(*net.TCPAddr).Port
	var restarted *server.Server
	t.Cleanup(func() {
		if restarted != nil {
			restarted.Shutdown()
			restarted.WaitForShutdown()
		}
	})
	serveInProcess(t, s.ClientURL(), natsexec.Heartbeat(100*time.Millisecond))
	nc := connect(t, s.ClientURL())
	pool, err := natsexec.NewPool(nc, natsexec.Lease(lease))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, pool.Close()) })
	_, err = noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	s.Shutdown()
	s.WaitForShutdown()
	require.Eventually(t, func() bool { return len(natsexec.WorkerTokens(pool)) == 0 }, 20*time.Second, time.Millisecond)
	restarted = newServer(t, port)
	require.Eventually(t, nc.IsConnected, 20*time.Second, time.Millisecond)
	got, err := noop.Call(t.Context(), pool, 2)
	require.NoError(t, err)
	assert.Equal(t, 2, got)
}
