package newbieproc

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

var selfStop = subprocess.Register("newbie.selfStop", func(ctx context.Context, _ int) (int, error) {
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	time.Sleep(time.Minute)
	return 1, nil
})

// "so is a worker that has not read the input of a cancelled call within the
// grace period (one that was stopped, say). The call returns
// context.Cause(ctx) in either case"
func TestStoppedWorkerCancelled(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1), subprocess.CancelGrace(300*time.Millisecond))
	cause := errors.New("stop waiting")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(300*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	_, err := selfStop.Call(ctx, pool, 0)
	assert.ErrorIs(t, err, cause)
	assert.Less(t, time.Since(start), 5*time.Second)
	v, err := flaky.Call(context.Background(), pool, Job{Mode: "ok", N: 3})
	require.NoError(t, err)
	assert.Equal(t, 6, v)
}

// "Close waits for calls in flight however long they take"; new calls fail
// with ErrPoolClosed.
func TestCloseWaitsForCalls(t *testing.T) {
	p, err := subprocess.NewPool(context.Background(), subprocess.Workers(1))
	require.NoError(t, err)
	var wg sync.WaitGroup
	var v int
	var callErr error
	wg.Go(func() { v, callErr = flaky.Call(context.Background(), p, Job{Mode: "slow", N: 500}) })
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, p.Close())
	wg.Wait()
	assert.NoError(t, callErr)
	assert.Equal(t, 1000, v)
	_, err = flaky.Call(context.Background(), p, Job{Mode: "ok"})
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
}

// A crash under a nursery: fail-fast, the CrashError seen through TaskError,
// siblings cancelled (not failures).
func TestCrashInNursery(t *testing.T) {
	pool := newPool(t, subprocess.Workers(2), subprocess.CallsPerWorker(1))
	var sib *nursery.Task[int]
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		sib = flaky.Spawn(n, pool, Job{Mode: "slow", N: 30000}, nursery.Name("sib"))
		time.Sleep(100 * time.Millisecond)
		flaky.Spawn(n, pool, Job{Mode: "exit", N: 1}, nursery.Name("crasher"))
		return nil
	}, nursery.WithLimit(2))
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce, "err = %v", err)
	assert.Equal(t, 3, ce.ExitCode)
	assert.Equal(t, 0, ce.Concurrent)
	var te *nursery.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "crasher", te.Task)
	// Call returns context.Cause(ctx) when cancelled, and the nursery's cause
	// is the first failure: so the sibling's Wait reports the crasher's
	// CrashError (not context.Canceled, as for a panic), though its own
	// worker did not crash. Documented, but easy to misread.
	_, serr := sib.Wait()
	var sce *subprocess.CrashError
	require.ErrorAs(t, serr, &sce, "sibling: %v", serr)
	assert.Equal(t, ce.Pid, sce.Pid, "the crasher's worker, not the sibling's")
	assert.NotContains(t, err.Error(), "sib", "the cancelled sibling is not a failure")
}

var noisyExit = subprocess.Register("newbie.noisyExit", func(ctx context.Context, n int) (int, error) {
	os.Stderr.WriteString("first line of noise\n")
	os.Stderr.WriteString("0123456789LASTLINE\n")
	os.Exit(n)
	return 0, nil
})

// "StderrTail sets how many of the last bytes a worker wrote to its standard
// error a CrashError quotes (default 4096) ... with n == 0 ... crash errors
// quote nothing."
func TestStderrTail(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1), subprocess.StderrTail(9))
	_, err := noisyExit.Call(context.Background(), pool, 5)
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.LessOrEqual(t, len(ce.StderrTail), 9)
	assert.Contains(t, "0123456789LASTLINE\n", ce.StderrTail)
	assert.Equal(t, 5, ce.ExitCode)

	pool0 := newPool(t, subprocess.Workers(1), subprocess.StderrTail(0))
	_, err = noisyExit.Call(context.Background(), pool0, 6)
	require.ErrorAs(t, err, &ce)
	assert.Empty(t, ce.StderrTail)
	assert.Equal(t, 6, ce.ExitCode)
	assert.NotContains(t, ce.Error(), "LASTLINE")
}

// Register and RegisterError panic on misuse, as documented.
func TestRegisterMisusePanics(t *testing.T) {
	assert.Panics(t, func() {
		subprocess.Register("newbie.flaky", func(ctx context.Context, j Job) (int, error) { return 0, nil })
	})
	assert.Panics(t, func() { subprocess.Register("", func(ctx context.Context, j Job) (int, error) { return 0, nil }) })
	assert.Panics(t, func() { subprocess.Register[int, int]("newbie.nilfn", nil) })
	assert.Panics(t, func() { subprocess.RegisterError("newbie.ErrQuota", errors.New("again")) })
	assert.Panics(t, func() { subprocess.RegisterError("", errors.New("x")) })
	assert.Panics(t, func() { subprocess.RegisterError("newbie.nilErr", nil) })
	assert.Panics(t, func() { subprocess.Workers(0) })
	assert.Panics(t, func() { subprocess.CancelGrace(0) })
	assert.Panics(t, func() { subprocess.Env("NOEQUALS") })
}
