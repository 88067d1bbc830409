//go:build linux

package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

// TestWorkerKilledDuringLargeInput kills the worker while a large input is
// on its way: the call ends (with a CrashError, or with its result if it
// reached a replacement), nothing hangs, and the pool serves on.
func TestWorkerKilledDuringLargeInput(t *testing.T) {
	t.Parallel()
	p, err := subprocess.NewPool(t.Context(), subprocess.Workers(1))
	require.NoError(t, err)
	defer func() {
		// A worker killed before the call reached it died idle, which
		// Close reports; nothing else may be wrong.
		if err := p.Close(); err != nil {
			assert.Regexp(t, `^(subprocess: worker \d+: signal: killed\n?)+$`, err.Error())
		}
	}()
	for range 3 {
		pid := subprocess.WorkerPids(p)[0]
		res := make(chan error, 1)
		go func() {
			_, err := bigEcho.Call(t.Context(), p, make([]byte, 16<<20))
			res <- err
		}()
		waitInFlight(t, p, 1)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		if err := <-res; err != nil {
			var ce *subprocess.CrashError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "killed", ce.Signal)
		}
		s, err := echo.Call(t.Context(), p, "next")
		require.NoError(t, err)
		assert.Equal(t, "next", s)
	}
}

// TestCancellationStorm cancels hundreds of calls at once: each returns
// the cause, no worker is killed, and the pool is idle afterwards.
func TestCancellationStorm(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	pids := subprocess.WorkerPids(p)
	const n = 300
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("test: storm")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = block.Call(ctx, p, struct{}{})
		})
	}
	waitInFlight(t, p, n)
	cancel(cause)
	wg.Wait()
	for i, err := range errs {
		assert.Same(t, cause, err, "call %d", i)
	}
	waitInFlight(t, p, 0)
	assert.ElementsMatch(t, pids, subprocess.WorkerPids(p), "no worker was killed")
}

// TestPanicStorm has several calls panic at once among blocked ones: every
// panic reported is a real one, named after its task, and the blocked
// tasks end as cancellations.
func TestPanicStorm(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	var blocked []*nursery.Task[struct{}]
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for i := range 6 {
			blocked = append(blocked, block.Spawn(n, p, struct{}{}, nursery.Name(fmt.Sprintf("block-%d", i))))
		}
		waitInFlight(t, p, 6)
		for i := range 3 {
			panicky.Spawn(n, p, "boom", nursery.Name(fmt.Sprintf("panic-%d", i)))
		}
		return nil
	}, nursery.PanicsAsErrors())
	panics := collectPanics(err)
	require.NotEmpty(t, panics)
	assert.LessOrEqual(t, len(panics), 3)
	for _, pe := range panics {
		assert.Regexp(t, `^panic-\d$`, pe.Task)
		assert.Equal(t, "boom", pe.Value)
	}
	for _, task := range blocked {
		_, err := task.Wait()
		assert.ErrorIs(t, err, context.Canceled)
	}
}

// collectPanics returns the *nursery.PanicError values in an error tree.
func collectPanics(err error) []*nursery.PanicError {
	var out []*nursery.PanicError
	if pe, ok := err.(*nursery.PanicError); ok {
		return append(out, pe)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, collectPanics(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, collectPanics(u.Unwrap())...)
	}
	return out
}

// TestPoolContextEndsDuringLargeInput ends the pool's context while a large
// input is being sent: the call fails with ErrPoolClosed and Close
// returns.
func TestPoolContextEndsDuringLargeInput(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	p, err := subprocess.NewPool(ctx, subprocess.Workers(1))
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		_, err := bigEcho.Call(t.Context(), p, make([]byte, 16<<20))
		res <- err
	}()
	waitInFlight(t, p, 1)
	cause := errors.New("test: pool gone")
	cancel(cause)
	if err := <-res; err != nil {
		assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
		assert.ErrorIs(t, err, cause)
	}
	require.NoError(t, p.Close())
}

// TestCrashWhileOthersWaitForAWorker crashes the only worker of a pool
// with CallsPerWorker(1) while calls wait for it: they run on its
// replacement.
func TestCrashWhileOthersWaitForAWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1), subprocess.CallsPerWorker(1))
	crashed := make(chan error, 1)
	go func() {
		_, err := exit.Call(t.Context(), p, 5)
		crashed <- err
	}()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			s, err := echo.Call(t.Context(), p, fmt.Sprint(i))
			assert.NoError(t, err)
			assert.Equal(t, fmt.Sprint(i), s)
		})
	}
	wg.Wait()
	var ce *subprocess.CrashError
	err := <-crashed
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 0, ce.Concurrent)
}
