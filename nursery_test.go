package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// ---------------------------------------------------------------------------
// Shared helpers (used by every _test.go file of the package).
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 1. Ownership
// ---------------------------------------------------------------------------

func TestWaitWaitsForEveryTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		gate := make(chan struct{})
		var finished atomic.Int32
		const tasks = 50
		for range tasks {
			n.Go(func(context.Context) error {
				<-gate
				time.Sleep(time.Millisecond)
				finished.Add(1)
				return nil
			})
		}
		var err error
		done := make(chan struct{})
		go func() { defer close(done); err = n.Wait() }()
		synctest.Wait()
		require.False(t, isClosed(done), "Wait returned while tasks were still blocked")
		close(gate)
		<-done
		require.NoError(t, err)
		assert.Equal(t, int32(tasks), finished.Load(), "Wait returned before every task returned")
	})
}

// A task spawned from inside another task while Wait is already blocked
// (dynamic spawning) is owned too.
func TestDynamicSpawnWhileWaitBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		var spawned, finished atomic.Int32
		var crawl func(depth int) func(context.Context) error
		crawl = func(depth int) func(context.Context) error {
			return func(ctx context.Context) error {
				defer finished.Add(1)
				time.Sleep(time.Millisecond) // children appear after their parent began
				if depth == 0 {
					return nil
				}
				for range 3 {
					spawned.Add(1)
					n.Go(crawl(depth - 1))
				}
				return nil
			}
		}
		gate := make(chan struct{})
		spawned.Add(1)
		n.Go(func(ctx context.Context) error {
			<-gate // only spawn once Wait is blocked
			return crawl(4)(ctx)
		})
		var err error
		done := make(chan struct{})
		go func() { defer close(done); err = n.Wait() }()
		synctest.Wait()
		require.False(t, isClosed(done))
		close(gate)
		<-done
		require.NoError(t, err)
		// 1 root + 3 + 9 + 27 + 81
		assert.Equal(t, int32(1+3+9+27+81), spawned.Load())
		assert.Equal(t, spawned.Load(), finished.Load(), "Wait returned before dynamically spawned tasks returned")
	})
}

// A crawler over a synthetic link graph, with real goroutines: every page is
// visited and every task has returned when Wait returns.
func TestDynamicSpawnCrawler(t *testing.T) {
	t.Parallel()
	const pages = 2000
	n := nursery.New(t.Context())
	var mu sync.Mutex
	visited := make(map[int]bool)
	var running atomic.Int32
	var visit func(p int) func(context.Context) error
	visit = func(p int) func(context.Context) error {
		return func(ctx context.Context) error {
			running.Add(1)
			defer running.Add(-1)
			runtime.Gosched()
			for _, next := range []int{2*p + 1, 2*p + 2, (p * 7) % pages} {
				if next >= pages {
					continue
				}
				mu.Lock()
				seen := visited[next]
				visited[next] = true
				mu.Unlock()
				if !seen {
					n.Go(visit(next))
				}
			}
			return nil
		}
	}
	visited[0] = true
	n.Go(visit(0))
	require.NoError(t, n.Wait())
	assert.Equal(t, int32(0), running.Load(), "a task was still running after Wait returned")
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, visited, pages)
}

// ---------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------

