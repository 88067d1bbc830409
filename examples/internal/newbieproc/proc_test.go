package newbieproc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

func newPool(t *testing.T, opts ...subprocess.Option) *subprocess.Pool {
	t.Helper()
	// Workers built with -race sleep 1s at exit (GORACE atexit_sleep_ms)
	// unless told otherwise; see TestCloseIsPromptWithGORACE.
	opts = append([]subprocess.Option{subprocess.Env("GORACE=atexit_sleep_ms=0")}, opts...)
	p, err := subprocess.NewPool(context.Background(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// Hash files in 2 workers under a nursery limited to 3 tasks at once.
func TestHashFilesUnderLimit(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{}
	for i := range 12 {
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		data := []byte(strings.Repeat(fmt.Sprint(i), 1000*i+1))
		require.NoError(t, os.WriteFile(p, data, 0o600))
		s := sha256.Sum256(data)
		want[p] = hex.EncodeToString(s[:])
	}
	pool := newPool(t, subprocess.Workers(2))
	var mu sync.Mutex
	got := map[string]string{}
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for p := range want {
			n.Go(func(ctx context.Context) error {
				h, err := hashFile.Call(ctx, pool, p)
				if err != nil {
					return err
				}
				mu.Lock()
				got[p] = h
				mu.Unlock()
				return nil
			})
		}
		return nil
	}, nursery.WithLimit(3))
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// A missing file: "the standard ones, such as fs.ErrNotExist ... are registered already".
	_, err = hashFile.Call(context.Background(), pool, filepath.Join(dir, "missing"))
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	var re *subprocess.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "newbie.hashFile", re.Func)
	assert.Contains(t, re.Message, "missing")
}

// Spawn returns a task whose Wait gives Call's value.
func TestSpawnValues(t *testing.T) {
	pool := newPool(t, subprocess.Workers(2))
	var tasks []*nursery.Task[int]
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for i := range 5 {
			tasks = append(tasks, flaky.Spawn(n, pool, Job{Mode: "ok", N: i}))
		}
		return nil
	})
	require.NoError(t, err)
	for i, tk := range tasks {
		v, err := tk.Wait()
		require.NoError(t, err)
		assert.Equal(t, 2*i, v)
	}
}

// A worker that os.Exits fails only its call, with CallsPerWorker(1) alone;
// the pool keeps serving.
func TestCrashIsolated(t *testing.T) {
	pool := newPool(t, subprocess.Workers(2), subprocess.CallsPerWorker(1))
	ctx := context.Background()
	var wg sync.WaitGroup
	okErrs := make([]error, 6)
	for i := range okErrs {
		wg.Go(func() {
			v, err := flaky.Call(ctx, pool, Job{Mode: "slow", N: 20})
			if err == nil && v != 40 {
				err = fmt.Errorf("got %d", v)
			}
			okErrs[i] = err
		})
	}
	_, err := flaky.Call(ctx, pool, Job{Mode: "exit", N: 7})
	wg.Wait()
	for _, e := range okErrs {
		assert.NoError(t, e)
	}
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce, "err = %v", err)
	assert.Equal(t, "newbie.flaky", ce.Func)
	assert.Equal(t, 3, ce.ExitCode)
	assert.Equal(t, "", ce.Signal)
	assert.Contains(t, ce.StderrTail, "flaky: giving up on job 7")
	assert.Equal(t, 0, ce.Concurrent)
	assert.Positive(t, ce.Pid)
	assert.Empty(t, ce.Reason, "the pool did not kill it")
	// "quotes the last line of its standard error"
	assert.Contains(t, ce.Error(), "flaky: giving up on job 7")
	t.Logf("crash error: %v", ce)

	// SIGKILL: ExitCode -1, Signal "killed".
	_, err = flaky.Call(ctx, pool, Job{Mode: "kill"})
	require.ErrorAs(t, err, &ce, "err = %v", err)
	assert.Equal(t, -1, ce.ExitCode)
	assert.Equal(t, "killed", ce.Signal)
	assert.Equal(t, 0, ce.Concurrent)

	// Still serving.
	v, err := flaky.Call(ctx, pool, Job{Mode: "ok", N: 21})
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

// Without CallsPerWorker, a crash fails the calls sharing the worker, and
// Concurrent counts them.
func TestCrashShared(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = flaky.Call(ctx, pool, Job{Mode: "slow", N: 5000}) })
	}
	time.Sleep(300 * time.Millisecond) // let them reach the worker
	_, err := flaky.Call(ctx, pool, Job{Mode: "exit", N: 1})
	wg.Wait()
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Concurrent)
	for _, e := range errs {
		var c2 *subprocess.CrashError
		if assert.ErrorAs(t, e, &c2) {
			assert.Equal(t, 3, c2.Concurrent)
			assert.Equal(t, ce.Pid, c2.Pid)
		}
	}
}

