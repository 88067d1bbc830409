//go:build linux

package subprocess_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

func newPool(t *testing.T, opts ...subprocess.Option) *subprocess.Pool {
	t.Helper()
	p, err := subprocess.NewPool(t.Context(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// waitInFlight waits until the pool runs n calls.
func waitInFlight(t *testing.T, p *subprocess.Pool, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return subprocess.InFlight(p) == n }, 10*time.Second, time.Millisecond)
}

func TestCall(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	ctx := t.Context()

	s, err := echo.Call(ctx, p, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", s)

	sum, err := add.Call(ctx, p, pair{A: 2, B: 40})
	require.NoError(t, err)
	assert.Equal(t, 42, sum)

	pid, err := getpid.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	assert.NotEqual(t, os.Getpid(), pid, "the function ran in this process")
	assert.Contains(t, subprocess.WorkerPids(p), pid)

	var out string
	require.NoError(t, p.Invoke(ctx, "echo", "raw", &out))
	assert.Equal(t, "raw", out)
	require.NoError(t, p.Invoke(ctx, "echo", "discarded", nil))
	err = p.Invoke(ctx, "echo", "x", out)
	assert.ErrorContains(t, err, "subprocess: echo: the result must be decoded into a non-nil pointer, not string")
}

func TestWorkersShareTheCores(t *testing.T) {
	t.Parallel()
	procs := runtime.GOMAXPROCS(0)
	p := newPool(t, subprocess.Workers(1))
	n, err := gomaxprocs.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	assert.Equal(t, procs, n)

	p = newPool(t, subprocess.Workers(2*procs))
	n, err = gomaxprocs.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	p = newPool(t, subprocess.Workers(1), subprocess.Env("GOMAXPROCS=3"))
	n, err = gomaxprocs.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestRemoteError(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()

	_, err := fail.Call(ctx, p, "sentinel")
	require.Error(t, err)
	assert.EqualError(t, err, `looking up "sentinel": test: not found`)
	assert.ErrorIs(t, err, errNotFound)
	assert.NotErrorIs(t, err, fs.ErrNotExist)
	var re *subprocess.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "fail", re.Func)

	_, err = fail.Call(ctx, p, "fs")
	assert.EqualError(t, err, "open /nonexistent/file: no such file or directory")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, err = fail.Call(ctx, p, "plain")
	assert.EqualError(t, err, "plain failure")
	assert.NotErrorIs(t, err, errNotFound)
}

func TestRemotePanic(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()

	_, err := panicky.Call(ctx, p, "boom")
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Equal(t, "panicky", pe.Task)
	// The stack is the worker's: it shows the panicking function.
	assert.Contains(t, string(pe.Stack), "subprocess_test.init.func")
	assert.Contains(t, string(pe.Stack), "main_test.go")

	_, err = panicky.Call(ctx, p, "error")
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, errNotFound, "errors.Is sees through a remote panic with an error value")
	assert.EqualError(t, pe.Value.(error), "wrapped: test: not found")

	// The worker survived both panics.
	s, err := echo.Call(ctx, p, "still here")
	require.NoError(t, err)
	assert.Equal(t, "still here", s)
}

func TestSpawnPanicBehavesLikeLocalPanic(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))

	var sibling error
	func() {
		defer func() {
			r := recover()
			require.NotNil(t, r, "Wait must re-panic")
			err, ok := r.(error)
			require.True(t, ok, "panic value %T", r)
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, err.Error(), "boom")
			assert.Contains(t, err.Error(), "main_test.go", "the worker's stack is reported")
		}()
		nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			b := block.Spawn(n, p, struct{}{})
			n.Go(func(context.Context) error {
				_, sibling = b.Wait()
				return nil
			})
			panicky.Spawn(n, p, "boom")
			return nil
		})
	}()
	// The panic cancelled the sibling running in the other worker.
	assert.Error(t, sibling)

	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		panicky.Spawn(n, p, "as error")
		return nil
	}, nursery.PanicsAsErrors())
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, err.Error(), "as error")
}