func TestRun(t *testing.T) {
	t.Parallel()
	errBody := errors.New("body failed")
	errTask := errors.New("task failed")
	tests := []struct {
		name         string
		body         func(n *nursery.Nursery, finished *atomic.Int32) error
		wantFinished int32
		check        func(t *testing.T, err error)
	}{
		{
			name: "nil body result and no tasks",
			body: func(*nursery.Nursery, *atomic.Int32) error { return nil },
			check: func(t *testing.T, err error) {
				assert.NoError(t, err)
			},
		},
		{
			name: "body error cancels the nursery and still waits",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				var started sync.WaitGroup
				started.Add(3)
				for range 3 {
					n.Go(func(ctx context.Context) error {
						defer finished.Add(1)
						started.Done()
						<-ctx.Done()
						time.Sleep(time.Millisecond) // Run must still wait for this
						return context.Cause(ctx)
					})
				}
				started.Wait()
				return errBody
			},
			wantFinished: 3,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, errBody)
				assert.Equal(t, 1, strings.Count(err.Error(), errBody.Error()), "body error reported more than once: %q", err)
				assert.NotErrorIs(t, err, context.Canceled)
			},
		},
		{
			name: "body error joined with task errors",
			body: func(n *nursery.Nursery, _ *atomic.Int32) error {
				task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errTask })
				<-task.Done()
				return errBody
			},
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, errBody)
				assert.ErrorIs(t, err, errTask)
			},
		},
		{
			name: "nil body with a failing task",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error {
					defer finished.Add(1)
					close(started)
					return blockOnCtx(ctx)
				})
				<-started
				n.Go(func(context.Context) error { return errTask })
				return nil
			},
			wantFinished: 1,
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, errTask)
				assert.NotErrorIs(t, err, context.Canceled)
			},
		},
		{
			name: "body cancelling its nursery is not a failure",
			body: func(n *nursery.Nursery, finished *atomic.Int32) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error {
					defer finished.Add(1)
					close(started)
					return blockOnCtx(ctx)
				})
				<-started
				n.Cancel(errStop)
				return nil
			},
			wantFinished: 1,
			check: func(t *testing.T, err error) {
				assert.NoError(t, err)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var finished atomic.Int32
			var scope *nursery.Nursery
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				scope = n
				return tt.body(n, &finished)
			})
			tt.check(t, err)
			assert.Equal(t, tt.wantFinished, finished.Load(), "Run returned before its tasks returned")
			require.NotNil(t, scope)
			assert.True(t, isClosed(scope.Context().Done()), "Run returned with the nursery's context still live")
		})
	}
}

// Run waits for every task: count tasks spawned by the body and check all
// of them returned.
func TestRunWaitsForTasks(t *testing.T) {
	t.Parallel()
	var finished atomic.Int32
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for range 20 {
			n.Go(func(context.Context) error {
				time.Sleep(time.Millisecond)
				finished.Add(1)
				return nil
			})
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int32(20), finished.Load())
}

// If the body panics, the nursery is cancelled and waited, then the panic
// continues in Run's caller.
func TestRunBodyPanic(t *testing.T) {
	t.Parallel()
	var finished atomic.Bool
	var sawCancel atomic.Bool
	v, panicked := catchPanic(func() {
		_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			started := make(chan struct{})
			n.Go(func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				sawCancel.Store(true)
				time.Sleep(time.Millisecond)
				finished.Store(true)
				return ctx.Err()
			})
			<-started
			panic("body-panic")
		})
	})
	require.True(t, panicked, "a body panic must continue in Run's caller")
	assert.True(t, sawCancel.Load(), "the nursery was not cancelled by the body panic")
	assert.True(t, finished.Load(), "Run re-panicked before its tasks returned")
	// The value is the body's own panic value, possibly wrapped in *PanicError.
	var pe *nursery.PanicError
	if err, ok := v.(error); ok && errors.As(err, &pe) {
		assert.Equal(t, "body-panic", pe.Value)
	} else {
		assert.Equal(t, "body-panic", v)
	}
}

// ---------------------------------------------------------------------------
// 2. Fail-fast, CollectErrors, Cancel
// ---------------------------------------------------------------------------

func TestFailFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sibling func(ctx context.Context) error
		extra   error // another error that must be reported as well
	}{
		{name: "sibling returns ctx.Err()", sibling: blockOnCtx},
		{name: "sibling returns the cause", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx)
		}},
		{name: "sibling wraps ctx.Err()", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("sibling stopped: %w", ctx.Err())
		}},
		{name: "sibling ignores cancellation", sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		}},
		{name: "sibling fails for another reason", extra: errOther, sibling: func(ctx context.Context) error {
			<-ctx.Done()
			return errOther
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			causes := make(chan error, 3)
			var started sync.WaitGroup
			started.Add(3)
			for range 3 {
				n.Go(func(ctx context.Context) error {
					started.Done()
					err := tt.sibling(ctx)
					causes <- context.Cause(ctx)
					return err
				})
			}
			started.Wait()
			n.Go(func(context.Context) error { return errBoom })
			err := n.Wait()
			require.ErrorIs(t, err, errBoom)
			assert.Equal(t, 1, strings.Count(err.Error(), errBoom.Error()), "the failure must be reported once: %q", err)
			assert.NotErrorIs(t, err, context.Canceled, "a sibling's cancellation must not be reported")
			assert.NotContains(t, err.Error(), context.Canceled.Error())
			if tt.extra != nil {
				assert.ErrorIs(t, err, tt.extra)
			}
			for range 3 {
				assert.ErrorIs(t, <-causes, errBoom, "siblings must see the failure as their context's cause")
			}
			assert.ErrorIs(t, context.Cause(n.Context()), errBoom, "the first failure is the nursery's cause")
		})
	}
}