// A custom sentinel registered with RegisterError keeps its identity.
func TestRegisteredError(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	_, err := flaky.Call(context.Background(), pool, Job{Mode: "error", N: 4})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrQuota)
	assert.Equal(t, "job 4: newbie: quota exceeded", err.Error())
	var re *subprocess.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "newbie.flaky", re.Func)
	assert.Equal(t, []string{"newbie.ErrQuota"}, re.Sentinels)

	// Unknown function name through Invoke.
	err = pool.Invoke(context.Background(), "newbie.nope", 1, nil)
	assert.ErrorIs(t, err, subprocess.ErrUnknownFunc)

	// A value gob cannot carry fails before anything is sent, naming the field.
	_, err = badInput.Call(context.Background(), pool, WithChan{Name: "x", C: make(chan int)})
	require.Error(t, err)
	t.Logf("bad input error: %v", err)
	assert.Contains(t, err.Error(), "C")
}

// A panic in the worker arrives as *nursery.PanicError with the worker's stack.
func TestPanic(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	_, err := flaky.Call(context.Background(), pool, Job{Mode: "panic", N: 9})
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe, "err = %v", err)
	assert.Equal(t, "newbie.flaky", pe.Task)
	assert.Equal(t, "flaky panic 9", fmt.Sprint(pe.Value))
	assert.Contains(t, string(pe.Stack), "newbieproc")

	// A panic with an error value: errors.Is sees through it.
	_, err = flaky.Call(context.Background(), pool, Job{Mode: "panicerr", N: 1})
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, ErrQuota)

	// Spawn re-raises: with PanicsAsErrors Wait returns it, the sibling is
	// cancelled (context.Canceled, not counted as a failure).
	var slow *nursery.Task[int]
	err = nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		slow = flaky.Spawn(n, pool, Job{Mode: "slow", N: 10000}, nursery.Name("slow"))
		flaky.Spawn(n, pool, Job{Mode: "panic", N: 2}, nursery.Name("boom"))
		return nil
	}, nursery.PanicsAsErrors())
	require.ErrorAs(t, err, &pe, "err = %v", err)
	assert.Equal(t, "boom", pe.Task)
	_, serr := slow.Wait()
	assert.ErrorIs(t, serr, context.Canceled)
	var pe2 *nursery.PanicError
	assert.False(t, errors.As(serr, &pe2), "the cancelled sibling should not carry the panic: %v", serr)
}

// Cancelling a long call: a cooperative function returns the cause at once;
// a stubborn one is killed after CancelGrace, and the call returns the cause.
func TestCancel(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1), subprocess.CancelGrace(300*time.Millisecond))
	myCause := errors.New("user gave up")

	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(myCause) })
	start := time.Now()
	_, err := flaky.Call(ctx, pool, Job{Mode: "slow", N: 60000})
	assert.ErrorIs(t, err, myCause)
	assert.Less(t, time.Since(start), 2*time.Second)

	// Stubborn call shares the worker with another call, which should fail
	// with a CrashError "saying why" once the worker is killed.
	var wg sync.WaitGroup
	var otherErr error
	wg.Go(func() { _, otherErr = stubborn.Call(context.Background(), pool, 5000) })
	time.Sleep(200 * time.Millisecond)
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel2(myCause) })
	start = time.Now()
	_, err = stubborn.Call(ctx2, pool, 60000)
	el := time.Since(start)
	wg.Wait()
	assert.ErrorIs(t, err, myCause)
	assert.Less(t, el, 3*time.Second, "killed after the grace")
	var ce *subprocess.CrashError
	if assert.ErrorAs(t, otherErr, &ce, "other call: %v", otherErr) {
		assert.NotEmpty(t, ce.Reason)
		assert.Equal(t, 1, ce.Concurrent)
		t.Logf("other call: %v (reason %q)", ce, ce.Reason)
	}

	// Replacement worker serves.
	v, err := flaky.Call(context.Background(), pool, Job{Mode: "ok", N: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, v)
}

// "its deadline is the caller's too, whatever its year"
func TestDeadlineTravels(t *testing.T) {
	pool := newPool(t, subprocess.Workers(1))
	for _, d := range []time.Time{
		time.Now().Add(time.Hour).Truncate(time.Microsecond),
		time.Date(9999, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		ctx, cancel := context.WithDeadline(context.Background(), d)
		got, err := deadline.Call(ctx, pool, 0)
		cancel()
		require.NoError(t, err)
		assert.True(t, got.Equal(d), "want %v got %v", d, got)
	}
}

// Pool closed: calls fail with ErrPoolClosed.
func TestClosedPool(t *testing.T) {
	p, err := subprocess.NewPool(context.Background(), subprocess.Workers(1))
	require.NoError(t, err)
	require.NoError(t, p.Close())
	_, err = flaky.Call(context.Background(), p, Job{Mode: "ok"})
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
	assert.NoError(t, p.Close(), "calling it again returns nil")

	// Pool's context ends: calls in flight fail with ErrPoolClosed and the cause.
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	p, err = subprocess.NewPool(ctx, subprocess.Workers(1))
	require.NoError(t, err)
	time.AfterFunc(200*time.Millisecond, func() { cancel(cause) })
	_, err = flaky.Call(context.Background(), p, Job{Mode: "slow", N: 60000})
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
	assert.ErrorIs(t, err, cause)
	_ = p.Close()
}
