//go:build linux

package subprocess_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery/subprocess"
)

// TestCallsPerWorkerIsolatesCrashes checks that with CallsPerWorker(1) an
// os.Exit fails only its own call, which says it ran alone.
func TestCallsPerWorkerIsolatesCrashes(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2), subprocess.CallsPerWorker(1))
	ctx := t.Context()
	slow := make(chan error, 1)
	go func() {
		_, err := sleep.Call(ctx, p, 300*time.Millisecond)
		slow <- err
	}()
	waitInFlight(t, p, 1)
	_, err := exit.Call(ctx, p, 3)
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 0, ce.Concurrent)
	assert.ErrorContains(t, err, fmt.Sprintf("subprocess: worker %d running exit exited with code 3", ce.Pid))
	require.NoError(t, <-slow, "the other call ran in another worker")
}

// TestCrashErrorSaysWhoElseRan checks that the calls failed by a crash of a
// shared worker say how many calls were running there.
func TestCrashErrorSaysWhoElseRan(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	other := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := block.Call(ctx, p, struct{}{})
			other <- err
		}()
	}
	waitInFlight(t, p, 2)
	_, err := exit.Call(ctx, p, 4)
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 2, ce.Concurrent)
	assert.ErrorContains(t, err, fmt.Sprintf("subprocess: worker %d running exit beside 2 other calls exited with code 4", ce.Pid))
	for range 2 {
		err := <-other
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "block", ce.Func)
		assert.Equal(t, 2, ce.Concurrent)
		assert.ErrorContains(t, err, "running block beside 2 other calls exited with code 4")
	}
}

// TestCallsPerWorkerLimit checks that no worker runs more calls at once
// than CallsPerWorker allows, and that waiting calls all run.
func TestCallsPerWorkerLimit(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			t.Parallel()
			p := newPool(t, subprocess.Workers(1), subprocess.CallsPerWorker(k))
			var wg sync.WaitGroup
			var mu sync.Mutex
			var most int64
			for range 6 {
				wg.Go(func() {
					m, err := overlap.Call(t.Context(), p, 20*time.Millisecond)
					assert.NoError(t, err)
					mu.Lock()
					most = max(most, m)
					mu.Unlock()
				})
			}
			wg.Wait()
			assert.LessOrEqual(t, most, int64(k))
		})
	}
}

// TestCallsPerWorkerWaitHonoursContext checks that a call waiting for a
// free worker returns its context's cause when cancelled.
func TestCallsPerWorkerWaitHonoursContext(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1), subprocess.CallsPerWorker(1))
	bctx, bcancel := context.WithCancel(t.Context())
	defer bcancel()
	go block.Call(bctx, p, struct{}{})
	waitInFlight(t, p, 1)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := fmt.Errorf("test: waited enough")
	res := make(chan error, 1)
	go func() {
		_, err := echo.Call(ctx, p, "x")
		res <- err
	}()
	cancel(cause)
	assert.Same(t, cause, <-res)
	bcancel()
	waitInFlight(t, p, 0)
}

// TestCloseKillsGrandchildren checks that programs a worker function left
// running die when the pool closes, including one that moved to a process
// group of its own.
func TestCloseKillsGrandchildren(t *testing.T) {
	t.Parallel()
	p, err := subprocess.NewPool(t.Context(), subprocess.Workers(1))
	require.NoError(t, err)
	pids, err := startSleeps.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	alive := waitGone(5*time.Second, pids...)
	for _, pid := range alive {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	assert.Empty(t, alive, "programs outlived the pool")
}