func TestFailFastCancelsSiblingsBeforeWait(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	released := make(chan struct{})
	started := make(chan struct{})
	n.Go(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		close(released)
		return ctx.Err()
	})
	<-started
	n.Go(func(context.Context) error { return errBoom })
	waitOrFail(t, released, "sibling cancellation before Wait")
	assert.ErrorIs(t, context.Cause(n.Context()), errBoom)
	require.ErrorIs(t, n.Wait(), errBoom)
}

func TestFirstErrorIsTheCause(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	first := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
	<-first.Done()
	n.Go(func(context.Context) error { return errOther }) // does not start: the nursery is cancelled
	err := n.Wait()
	require.ErrorIs(t, err, errBoom)
	assert.ErrorIs(t, context.Cause(n.Context()), errBoom)
	assert.NotErrorIs(t, context.Cause(n.Context()), errOther)
}

func TestCollectErrors(t *testing.T) {
	t.Parallel()
	t.Run("failure does not cancel siblings", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		failed := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
		var siblingErr atomic.Value
		n.Go(func(ctx context.Context) error {
			<-failed.Done()
			time.Sleep(time.Millisecond)
			siblingErr.Store(fmt.Sprint(ctx.Err()))
			return nil
		})
		err := n.Wait()
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, "<nil>", siblingErr.Load(), "a failure cancelled a sibling under CollectErrors")
	})
	t.Run("all failures joined", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		for i := range 5 {
			n.Go(func(context.Context) error {
				time.Sleep(time.Duration(i) * time.Millisecond)
				return &codeError{code: i}
			})
		}
		n.Go(func(context.Context) error { return fmt.Errorf("wrapped: %w", errBoom) })
		n.Go(noop)
		err := n.Wait()
		require.Error(t, err)
		assert.ErrorIs(t, err, errBoom)
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		codes := map[int]int{}
		for _, leaf := range leaves(err) {
			if c, ok := leaf.(*codeError); ok {
				codes[c.code]++
			}
		}
		assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1}, codes)
	})
	t.Run("n.Cancel still cancels everything", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		for range 3 {
			n.Go(blockOnCtx)
		}
		n.Cancel(errStop)
		assert.NoError(t, n.Wait())
	})
}

func TestErrorsAsThroughJoinedErrors(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	n.Go(func(context.Context) error { started.Done(); <-gate; return &codeError{code: 7} })
	n.Go(func(context.Context) error { started.Done(); <-gate; return fmt.Errorf("layer: %w", errRefused) })
	started.Wait()
	close(gate)
	err := n.Wait()
	require.Error(t, err)
	// Both tasks were past the gate when either failed, so both are real failures.
	var ce *codeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 7, ce.code)
	assert.ErrorIs(t, err, errRefused)
}

func TestNurseryCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cause   error
		task    func(ctx context.Context) error
		wantErr error // nil: Wait must return nil
	}{
		{name: "tasks return ctx.Err()", cause: errStop, task: blockOnCtx},
		{name: "tasks return the cause", cause: errStop, task: func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx)
		}},
		{name: "tasks wrap the cause", cause: errStop, task: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("stopping: %w", context.Cause(ctx))
		}},
		{name: "nil cause", cause: nil, task: blockOnCtx},
		{name: "a task fails for another reason", cause: errStop, wantErr: errOther, task: func(ctx context.Context) error {
			<-ctx.Done()
			return errOther
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			causes := make(chan error, 4)
			var started sync.WaitGroup
			started.Add(4)
			for range 4 {
				n.Go(func(ctx context.Context) error {
					started.Done()
					err := tt.task(ctx)
					causes <- context.Cause(ctx)
					return err
				})
			}
			started.Wait()
			n.Cancel(tt.cause)
			err := n.Wait()
			if tt.wantErr == nil {
				require.NoError(t, err, "cancelling is not failing")
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				assert.NotErrorIs(t, err, errStop)
			}
			want := tt.cause
			if want == nil {
				want = context.Canceled
			}
			for range 4 {
				assert.ErrorIs(t, <-causes, want)
			}
			assert.ErrorIs(t, context.Cause(n.Context()), want)
		})
	}
}