func TestSpawnResults(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	var tasks []*nursery.Task[int]
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for i := range 10 {
			tasks = append(tasks, add.Spawn(n, p, pair{i, i}))
		}
		return nil
	})
	require.NoError(t, err)
	for i, task := range tasks {
		v, err := task.Wait()
		require.NoError(t, err)
		assert.Equal(t, 2*i, v)
		assert.Equal(t, "add", task.Name())
	}

	err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		fail.Spawn(n, p, "sentinel", nursery.Name("lookup"))
		return nil
	})
	assert.ErrorIs(t, err, errNotFound)
	assert.ErrorContains(t, err, `lookup: looking up "sentinel": test: not found`)
}

func TestCrashExitFailsOnlyItsCall(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	ctx := t.Context()

	// A call that runs on one worker while the other crashes.
	slow := make(chan error, 1)
	go func() {
		_, err := sleep.Call(ctx, p, 300*time.Millisecond)
		slow <- err
	}()
	waitInFlight(t, p, 1)
	before := subprocess.WorkerPids(p)

	_, err := exit.Call(ctx, p, 3)
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "exit", ce.Func)
	assert.Equal(t, 3, ce.ExitCode)
	assert.Empty(t, ce.Signal)
	assert.Contains(t, before, ce.Pid)
	assert.Contains(t, ce.StderrTail, "worker: exiting with code 3")
	assert.ErrorContains(t, err, "exited with code 3; stderr: worker: exiting with code 3")

	require.NoError(t, <-slow, "the call on the other worker is unaffected")
	s, err := echo.Call(ctx, p, "next")
	require.NoError(t, err)
	assert.Equal(t, "next", s)
	require.Eventually(t, func() bool { return len(subprocess.WorkerPids(p)) == 2 }, 10*time.Second, time.Millisecond)
	assert.NotContains(t, subprocess.WorkerPids(p), ce.Pid)
}

func TestCrashSIGKILL(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	pid := subprocess.WorkerPids(p)[0]

	res := make(chan error, 1)
	go func() {
		_, err := block.Call(ctx, p, struct{}{})
		res <- err
	}()
	waitInFlight(t, p, 1)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	err := <-res
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "block", ce.Func)
	assert.Equal(t, "killed", ce.Signal)
	assert.Equal(t, -1, ce.ExitCode)
	assert.Equal(t, pid, ce.Pid)
	assert.ErrorContains(t, err, fmt.Sprintf(`subprocess: worker %d running block was killed by signal "killed"`, pid))

	newPid, err := getpid.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	assert.NotEqual(t, pid, newPid)
}

func TestCancelStuckCallKillsWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1), subprocess.CancelGrace(200*time.Millisecond))
	pid := subprocess.WorkerPids(p)[0]
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("test: give up")

	res := make(chan error, 1)
	go func() {
		_, err := spin.Call(ctx, p, struct{}{})
		res <- err
	}()
	waitInFlight(t, p, 1)
	// InFlight counts the call once it has a worker, a moment before its
	// frame is written; cancelled in that moment, it never reaches the
	// worker, which is then rightly not killed.
	require.Eventually(t, func() bool { return subprocess.FramesSent(p) == 1 }, 10*time.Second, time.Millisecond)
	cancel(cause)
	select {
	case err := <-res:
		assert.Same(t, cause, err, "Call returns context.Cause(ctx)")
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled call did not return within 2s")
	}
	// Call returns after the worker was reaped.
	assert.True(t, gone(pid), "stuck worker %d survived", pid)

	newPid, err := getpid.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	assert.NotEqual(t, pid, newPid)
}

