package subprocess

import (
	"runtime"
	"strings"
	"time"
)

// An Option configures a [Pool].
type Option interface {
	apply(*config)
}

type config struct {
	workers      int
	maxTasks     int
	perWorker    int // calls a worker runs at once; 0 for no limit
	env          []string
	stderrTail   int
	grace        time.Duration
	startTimeout time.Duration
	frameLimit   int // the largest payload sent; a test hook
}

// newConfig applies opts to the defaults, which are all here.
func newConfig(opts []Option) config {
	c := config{
		workers:      runtime.GOMAXPROCS(0),
		stderrTail:   4 << 10,
		grace:        time.Second,
		startTimeout: 30 * time.Second,
		frameLimit:   maxFrame,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Workers sets the number of worker processes (default GOMAXPROCS). Each
// worker runs with GOMAXPROCS set to the parent's GOMAXPROCS divided by n
// (at least 1), so that the pool as a whole uses as many cores as the
// parent would, without oversubscribing them; set GOMAXPROCS with [Env] to
// change that. The limit is the worker's own: programs that its functions
// start do not inherit it (they get the parent's environment, with
// GOMAXPROCS only if the parent's has it or [Env] sets it). It panics if
// n < 1.
func Workers(n int) Option {
	if n < 1 {
		panic("subprocess: Workers(n) with n < 1")
	}
	return optionFunc(func(c *config) { c.workers = n })
}

// MaxTasksPerWorker retires a worker after it has been given k calls: it
// takes no more, exits once those have returned, and a fresh process
// replaces it (Python's max_tasks_per_child), which bounds what a leaky
// function can accumulate. The default, 0, never retires workers. It panics
// if k < 0.
func MaxTasksPerWorker(k int) Option {
	if k < 0 {
		panic("subprocess: MaxTasksPerWorker(k) with k < 0")
	}
	return optionFunc(func(c *config) { c.maxTasks = k })
}

// CallsPerWorker limits how many calls each worker runs at once to k; calls
// beyond that wait for a free worker. The default, 0, sets no limit: a
// worker runs any number of calls at once, and a worker that dies fails
// all of them. CallsPerWorker(1) isolates calls from each other, as
// Python's ProcessPoolExecutor does: a crash fails only the call that was
// running, and its [CrashError] says it ran alone. It panics if k < 0.
func CallsPerWorker(k int) Option {
	if k < 0 {
		panic("subprocess: CallsPerWorker(k) with k < 0")
	}
	return optionFunc(func(c *config) { c.perWorker = k })
}

// Env adds environment variables, each of the form "key=value", to the
// workers' environment, which is otherwise the parent's. It panics if an
// entry has no "=".
func Env(kv ...string) Option {
	for _, s := range kv {
		if !strings.Contains(s, "=") {
			panic("subprocess: Env entry " + s + " is not of the form key=value")
		}
	}
	kv = append([]string(nil), kv...)
	return optionFunc(func(c *config) { c.env = append(c.env, kv...) })
}

// StderrTail sets how many of the last bytes a worker wrote to its
// standard error a [CrashError] quotes (default 4096). A worker's standard
// error is copied to the parent's in any case; with n == 0 the worker writes
// to the parent's standard error directly and crash errors quote nothing.
// It panics if n < 0.
func StderrTail(n int) Option {
	if n < 0 {
		panic("subprocess: StderrTail(n) with n < 0")
	}
	return optionFunc(func(c *config) { c.stderrTail = n })
}

// CancelGrace sets how long a cancelled call's function has to return
// after the worker cancelled its context (default 1s). A worker whose
// function has not returned by then is killed with its process group (first
// SIGTERM, then, after the same grace again, SIGKILL) and replaced: the
// cancelled call returns its context's cause, and the other calls that
// worker was running fail with a *[CrashError] saying why. The same grace
// bounds how long a stopping worker (Close, [MaxTasksPerWorker]) may take
// to finish (then it is killed the same way), and how long a call may stay
// stuck sending its input after its context ended (then its worker is
// killed as if its function had not returned). It panics if d <= 0.
func CancelGrace(d time.Duration) Option {
	if d <= 0 {
		panic("subprocess: CancelGrace(d) with d <= 0")
	}
	return optionFunc(func(c *config) { c.grace = d })
}