func TestCancelIsIdempotentAndFirstCauseWins(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	n.Go(blockOnCtx)
	n.Cancel(errStop)
	n.Cancel(errOther)
	require.NoError(t, n.Wait())
	assert.ErrorIs(t, context.Cause(n.Context()), errStop)
	assert.NotPanics(t, func() { n.Cancel(errOther) }, "Cancel after Wait")
}

// ---------------------------------------------------------------------------
// Parent cancellation
// ---------------------------------------------------------------------------

func TestParentCancellation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		run   func(t *testing.T, n *nursery.Nursery, cancelParent func())
		want  []error // each must match; nil slice: Wait returns nil
		avoid []error
	}{
		{
			name: "interrupted tasks report the parent's cause once",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(blockOnCtx)
				}
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "tasks returning the cause report it once",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) })
				}
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "tasks that finished before the cancellation",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				tasks := make([]*nursery.Task[int], 3)
				for i := range tasks {
					tasks[i] = nursery.Spawn(n, func(context.Context) (int, error) { return i, nil })
				}
				for _, task := range tasks {
					<-task.Done()
				}
				cancelParent()
			},
		},
		{
			name: "tasks ignoring the cancellation and returning nil",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				for range 3 {
					n.Go(func(ctx context.Context) error { <-ctx.Done(); return nil })
				}
				cancelParent()
			},
		},
		{
			name: "a task that never started",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				cancelParent()
				n.Go(func(context.Context) error {
					t.Error("a task started on a cancelled nursery")
					return nil
				})
			},
			want: []error{errParent},
		},
		{
			name: "no task at all",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				cancelParent()
			},
		},
		{
			name: "one finished, one interrupted",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				done := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
				<-done.Done()
				n.Go(blockOnCtx)
				cancelParent()
			},
			want: []error{errParent},
		},
		{
			name: "a real failure plus an interruption",
			run: func(t *testing.T, n *nursery.Nursery, cancelParent func()) {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error { close(started); <-ctx.Done(); return errOther })
				<-started
				n.Go(blockOnCtx)
				cancelParent()
			},
			want: []error{errOther, errParent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent)
			tt.run(t, n, func() { cancel(errParent) })
			err := n.Wait()
			if tt.want == nil {
				require.NoError(t, err, "every task finished: Wait reports only what the tasks returned")
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorIs(t, err, w)
			}
			assert.Equal(t, 1, strings.Count(err.Error(), errParent.Error()), "the parent's cause must be reported once: %q", err)
			assert.NotErrorIs(t, err, context.Canceled, "tasks' context.Canceled must not be reported")
		})
	}
}

func TestParentDeadline(t *testing.T) {
	errSlow := errors.New("too slow for the parent")
	tests := []struct {
		name   string
		parent func(ctx context.Context) (context.Context, context.CancelFunc)
		want   error
		text   string
	}{
		{
			name: "WithTimeout",
			parent: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, time.Second)
			},
			want: context.DeadlineExceeded,
			text: context.DeadlineExceeded.Error(),
		},
		{
			name: "WithTimeoutCause",
			parent: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeoutCause(ctx, time.Second, errSlow)
			},
			want: errSlow,
			text: errSlow.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := tt.parent(t.Context())
				defer cancel()
				start := time.Now()
				n := nursery.New(parent)
				for range 3 {
					n.Go(blockOnCtx)
				}
				err := n.Wait()
				assert.Equal(t, time.Second, time.Since(start))
				require.ErrorIs(t, err, tt.want)
				assert.Equal(t, 1, strings.Count(err.Error(), tt.text), "the parent's deadline must be reported once: %q", err)
			})
		})
	}
}