func TestKillForStuckCallFailsCoResidentCalls(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1), subprocess.CancelGrace(100*time.Millisecond))
	pid := subprocess.WorkerPids(p)[0]

	other := make(chan error, 1)
	go func() {
		_, err := block.Call(t.Context(), p, struct{}{})
		other <- err
	}()
	waitInFlight(t, p, 1)
	ctx, cancel := context.WithCancel(t.Context())
	stuck := make(chan error, 1)
	go func() {
		_, err := spin.Call(ctx, p, struct{}{})
		stuck <- err
	}()
	waitInFlight(t, p, 2)
	cancel()
	assert.ErrorIs(t, <-stuck, context.Canceled)

	// The call that shared the worker fails, saying why.
	err := <-other
	var ce *subprocess.CrashError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "block", ce.Func)
	assert.Equal(t, pid, ce.Pid)
	assert.Equal(t, "terminated", ce.Signal)
	assert.Equal(t, "spin did not return within 100ms of its cancellation", ce.Reason)
	assert.Equal(t, 1, ce.Concurrent, "it ran beside the stuck call")
	assert.EqualError(t, err, fmt.Sprintf(`subprocess: worker %d running block beside 1 other call was killed by signal "terminated" (spin did not return within 100ms of its cancellation)`, pid))
}

func TestCancelCooperativeCallKeepsWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	pid := subprocess.WorkerPids(p)[0]
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("test: stop")

	res := make(chan error, 1)
	go func() {
		_, err := block.Call(ctx, p, struct{}{})
		res <- err
	}()
	waitInFlight(t, p, 1)
	cancel(cause)
	assert.Same(t, cause, <-res)
	assert.Equal(t, []int{pid}, subprocess.WorkerPids(p), "a call that returns on cancellation keeps its worker")

	// Already cancelled: nothing is sent.
	frames := subprocess.FramesSent(p)
	_, err := echo.Call(ctx, p, "x")
	assert.Same(t, cause, err)
	assert.Equal(t, frames, subprocess.FramesSent(p))
}

func TestDeadlineReachesWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	want := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(t.Context(), want)
	defer cancel()
	got, err := deadline.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	assert.True(t, want.Equal(got), "deadline %v, want %v", got, want)

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = sleep.Call(ctx, p, time.Minute)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestParentKilledLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	pids := killHarness(t, "harness")
	require.Len(t, pids, 3, "two workers and a Command child")
}

// TestParentKilledLeavesNoGrandchildren checks that the programs a worker
// function starts with plain os/exec, in the worker's process group or in
// one of their own, die with a parent killed by SIGKILL.
func TestParentKilledLeavesNoGrandchildren(t *testing.T) {
	t.Parallel()
	pids := killHarness(t, "tree-harness")
	require.Len(t, pids, 3, "a worker and two sleeps")
}

// killHarness runs the test binary as a harness in the given mode, reads
// the pids it prints, kills it with SIGKILL and checks that all those
// processes are gone within 5s.
func killHarness(t *testing.T, mode string) []int {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	harness := exec.Command(exe)
	harness.Env = append(os.Environ(), envMode+"="+mode)
	harness.Stderr = os.Stderr
	stdout, err := harness.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, harness.Start())
	defer harness.Process.Kill()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	fields := strings.Fields(line)
	require.Equal(t, "PIDS", fields[0], "harness said %q", line)
	var pids []int
	for _, f := range fields[1:] {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		require.False(t, gone(pid), "pid %d should be running", pid)
	}

	require.NoError(t, harness.Process.Signal(syscall.SIGKILL))
	start := time.Now()
	harness.Wait()
	alive := waitGone(5*time.Second, pids...)
	for _, pid := range alive {
		syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind ourselves
	}
	assert.Empty(t, alive, "processes outlived their killed parent")
	t.Logf("descendants of the killed harness gone after %v", time.Since(start))
	return pids
}

func TestMaxTasksPerWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1), subprocess.MaxTasksPerWorker(3))
	counts := map[int]int{}
	var order []int
	for range 9 {
		pid, err := getpid.Call(t.Context(), p, struct{}{})
		require.NoError(t, err)
		if counts[pid] == 0 {
			order = append(order, pid)
		}
		counts[pid]++
	}
	require.Len(t, order, 3, "9 calls, 3 per worker: %v", counts)
	for _, pid := range order {
		assert.Equal(t, 3, counts[pid])
	}
	assert.Empty(t, waitGone(5*time.Second, order[:2]...), "retired workers exit")
}

