package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// deadlockTimeout bounds how long a test waits for something that must
// happen; it only turns a deadlock into a failure, it never decides a pass.
const deadlockTimeout = 10 * time.Second

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

// allStacks returns every goroutine's stack, for deadlock reports.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// waitOrFail waits for done, failing the test if it takes implausibly long.
func waitOrFail(t testing.TB, done <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(deadlockTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s did not finish within %v (deadlock?); goroutines:\n%s", what, deadlockTimeout, allStacks())
	}
}

// outcome is the result of a function run asynchronously by async.
type outcome struct {
	done     chan struct{}
	value    any
	panicked bool
}

func async(f func()) *outcome {
	o := &outcome{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.value, o.panicked = catchPanic(f)
	}()
	return o
}

// wait waits for the function to return and fails the test if it panicked.
func (o *outcome) wait(t testing.TB, what string) {
	t.Helper()
	waitOrFail(t, o.done, what)
	if o.panicked {
		t.Fatalf("%s panicked: %v", what, o.value)
	}
}

func (o *outcome) finished() bool { return isClosed(o.done) }

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