// ---------------------------------------------------------------------------
// Wait: releases the scope, repeatable, concurrent
// ---------------------------------------------------------------------------

func TestWaitReleasesScope(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	tests := []struct {
		name  string
		setup func(n *nursery.Nursery)
	}{
		{name: "empty", setup: func(*nursery.Nursery) {}},
		{name: "successful tasks", setup: func(n *nursery.Nursery) { n.Go(noop); n.Go(noop) }},
		{name: "failing task", setup: func(n *nursery.Nursery) { n.Go(func(context.Context) error { return errBoom }) }},
		{name: "cancelled", setup: func(n *nursery.Nursery) { n.Go(blockOnCtx); n.Cancel(errStop) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.WithValue(t.Context(), ctxKey{}, "v")
			n := nursery.New(ctx)
			assert.Equal(t, "v", n.Context().Value(ctxKey{}), "the nursery's context keeps the parent's values")
			tt.setup(n)
			_ = n.Wait()
			assert.True(t, isClosed(n.Context().Done()), "n.Context() must be done once Wait returned")
			assert.Error(t, n.Context().Err())
		})
	}
}

func TestContextLiveBeforeWait(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	ctx := context.WithValue(t.Context(), ctxKey{}, 42)
	n := nursery.New(ctx)
	seen := make(chan any, 1)
	n.Go(func(ctx context.Context) error {
		seen <- ctx.Value(ctxKey{})
		return nil
	})
	assert.Equal(t, 42, <-seen, "a task's context keeps the parent's values")
	assert.NoError(t, n.Context().Err(), "the nursery's context must be live before Wait")
	require.NoError(t, n.Wait())
}

func TestWaitRepeatable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(n *nursery.Nursery)
	}{
		{name: "nil", setup: func(n *nursery.Nursery) { n.Go(noop) }},
		{name: "single error", setup: func(n *nursery.Nursery) { n.Go(func(context.Context) error { return errBoom }) }},
		{name: "joined errors", setup: func(n *nursery.Nursery) {
			gate := make(chan struct{})
			n.Go(func(context.Context) error { <-gate; return errBoom })
			n.Go(func(context.Context) error { <-gate; return errOther })
			close(gate)
		}},
		{name: "cancelled", setup: func(n *nursery.Nursery) {
			n.Go(blockOnCtx)
			n.Cancel(nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			tt.setup(n)
			const callers = 8
			results := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() { results[i] = n.Wait() })
			}
			wg.Wait()
			for i := range callers {
				assert.Equal(t, results[0], results[i], "concurrent Wait calls returned different results")
			}
			for range 3 {
				assert.Equal(t, results[0], n.Wait(), "a later Wait returned a different result")
			}
		})
	}
}

func TestWaitRepanicsSameValueEveryCall(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	n.Go(func(context.Context) error { panic("once") })
	const callers = 4
	values := make([]any, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			v, panicked := catchPanic(func() { _ = n.Wait() })
			assert.True(t, panicked, "every Wait call must re-panic")
			values[i] = v
		})
	}
	wg.Wait()
	v, panicked := catchPanic(func() { _ = n.Wait() })
	require.True(t, panicked, "a later Wait call must re-panic too")
	var pe *nursery.PanicError
	require.ErrorAs(t, v.(error), &pe)
	assert.Equal(t, "once", pe.Value)
	for i := range callers {
		assert.Equal(t, v, values[i], "Wait re-panicked a different value")
	}
}

// ---------------------------------------------------------------------------
// Tasks on a cancelled nursery do not start
// ---------------------------------------------------------------------------

func TestTasksOnCancelledNurseryDoNotStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cancel    func(t *testing.T, n *nursery.Nursery, cancelParent func())
		cause     error
		waitWants error // what n.Wait must match; nil: Wait returns nil
	}{
		{
			name:   "nursery Cancel",
			cancel: func(_ *testing.T, n *nursery.Nursery, _ func()) { n.Cancel(errStop) },
			cause:  errStop,
		},
		{
			name: "sibling failure",
			cancel: func(_ *testing.T, n *nursery.Nursery, _ func()) {
				failed := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom })
				<-failed.Done()
			},
			cause:     errBoom,
			waitWants: errBoom,
		},
		{
			name:      "parent cancelled",
			cancel:    func(_ *testing.T, _ *nursery.Nursery, cancelParent func()) { cancelParent() },
			cause:     errParent,
			waitWants: errParent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent)
			tt.cancel(t, n, func() { cancel(errParent) })
			var ran atomic.Int32
			n.Go(func(context.Context) error { ran.Add(1); return nil })
			task := nursery.Spawn(n, func(context.Context) (int, error) { ran.Add(1); return 1, nil })
			v, err := task.Wait()
			assert.Zero(t, v)
			require.ErrorIs(t, err, tt.cause, "Task.Wait of a task that never started returns the cancellation cause")
			assert.True(t, isClosed(task.Done()))
			werr := n.Wait()
			assert.Zero(t, ran.Load(), "a task started on a cancelled nursery")
			if tt.waitWants == nil {
				assert.NoError(t, werr, "tasks that did not start are not failures")
			} else {
				require.ErrorIs(t, werr, tt.waitWants)
				assert.Equal(t, 1, strings.Count(werr.Error(), tt.waitWants.Error()), "reported more than once: %q", werr)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

func TestNamesInErrors(t *testing.T) {
	t.Parallel()
	t.Run("nursery and task", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.WithName("outer"))
		n.Go(func(context.Context) error { return errRefused }, nursery.Name("worker-3"))
		err := n.Wait()
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), "outer: worker-3: connection refused")
	})
	t.Run("nested nurseries", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(func(context.Context) error { return &codeError{code: 1} }, nursery.Name("db"))
					return nil
				}, nursery.WithName("inner"))
			}, nursery.Name("worker-3"))
			return nil
		}, nursery.WithName("outer"))
		require.Error(t, err)
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 1, ce.code)
		assert.Contains(t, err.Error(), "outer: worker-3: inner: db: "+ce.Error())
	})
	t.Run("task name only", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		n.Go(func(context.Context) error { return errRefused }, nursery.Name("worker-3"))
		err := n.Wait()
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), "worker-3: connection refused")
	})
	t.Run("Task.Name", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil }, nursery.Name("worker-3"))
		assert.Equal(t, "worker-3", task.Name())
		require.NoError(t, n.Wait())
	})
}

// ---------------------------------------------------------------------------
// 9. Misuse
// ---------------------------------------------------------------------------