func TestManyCalls(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))
	const n = 10000
	in := make([]pair, n)
	for i := range in {
		in[i] = pair{i, 1}
	}
	out, err := nursery.Map(t.Context(), in, func(ctx context.Context, x pair) (int, error) {
		return add.Call(ctx, p, x)
	}, nursery.WithLimit(64))
	require.NoError(t, err)
	for i, v := range out {
		if v != i+1 {
			t.Fatalf("result %d = %d", i, v)
		}
	}
}

var lateSeq atomic.Int64

func TestUnknownFunction(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))

	// Registered after package initialization: the parent has it, the
	// worker does not.
	name := fmt.Sprintf("late-%d", lateSeq.Add(1))
	late := subprocess.Register(name, func(context.Context, int) (int, error) { return 1, nil })
	_, err := late.Call(t.Context(), p, 1)
	assert.ErrorIs(t, err, subprocess.ErrUnknownFunc)
	assert.ErrorContains(t, err, fmt.Sprintf("subprocess: unknown function %q in worker", name))
	assert.ErrorContains(t, err, "register functions during package initialization")

	err = p.Invoke(t.Context(), "no-such-function", 1, nil)
	assert.ErrorIs(t, err, subprocess.ErrUnknownFunc)

	// The stream is intact.
	s, err := echo.Call(t.Context(), p, "ok")
	require.NoError(t, err)
	assert.Equal(t, "ok", s)
}

func TestRegisterMisuse(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, `subprocess: function "echo" registered twice`, func() {
		subprocess.Register("echo", func(context.Context, string) (string, error) { return "", nil })
	})
	assert.PanicsWithValue(t, "subprocess: Register with an empty name", func() {
		subprocess.Register("", func(context.Context, string) (string, error) { return "", nil })
	})
	assert.PanicsWithValue(t, "subprocess: Register with a nil function", func() {
		subprocess.Register[int, int]("nil-function", nil)
	})
	assert.PanicsWithValue(t, `subprocess: error "subprocess_test.errNotFound" registered twice`, func() {
		subprocess.RegisterError("subprocess_test.errNotFound", errors.New("again"))
	})
	assert.PanicsWithValue(t, "subprocess: nil Context", func() {
		//lint:ignore SA1012 testing the nil check
		echo.Call(nil, nil, "")
	})
}

func TestUnencodableInput(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	frames := subprocess.FramesSent(p)

	// A type gob would silently lose a field of: refused for every call.
	_, err := withFunc.Call(ctx, p, hasFunc{N: 1, Fn: func() {}})
	assert.EqualError(t, err, "subprocess: withFunc: input type: field subprocess_test.hasFunc.Fn has type func(), which gob does not send (it would arrive as nil)")

	// A value gob cannot encode: an unregistered type in an interface.
	_, err = boxed.Call(ctx, p, box{V: unregistered{1}})
	assert.ErrorContains(t, err, "subprocess: boxed: cannot encode input of type subprocess_test.box: gob: type not registered for interface: subprocess_test.unregistered")

	// Nil pointers, which make gob panic.
	err = p.Invoke(ctx, "add", (*pair)(nil), nil)
	assert.ErrorContains(t, err, "subprocess: add: cannot encode input of type *subprocess_test.pair: gob: cannot encode nil pointer")

	// A chan, directly.
	err = p.Invoke(ctx, "echo", make(chan int), nil)
	assert.ErrorContains(t, err, "subprocess: echo: cannot encode input of type chan int")

	assert.Equal(t, frames, subprocess.FramesSent(p), "nothing was sent")

	// The stream is intact after the failed encodings, with the same types.
	s, err := boxed.Call(ctx, p, box{V: 42})
	require.NoError(t, err)
	assert.Equal(t, "42", s)
	sum, err := add.Call(ctx, p, pair{1, 2})
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
}

