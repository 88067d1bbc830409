package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Helpers shared by the package's tests.

var (
	errBoom    = errors.New("boom")
	errOther   = errors.New("other failure")
	errStop    = errors.New("stop requested")
	errParent  = errors.New("parent went away")
	errRefused = errors.New("connection refused")
)

// codeError is a typed error used to check errors.As through joined errors.
type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code error %c", rune('a'+e.code)) }

// catchPanic runs f and reports whether it panicked and with what value.
func catchPanic(f func()) (value any, panicked bool) {
	defer func() {
		if panicked {
			value = recover()
		}
	}()
	panicked = true
	f()
	panicked = false
	return nil, false
}

// panicText is the message of a recovered panic value.
func panicText(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return fmt.Sprint(v)
}

// requireMisuse asserts that f panics with a message starting "nursery: ".
func requireMisuse(t *testing.T, f func()) {
	t.Helper()
	v, panicked := catchPanic(f)
	require.True(t, panicked, "expected a misuse panic")
	msg := panicText(v)
	assert.True(t, strings.HasPrefix(msg, "nursery: "), "panic message %q must start with %q", msg, "nursery: ")
}

// deadlockTimeout is how long the watchdog gives work that must finish
// before it calls it a hang. It only turns a deadlock into a failure with
// every goroutine's stack instead of a binary killed by -timeout; it never
// decides a pass, so it is far beyond what any test needs on a loaded
// machine. In a synctest bubble time is fake, and a bubble whose goroutines
// all block jumps straight to it; it is also far beyond the fake time any
// bubble's test spends.
const deadlockTimeout = time.Minute

// errHang is the cause with which the watchdog cancels the context of work
// that hangs.
var errHang = errors.New("test watchdog: hang")

// allStacks returns every goroutine's stack, for deadlock reports.
func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// mustFinish is the tests' watchdog: it runs f on a new goroutine, with a
// context derived from t.Context(), and waits for it to return; see
// [watched.wait] for what happens if it does not. Use it wherever a test
// waits for work that could deadlock.
func mustFinish(t testing.TB, what string, f func(ctx context.Context), rescue func()) {
	t.Helper()
	goWatched(t, f).wait(t, what, rescue)
}

// A watched function runs on its own goroutine under the watchdog:
// [goWatched] starts it, [watched.wait] waits for it.
type watched struct {
	cancel   context.CancelCauseFunc
	done     chan struct{}
	panicked bool // f panicked or called runtime.Goexit (a require in f)
	value    any  // what f panicked with; nil after runtime.Goexit
	stack    []byte
}

// goWatched starts f on a new goroutine, with a context derived from
// t.Context(), and returns at once, so that the test can act while f runs;
// it must then call wait. f runs off the test's goroutine: it should report
// through assert; a require that fails in f ends f, and wait then ends the
// test.
func goWatched(t testing.TB, f func(ctx context.Context)) *watched {
	ctx, cancel := context.WithCancelCause(t.Context())
	w := &watched{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer func() {
			if w.panicked {
				w.value = recover()
				if w.value != nil {
					w.stack = debug.Stack()
				}
			}
		}()
		w.panicked = true
		f(ctx)
		w.panicked = false
	}()
	return w
}

// finished reports whether f has returned.
func (w *watched) finished() bool { return isClosed(w.done) }

// wait waits for f to return, and fails the test if f panicked (with the
// panic's value and stack) or ended by a failed require. If f has not
// returned after deadlockTimeout, wait fails the test with every
// goroutine's stack, which shows where the work is stuck; then it cancels
// f's context (cause errHang) and calls rescue, if not nil, to unblock f,
// and waits as long again, so that f never reports to a finished test. If f
// still has not returned, wait panics: nothing else can stop it.
func (w *watched) wait(t testing.TB, what string, rescue func()) {
	t.Helper()
	defer w.cancel(nil)
	timer := time.NewTimer(deadlockTimeout)
	defer timer.Stop()
	select {
	case <-w.done:
	case <-timer.C:
		t.Errorf("%s did not finish within %v (deadlock?); every goroutine:\n%s", what, deadlockTimeout, allStacks())
		w.cancel(errHang)
		if rescue != nil {
			rescue()
		}
		timer.Reset(deadlockTimeout)
		select {
		case <-w.done:
			t.Fatalf("%s returned once rescued", what)
		case <-timer.C:
			panic(fmt.Sprintf("%s still blocked %v after its rescue; every goroutine:\n%s", what, deadlockTimeout, allStacks()))
		}
	}
	switch {
	case w.panicked && w.value != nil:
		t.Fatalf("%s panicked: %v\n%s", what, w.value, w.stack)
	case w.panicked:
		t.FailNow() // f's require failed and ended f
	}
}

func isClosed[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// gauge tracks the current and maximal number of concurrent holders.
type gauge struct{ cur, max atomic.Int64 }

func (g *gauge) enter() {
	c := g.cur.Add(1)
	for {
		m := g.max.Load()
		if c <= m || g.max.CompareAndSwap(m, c) {
			return
		}
	}
}

func (g *gauge) exit() { g.cur.Add(-1) }

// leaves flattens an error tree (errors.Join, %w, Unwrap) into its leaves.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return leaves(inner)
		}
	}
	return []error{err}
}

// blockOnCtx is a task that runs until its context ends and returns ctx.Err().
func blockOnCtx(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func noop(context.Context) error { return nil }

// forkJoinFib returns a task that computes the k-th Fibonacci number by
// recursive fork/join on n: it spawns both halves and waits for both, the
// first-spawned first, or the last-spawned first if lastFirst.
func forkJoinFib(n *nursery.Nursery, k int, lastFirst bool) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		if k < 2 {
			return k, nil
		}
		a := nursery.Spawn(n, forkJoinFib(n, k-1, lastFirst))
		b := nursery.Spawn(n, forkJoinFib(n, k-2, lastFirst))
		if lastFirst {
			a, b = b, a
		}
		x, err := a.Wait()
		if err != nil {
			return 0, err
		}
		y, err := b.Wait()
		return x + y, err
	}
}

// goUntilCancelled starts a task on n that runs until its context ends, and
// returns once the task runs; the channel it returns is closed when the task
// has seen its context end.
func goUntilCancelled(n *nursery.Nursery) (released <-chan struct{}) {
	rel := make(chan struct{})
	started := make(chan struct{})
	n.Go(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		close(rel)
		return ctx.Err()
	})
	<-started
	return rel
}