func TestMisusePanics(t *testing.T) {
	t.Parallel()
	var nilCtx context.Context // a variable, so vet does not flag a literal nil
	tests := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"New nil ctx", func(*testing.T) { nursery.New(nilCtx) }},
		{"Run nil ctx", func(*testing.T) { _ = nursery.Run(nilCtx, func(*nursery.Nursery) error { return nil }) }},
		{"Gather nil ctx", func(*testing.T) { _, _ = nursery.Gather[int](nilCtx) }},
		{"Map nil ctx", func(*testing.T) {
			_, _ = nursery.Map(nilCtx, []int{1}, func(context.Context, int) (int, error) { return 0, nil })
		}},
		{"First nil ctx", func(*testing.T) {
			_, _ = nursery.First(nilCtx, func(context.Context) (int, error) { return 0, nil })
		}},
		{"FailAfter nil ctx", func(*testing.T) { _ = nursery.FailAfter(nilCtx, time.Second, noop) }},
		{"MoveOnAfter nil ctx", func(*testing.T) { _, _ = nursery.MoveOnAfter(nilCtx, time.Second, noop) }},
		{"Shield nil ctx", func(*testing.T) { _ = nursery.Shield(nilCtx, time.Second, noop) }},
		{"Run nil body", func(t *testing.T) { _ = nursery.Run(t.Context(), nil) }},
		{"Go nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			n.Go(nil)
		}},
		{"Spawn nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			nursery.Spawn[int](n, nil)
		}},
		{"Start nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			_, _ = nursery.Start[int](n, nil)
		}},
		{"Map nil fn", func(t *testing.T) {
			_, _ = nursery.Map[int, int](t.Context(), []int{1}, nil)
		}},
		{"Gather nil fn", func(t *testing.T) {
			_, _ = nursery.Gather(t.Context(), func(context.Context) (int, error) { return 0, nil }, nil)
		}},
		{"First nil fn", func(t *testing.T) {
			_, _ = nursery.First(t.Context(), func(context.Context) (int, error) { return 0, nil }, nil)
		}},
		{"FailAfter nil fn", func(t *testing.T) { _ = nursery.FailAfter(t.Context(), time.Second, nil) }},
		{"MoveOnAfter nil fn", func(t *testing.T) { _, _ = nursery.MoveOnAfter(t.Context(), time.Second, nil) }},
		{"Shield nil fn", func(t *testing.T) { _ = nursery.Shield(t.Context(), time.Second, nil) }},
		{"Go after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			n.Go(noop)
		}},
		{"Go after failed Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			n.Go(func(context.Context) error { return errBoom })
			require.Error(t, n.Wait())
			n.Go(noop)
		}},
		{"Spawn after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil })
		}},
		{"Start after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			_, _ = nursery.Start(n, func(_ context.Context, ready func(int)) error { ready(1); return nil })
		}},
		{"Go after Run returned", func(t *testing.T) {
			var leaked *nursery.Nursery
			require.NoError(t, nursery.Run(t.Context(), func(n *nursery.Nursery) error { leaked = n; return nil }))
			leaked.Go(noop)
		}},
		{"WithLimit negative", func(t *testing.T) { nursery.New(t.Context(), nursery.WithLimit(-1)) }},
		{"WithLimit zero", func(t *testing.T) { nursery.New(t.Context(), nursery.WithLimit(0)) }},
		{"Map WithLimit negative", func(t *testing.T) {
			_, _ = nursery.Map(t.Context(), []int{1}, func(context.Context, int) (int, error) { return 0, nil }, nursery.WithLimit(-3))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireMisuse(t, func() { tt.f(t) })
		})
	}
}

// A Nursery must not be copied, and go vet's copylocks check must say so:
// it flags values of struct types that contain, not through a pointer, a
// type whose pointer has Lock and Unlock methods (a sync.Mutex, a noCopy).
func TestNurseryIsVetNoCopy(t *testing.T) {
	t.Parallel()
	var hasLock func(typ reflect.Type, seen map[reflect.Type]bool) bool
	hasLock = func(typ reflect.Type, seen map[reflect.Type]bool) bool {
		if seen[typ] {
			return false
		}
		seen[typ] = true
		ptr := reflect.PointerTo(typ)
		if _, ok := ptr.MethodByName("Lock"); ok {
			if _, ok := ptr.MethodByName("Unlock"); ok {
				return true
			}
		}
		switch typ.Kind() {
		case reflect.Struct:
			for i := range typ.NumField() {
				if hasLock(typ.Field(i).Type, seen) {
					return true
				}
			}
		case reflect.Array:
			return typ.Len() > 0 && hasLock(typ.Elem(), seen)
		}
		return false
	}
	assert.True(t, hasLock(reflect.TypeFor[nursery.Nursery](), map[reflect.Type]bool{}),
		"go vet cannot flag a copied Nursery: it holds no lock or noCopy by value")
}

// A task error counts as "just cancellation" only when the task's context
// is done; a cancellation error from the task's own inner work, while its
// context is live, is a failure like any other.
func TestCancellationErrorsAreFailuresUnlessCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cancel func(n *nursery.Nursery)
		err    error
	}{
		{name: "context.Canceled with a live context", err: context.Canceled},
		{name: "context.DeadlineExceeded with a live context", err: context.DeadlineExceeded},
		{
			// Only a parent deadline makes DeadlineExceeded a cancellation.
			name:   "context.DeadlineExceeded after the nursery's own Cancel",
			cancel: func(n *nursery.Nursery) { n.Cancel(errStop) },
			err:    context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			started := make(chan struct{})
			n.Go(func(ctx context.Context) error {
				close(started)
				if tt.cancel != nil {
					<-ctx.Done()
				}
				return fmt.Errorf("inner call: %w", tt.err)
			})
			<-started
			if tt.cancel != nil {
				tt.cancel(n)
			}
			err := n.Wait()
			require.ErrorIs(t, err, tt.err, "the task's own cancellation error is a failure")
		})
	}
}