func TestUnencodableResult(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	_, err := nilResult.Call(t.Context(), p, struct{}{})
	assert.ErrorContains(t, err, "subprocess: nilResult: cannot encode result of type *subprocess_test.pair: gob: cannot encode nil pointer")
	s, err := echo.Call(t.Context(), p, "ok")
	require.NoError(t, err)
	assert.Equal(t, "ok", s)
}

func TestGoexitInWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	_, err := goexit.Call(t.Context(), p, struct{}{})
	assert.EqualError(t, err, "subprocess: goexit called runtime.Goexit")
}

func TestClosedPool(t *testing.T) {
	t.Parallel()
	p, err := subprocess.NewPool(t.Context(), subprocess.Workers(1))
	require.NoError(t, err)
	pids := subprocess.WorkerPids(p)
	require.NoError(t, p.Close())
	assert.Empty(t, waitGone(0, pids...), "Close reaps the workers")
	_, err = echo.Call(t.Context(), p, "x")
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
	assert.NoError(t, p.Close())
}

func TestCloseWaitsForCalls(t *testing.T) {
	t.Parallel()
	p, err := subprocess.NewPool(t.Context(), subprocess.Workers(1))
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		_, err := sleep.Call(t.Context(), p, 200*time.Millisecond)
		res <- err
	}()
	waitInFlight(t, p, 1)
	require.NoError(t, p.Close())
	assert.NoError(t, <-res, "the call in flight ran to completion")
	assert.Empty(t, subprocess.WorkerPids(p))
}

func TestPoolContextEndKillsWorkers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	p, err := subprocess.NewPool(ctx, subprocess.Workers(1), subprocess.CancelGrace(100*time.Millisecond))
	require.NoError(t, err)
	pids := subprocess.WorkerPids(p)
	res := make(chan error, 1)
	go func() {
		_, err := spin.Call(t.Context(), p, struct{}{})
		res <- err
	}()
	waitInFlight(t, p, 1)
	cause := errors.New("test: shutting down")
	cancel(cause)
	err = <-res
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
	assert.ErrorIs(t, err, cause)
	require.NoError(t, p.Close())
	assert.Empty(t, waitGone(0, pids...))
	_, err = echo.Call(t.Context(), p, "x")
	assert.ErrorIs(t, err, cause)
}

func TestWorkerThatDoesNotCallMain(t *testing.T) {
	t.Parallel()
	_, err := subprocess.NewPool(t.Context(), subprocess.Workers(1), subprocess.Env(envMode+"=exit-early"))
	require.Error(t, err)
	assert.ErrorContains(t, err, "exited (exit status 7) before it was ready; is subprocess.Main() the first call in main (and in TestMain)?")
	assert.ErrorContains(t, err, "stderr: harness: exiting before Main")
}

func TestOptionMisuse(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "subprocess: Workers(n) with n < 1", func() { subprocess.Workers(0) })
	assert.PanicsWithValue(t, "subprocess: MaxTasksPerWorker(k) with k < 0", func() { subprocess.MaxTasksPerWorker(-1) })
	assert.PanicsWithValue(t, "subprocess: StderrTail(n) with n < 0", func() { subprocess.StderrTail(-1) })
	assert.PanicsWithValue(t, "subprocess: CallsPerWorker(k) with k < 0", func() { subprocess.CallsPerWorker(-1) })
	assert.PanicsWithValue(t, "subprocess: CancelGrace(d) with d <= 0", func() { subprocess.CancelGrace(0) })
	assert.PanicsWithValue(t, "subprocess: Env entry FOO is not of the form key=value", func() { subprocess.Env("FOO") })
	assert.PanicsWithValue(t, "subprocess: nil Context", func() {
		//lint:ignore SA1012 testing the nil check
		subprocess.NewPool(nil)
	})
}
