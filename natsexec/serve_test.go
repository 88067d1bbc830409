package natsexec_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

// gauge counts the calls of gauged in this process, for the tests that
// serve in the test process.
var gauge struct {
	running, peak, calls atomic.Int64
}

// gauged sleeps for d, or until its context is done if d is 0.
var gauged = subprocess.Register("natsexectest.gauged", func(ctx context.Context, d time.Duration) (int, error) {
	gauge.calls.Add(1)
	n := gauge.running.Add(1)
	defer gauge.running.Add(-1)
	for p := gauge.peak.Load(); n > p && !gauge.peak.CompareAndSwap(p, n); p = gauge.peak.Load() {
	}
	if d == 0 {
		<-ctx.Done()
		return 0, context.Cause(ctx)
	}
	select {
	case <-time.After(d):
		return 0, nil
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
})

func resetGauge() {
	gauge.running.Store(0)
	gauge.peak.Store(0)
	gauge.calls.Store(0)
}

// serveInProcess runs Serve in the test process and returns a function
// that stops it and returns its error.
func serveInProcess(tb testing.TB, url string, opts ...natsexec.ServeOption) func() error {
	tb.Helper()
	nc := connect(tb, url)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- natsexec.Serve(ctx, nc, opts...) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// TestBackpressure has two pools send more calls than the one worker has
// room for: the worker never runs more than its Concurrency, and every call
// runs once.
func TestBackpressure(t *testing.T) {
	resetGauge()
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(2))
	pools := []*natsexec.Pool{newPool(t, s.ClientURL()), newPool(t, s.ClientURL())}

	const perPool = 20
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for _, pool := range pools {
			for range perPool {
				gauged.Spawn(n, pool, 10*time.Millisecond)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), gauge.peak.Load(), "peak of calls running at once")
	assert.Equal(t, int64(2*perPool), gauge.calls.Load(), "calls run")
}

// TestServeStopsGracefully stops a worker while it runs a call: the call
// completes, and Serve returns after it.
func TestServeStopsGracefully(t *testing.T) {
	resetGauge()
	s := startServer(t, 0)
	stop := serveInProcess(t, s.ClientURL())
	pool := newPool(t, s.ClientURL())

	result := make(chan error, 1)
	go func() {
		_, err := gauged.Call(t.Context(), pool, 300*time.Millisecond)
		result <- err
	}()
	require.Eventually(t, func() bool { return gauge.running.Load() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	assert.Zero(t, gauge.running.Load(), "a call runs after Serve returned")
	require.NoError(t, <-result)
}

// TestServeShutdownGrace stops a worker whose call outlives the grace: the
// call's context is cancelled with ErrWorkerStopped, which the caller sees.
func TestServeShutdownGrace(t *testing.T) {
	resetGauge()
	s := startServer(t, 0)
	stop := serveInProcess(t, s.ClientURL(), natsexec.ShutdownGrace(50*time.Millisecond))
	pool := newPool(t, s.ClientURL())

	result := make(chan error, 1)
	go func() {
		_, err := gauged.Call(t.Context(), pool, 0)
		result <- err
	}()
	require.Eventually(t, func() bool { return gauge.running.Load() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, stop())
	err := <-result
	require.ErrorIs(t, err, natsexec.ErrWorkerStopped)
	var re *subprocess.RemoteError
	assert.ErrorAs(t, err, &re)
}

// TestNoWorkers calls a pool that has no worker to call.
func TestNoWorkers(t *testing.T) {
	s := startServer(t, 0)
	pool := newPool(t, s.ClientURL(), natsexec.Lease(100*time.Millisecond))
	_, err := noop.Call(t.Context(), pool, 1)
	require.ErrorIs(t, err, natsexec.ErrNoWorkers)
}

// TestClosedPool calls a closed pool.
func TestClosedPool(t *testing.T) {
	s := startServer(t, 0)
	pool, err := natsexec.NewPool(connect(t, s.ClientURL()))
	require.NoError(t, err)
	require.NoError(t, pool.Close())
	require.NoError(t, pool.Close())
	_, err = noop.Call(t.Context(), pool, 1)
	require.ErrorIs(t, err, subprocess.ErrPoolClosed)
}

// TestValues carries values whose gob type descriptions differ, in both
// directions, many times: the codec's primed decoders must not mix them.
func TestValues(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL())
	pool := newPool(t, s.ClientURL())
	for i := range 50 {
		out, err := echo.Call(t.Context(), pool, record{Name: "r", Tags: map[string][]int{"a": {i}}, Any: point{X: i}})
		require.NoError(t, err)
		assert.Equal(t, record{Name: "r!", Tags: map[string][]int{"a": {i}}, Any: point{X: i + 1}}, out)
		got, err := noop.Call(t.Context(), pool, i)
		require.NoError(t, err)
		assert.Equal(t, i, got)
		var nothing int
		require.NoError(t, pool.Invoke(t.Context(), noop.Name(), i, nil))
		assert.Zero(t, nothing)
	}
}
