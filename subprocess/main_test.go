package subprocess_test

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/structured-go/nursery/subprocess"
	"go.uber.org/goleak"
)

// The test binary is its own worker: TestMain calls subprocess.Main first.
// It is also, with envMode set, a harness that plays a parent to be killed.
const envMode = "SUBPROCESS_TEST_MODE"

func TestMain(m *testing.M) {
	if os.Getenv(envMode) == "exit-early" {
		// A worker whose program exits before serving (as one that
		// forgot to call Main would).
		fmt.Fprintln(os.Stderr, "harness: exiting before Main")
		os.Exit(7)
	}
	if os.Getenv(envMode) == "skew" {
		// Another build of the program: one more function registered.
		subprocess.Register("skew-only", func(context.Context, int) (int, error) { return 0, nil })
	}
	subprocess.Main()
	switch os.Getenv(envMode) {
	case "harness":
		runHarness()
		return
	case "tree-harness":
		runTreeHarness()
		return
	}
	goleak.VerifyTestMain(m)
}

// runHarness starts a pool whose workers are busy and a Command child,
// prints their pids, and waits to be killed.
func runHarness() {
	ctx := context.Background()
	p, err := subprocess.NewPool(ctx, subprocess.Workers(2))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	sleeper := subprocess.Command(ctx, "sleep", "120")
	if err := sleeper.Start(); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	for range 4 {
		go block.Call(ctx, p, struct{}{})
	}
	for subprocess.InFlight(p) < 4 {
		time.Sleep(time.Millisecond)
	}
	pids := append(subprocess.WorkerPids(p), sleeper.Process.Pid)
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(pids), "[]"))
	time.Sleep(time.Hour)
}

// runTreeHarness starts a pool whose worker starts programs with plain
// os/exec, prints the worker's pid and theirs, and waits to be killed.
func runTreeHarness() {
	ctx := context.Background()
	p, err := subprocess.NewPool(ctx, subprocess.Workers(1))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	pids, err := startSleeps.Call(ctx, p, struct{}{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	pids = append(subprocess.WorkerPids(p), pids...)
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(pids), "[]"))
	time.Sleep(time.Hour)
}

// startSleeps starts long sleeps the way a function would that knows
// nothing of process groups, and one that moves to a group of its own, and
// returns their pids without waiting for them.
var startSleeps = subprocess.Register("startSleeps", func(context.Context, struct{}) ([]int, error) {
	plain := exec.Command("sleep", "1000")
	if err := plain.Start(); err != nil {
		return nil, err
	}
	grouped := exec.Command("sleep", "1001")
	grouped.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := grouped.Start(); err != nil {
		return nil, err
	}
	return []int{plain.Process.Pid, grouped.Process.Pid}, nil
})

// Functions the tests call in workers. They are registered during package
// initialization, as they must be.
var (
	errNotFound = subprocess.RegisterError("subprocess_test.errNotFound", errors.New("test: not found"))

	echo = subprocess.Register("echo", func(_ context.Context, s string) (string, error) {
		return s, nil
	})

	add = subprocess.Register("add", func(_ context.Context, in pair) (int, error) {
		return in.A + in.B, nil
	})

	getpid = subprocess.Register("getpid", func(context.Context, struct{}) (int, error) {
		return os.Getpid(), nil
	})

	exit = subprocess.Register("exit", func(_ context.Context, code int) (int, error) {
		fmt.Fprintf(os.Stderr, "worker: exiting with code %d\n", code)
		os.Exit(code)
		return 0, nil
	})

	block = subprocess.Register("block", func(ctx context.Context, _ struct{}) (struct{}, error) {
		<-ctx.Done()
		return struct{}{}, context.Cause(ctx)
	})

	sleep = subprocess.Register("sleep", func(ctx context.Context, d time.Duration) (time.Duration, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return d, nil
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	})

	spin = subprocess.Register("spin", func(context.Context, struct{}) (int, error) {
		// Ignores its context for ever.
		n := 0
		for {
			n++
			if n < 0 {
				return n, nil
			}
		}
	})

	fail = subprocess.Register("fail", func(_ context.Context, what string) (int, error) {
		switch what {
		case "sentinel":
			return 0, fmt.Errorf("looking up %q: %w", what, errNotFound)
		case "fs":
			_, err := os.Open("/nonexistent/file")
			return 0, err
		}
		return 0, errors.New("plain failure")
	})

	panicky = subprocess.Register("panicky", func(_ context.Context, what string) (int, error) {
		if what == "error" {
			panic(fmt.Errorf("wrapped: %w", errNotFound))
		}
		panic(what)
	})

	deadline = subprocess.Register("deadline", func(ctx context.Context, _ struct{}) (time.Time, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return time.Time{}, errors.New("no deadline")
		}
		return d, nil
	})

	nilResult = subprocess.Register("nilResult", func(context.Context, struct{}) (*pair, error) {
		return nil, nil
	})

	goexit = subprocess.Register("goexit", func(context.Context, struct{}) (int, error) {
		runtime.Goexit()
		return 0, nil
	})

	withFunc = subprocess.Register("withFunc", func(context.Context, hasFunc) (int, error) {
		return 0, nil
	})

	boxed = subprocess.Register("boxed", func(_ context.Context, b box) (string, error) {
		return fmt.Sprint(b.V), nil
	})
)

type pair struct{ A, B int }

type hasFunc struct {
	N  int
	Fn func()
}

type box struct{ V any }

type unregistered struct{ X int }

var gomaxprocs = subprocess.Register("gomaxprocs", func(context.Context, struct{}) (int, error) {
	return runtime.GOMAXPROCS(0), nil
})

// childEnv runs env(1) from a worker and returns what it printed.
var childEnv = subprocess.Register("childEnv", func(ctx context.Context, _ struct{}) (string, error) {
	out, err := exec.CommandContext(ctx, "env").Output()
	return string(out), err
})

// Types for the gob registry tests: parentOnly is registered with gob only
// in the test process, at run time; workerOnly only in the worker, by the
// function that returns it; box in every process.
type (
	parentOnly struct {
		X   int
		Pad []byte
	}
	workerOnly struct {
		Y   int
		Pad []byte
	}
)

func init() { gob.Register(box{}) }

var (
	direct = subprocess.Register("direct", func(_ context.Context, p parentOnly) (int, error) {
		return p.X, nil
	})

	returnsWorkerOnly = subprocess.Register("returnsWorkerOnly", func(_ context.Context, pad int) (box, error) {
		gob.Register(workerOnly{})
		return box{V: workerOnly{Y: 1, Pad: make([]byte, pad)}}, nil
	})
)

// Functions for the memory tests.
var (
	bigEcho = subprocess.Register("bigEcho", func(_ context.Context, b []byte) ([]byte, error) {
		return b, nil
	})

	heapAlloc = subprocess.Register("heapAlloc", func(context.Context, struct{}) (uint64, error) {
		return heapNow(), nil
	})
)

// heapNow returns the bytes of live heap after a garbage collection.
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// running counts the calls of overlap running in this worker.
var running, mostRunning atomic.Int64

// overlap runs for d and returns the most calls of it that ran at once in
// its worker.
var overlap = subprocess.Register("overlap", func(ctx context.Context, d time.Duration) (int64, error) {
	n := running.Add(1)
	defer running.Add(-1)
	for {
		m := mostRunning.Load()
		if n <= m || mostRunning.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(d)
	return mostRunning.Load(), nil
})
