package nursery_test

// Conformance suite, part 2: github.com/sourcegraph/conc v0.3.0.
//
// Each test below is a port of a test or example from conc's own files
// (waitgroup_test.go, pool/*_test.go, iter/*_test.go, panics/*_test.go) to
// this package's API, and cites the original. conc's types map as follows:
// conc.WaitGroup and pool.Pool are a Nursery; pool.ErrorPool is a Nursery
// with CollectErrors (it does not cancel); pool.ContextPool is a Nursery with
// CollectErrors, and with WithCancelOnError the default fail-fast Nursery;
// the result pools are Spawn and Task.Wait, or Map; WithMaxGoroutines is
// WithLimit; iter.Map, iter.MapErr and iter.ForEach are Map; panics.Catcher
// and panics.Try are PanicsAsErrors, *PanicError and Task.Wait.
//
// Where conc deliberately behaves otherwise, the test encodes this package's
// contract and says why. The main differences: a sibling's context.Canceled
// caused by the nursery's own cancellation is not a failure (conc reports
// it); panics cancel the nursery, so a task not yet started when a task
// panics never starts (conc runs everything); Wait re-panics with a
// *PanicError naming the task and counting the further failures (conc
// re-panics a *panics.Recovered); there is no first-error mode, every
// failure is reported, in the order they happened.
//
// Not ported, and why:
//   - every "panics on configuration after init" case (pool, error_pool,
//     context_pool, result_*): options are given to New and cannot be changed
//     afterwards, so there is no late configuration to refuse;
//   - TestPool "returns correct MaxGoroutines": there is no getter for the
//     limit;
//   - TestWaitGroup "ctor": NewWaitGroup's type; New's result type is checked
//     by the compiler;
//   - WithFirstError (context_pool, result_error_pool, result_context_pool):
//     there is no first-error mode; each port of those cases checks instead
//     that both failures are reported, in the order they happened;
//   - TestIterator "safe for reuse": Map has no reusable Iterator value whose
//     configuration a call could change;
//   - the Benchmark functions: benchmarks against conc live in the bench
//     module (bench/), so that conc never enters this module's go.mod;
//   - panics.Recovered.Callers (ExampleCatcher_callers checks its frames): a
//     *PanicError carries the formatted Stack instead, and the port checks
//     that the stack names the panicking function;
//   - pool.Stream and package stream: no counterpart (a nursery returns
//     results through Task handles, not a stream of callbacks).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
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

// confRequirePanicError calls f, which must panic with a *PanicError, and
// returns it.
func confRequirePanicError(t *testing.T, f func()) *nursery.PanicError {
	t.Helper()
	v, panicked := catchPanic(f)
	require.True(t, panicked, "Wait did not re-panic")
	pe, ok := v.(*nursery.PanicError)
	require.True(t, ok, "re-panicked with %T, not *nursery.PanicError: %v", v, v)
	return pe
}

// confPanics returns the *PanicError leaves of err.
func confPanics(err error) []*nursery.PanicError {
	var out []*nursery.PanicError
	for _, e := range confLeaves(err) {
		var pe *nursery.PanicError
		if errors.As(e, &pe) {
			out = append(out, pe)
		}
	}
	return out
}

// confGate lets k tasks announce that they started and then hold until the
// test releases them, so that a test can order "all of these are running"
// before "now something fails".
type confGate struct {
	started sync.WaitGroup
	release chan struct{}
}

func newConfGate(k int) *confGate {
	g := &confGate{release: make(chan struct{})}
	g.started.Add(k)
	return g
}

// arrive marks the caller started and blocks until open.
func (g *confGate) arrive() {
	g.started.Done()
	<-g.release
}

// open waits until all k have arrived, then releases them.
func (g *confGate) open() {
	g.started.Wait()
	close(g.release)
}

// Ported from github.com/sourcegraph/conc waitgroup_test.go ExampleWaitGroup.
func TestConformanceConcExampleWaitGroup(t *testing.T) {
	t.Parallel()
	var count atomic.Int64
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for range 10 {
			n.Go(func(context.Context) error {
				count.Add(1)
				return nil
			})
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int64(10), count.Load())
}

// Ported from github.com/sourcegraph/conc waitgroup_test.go
// ExampleWaitGroup_WaitAndRecover.
//
// WaitAndRecover's counterpart is PanicsAsErrors: Wait returns the panic as a
// *PanicError instead of re-panicking.
func TestConformanceConcExampleWaitAndRecover(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.PanicsAsErrors())
	n.Go(func(context.Context) error { panic("super bad thing") })
	err := n.Wait()
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "super bad thing", pe.Value)
}

// Ported from github.com/sourcegraph/conc waitgroup_test.go TestWaitGroup.
//
// conc's WaitGroup runs every task it was given even after one panics; a
// nursery cancels at the first panic ("a panicking task cancels its siblings
// at once"), so a task that has not started by then never starts. The ports
// of the "non-panics run" cases therefore hold every task at a gate until
// all have started, and then check conc's point: every started task runs to
// the end and Wait waits for it before reporting the panic. A separate case
// checks our difference.
func TestConformanceConcWaitGroup(t *testing.T) {
	t.Parallel()

	t.Run("all spawned run", func(t *testing.T) {
		t.Parallel()
		var count atomic.Int64
		n := nursery.New(t.Context())
		for range 100 {
			n.Go(func(context.Context) error {
				count.Add(1)
				return nil
			})
		}
		require.NoError(t, n.Wait())
		require.Equal(t, int64(100), count.Load())
	})

	t.Run("panic", func(t *testing.T) {
		t.Parallel()

		t.Run("is propagated", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			n.Go(func(context.Context) error { panic("super bad thing") }, nursery.Name("bad"))
			pe := confRequirePanicError(t, func() { _ = n.Wait() })
			assert.Equal(t, "super bad thing", pe.Value)
			assert.Equal(t, "bad", pe.Task)
			assert.True(t, strings.HasPrefix(pe.Error(), `panic in task "bad": super bad thing`+"\n\n"), "message: %q", pe.Error())
		})

		t.Run("one is propagated", func(t *testing.T) {
			// conc re-panics with one of the two; so do we, and say that one
			// more was collected.
			t.Parallel()
			n := nursery.New(t.Context())
			gate := newConfGate(2)
			for _, v := range []string{"super bad thing", "super badder thing"} {
				n.Go(func(context.Context) error {
					gate.arrive()
					panic(v)
				})
			}
			gate.open()
			pe := confRequirePanicError(t, func() { _ = n.Wait() })
			assert.Contains(t, []any{"super bad thing", "super badder thing"}, pe.Value)
			assert.Contains(t, pe.Error(), "[and 1 further failure collected]")
		})

		t.Run("non-panics do not overwrite panic", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			n.Go(func(context.Context) error { panic("super bad thing") })
			for range 10 {
				n.Go(func(context.Context) error { return nil })
			}
			pe := confRequirePanicError(t, func() { _ = n.Wait() })
			assert.Equal(t, "super bad thing", pe.Value)
			assert.NotContains(t, pe.Error(), "further failure")
		})

		t.Run("non-panics run successfully", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			var i atomic.Int64
			gate := newConfGate(3)
			n.Go(func(context.Context) error { gate.arrive(); i.Add(1); return nil })
			n.Go(func(context.Context) error { gate.arrive(); panic("super bad thing") })
			n.Go(func(context.Context) error { gate.arrive(); i.Add(1); return nil })
			gate.open()
			pe := confRequirePanicError(t, func() { _ = n.Wait() })
			assert.Equal(t, "super bad thing", pe.Value)
			require.Equal(t, int64(2), i.Load())
		})

		t.Run("task after the panic never starts", func(t *testing.T) {
			// The difference from conc: a panic cancels the nursery, and a task
			// given to Go once its context is done does not run.
			t.Parallel()
			n := nursery.New(t.Context())
			n.Go(func(context.Context) error { panic("super bad thing") })
			<-n.Context().Done()
			var ran atomic.Bool
			n.Go(func(context.Context) error { ran.Store(true); return nil })
			pe := confRequirePanicError(t, func() { _ = n.Wait() })
			assert.Equal(t, "super bad thing", pe.Value)
			assert.False(t, ran.Load())
			var cause *nursery.PanicError
			assert.ErrorAs(t, context.Cause(n.Context()), &cause, "the nursery was cancelled by the panic")
		})

		t.Run("is caught by waitandrecover", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.PanicsAsErrors())
			n.Go(func(context.Context) error { panic("super bad thing") })
			ps := confPanics(n.Wait())
			require.Len(t, ps, 1)
			require.Equal(t, "super bad thing", ps[0].Value)
		})

		t.Run("one is caught by waitandrecover", func(t *testing.T) {
			// conc's WaitAndRecover returns one panic; PanicsAsErrors returns all.
			t.Parallel()
			n := nursery.New(t.Context(), nursery.PanicsAsErrors())
			gate := newConfGate(2)
			for _, v := range []string{"super bad thing", "super badder thing"} {
				n.Go(func(context.Context) error {
					gate.arrive()
					panic(v)
				})
			}
			gate.open()
			ps := confPanics(n.Wait())
			require.Len(t, ps, 2)
			assert.ElementsMatch(t, []any{"super bad thing", "super badder thing"}, []any{ps[0].Value, ps[1].Value})
		})

		t.Run("nonpanics run successfully with waitandrecover", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.PanicsAsErrors())
			var i atomic.Int64
			gate := newConfGate(3)
			n.Go(func(context.Context) error { gate.arrive(); i.Add(1); return nil })
			n.Go(func(context.Context) error { gate.arrive(); panic("super bad thing") })
			n.Go(func(context.Context) error { gate.arrive(); i.Add(1); return nil })
			gate.open()
			ps := confPanics(n.Wait())
			require.Len(t, ps, 1)
			require.Equal(t, "super bad thing", ps[0].Value)
			require.Equal(t, int64(2), i.Load())
		})
	})
}

// Ported from github.com/sourcegraph/conc pool/pool_test.go ExamplePool.
func TestConformanceConcExamplePool(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var out []string
	n := nursery.New(t.Context(), nursery.WithLimit(3))
	for range 5 {
		n.Go(func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, "conc")
			return nil
		})
	}
	require.NoError(t, n.Wait())
	assert.Equal(t, []string{"conc", "conc", "conc", "conc", "conc"}, out)
}

// confLimitCase is the shape of conc's "limit" subtests: taskCount tasks,
// each sleeping 1 ms, never more than k at once. On synctest's clock every
// admitted task is asleep before any wakes, so the limit must be reached
// exactly, and the run takes exactly ceil(tasks/k) milliseconds.
func confLimitCase(t *testing.T, k, tasks int, opts ...nursery.Option) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), append(opts, nursery.WithLimit(k))...)
		var g gauge
		start := time.Now()
		for range tasks {
			n.Go(func(context.Context) error {
				g.enter()
				defer g.exit()
				if c := g.cur.Load(); c > int64(k) {
					return fmt.Errorf("expected no more than %d concurrent goroutines, saw %d", k, c)
				}
				time.Sleep(time.Millisecond)
				return nil
			})
		}
		require.NoError(t, n.Wait())
		assert.Equal(t, int64(0), g.cur.Load())
		assert.Equal(t, int64(min(k, tasks)), g.max.Load())
		assert.Equal(t, time.Duration((tasks+k-1)/k)*time.Millisecond, time.Since(start))
	})
}

// Ported from github.com/sourcegraph/conc pool/pool_test.go TestPool.
func TestConformanceConcPool(t *testing.T) {
	t.Parallel()

	t.Run("basic", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context())
			var completed atomic.Int64
			for range 100 {
				n.Go(func(context.Context) error {
					time.Sleep(time.Millisecond)
					completed.Add(1)
					return nil
				})
			}
			require.NoError(t, n.Wait())
			require.Equal(t, int64(100), completed.Load())
		})
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				confLimitCase(t, k, 10*k)
			})
		}
	})

	t.Run("propagate panic", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		for i := range 10 {
			n.Go(func(context.Context) error {
				if i == 5 {
					panic(i)
				}
				return nil
			})
		}
		pe := confRequirePanicError(t, func() { _ = n.Wait() })
		assert.Equal(t, 5, pe.Value)
	})

	t.Run("panics do not exhaust goroutines", func(t *testing.T) {
		// With a limit of 2 and every task panicking, Wait must still return
		// (re-panic) rather than hang with the slots lost; on a shared Pool the
		// workers must survive to run another nursery's tasks.
		t.Parallel()
		pool := nursery.NewPool(2)
		defer func() { _ = pool.Close() }()
		for _, tc := range []struct {
			name string
			opts []nursery.Option
		}{
			{name: "WithLimit(2)", opts: []nursery.Option{nursery.WithLimit(2)}},
			{name: "Pool(2)", opts: []nursery.Option{nursery.WithExecutor(pool)}},
		} {
			var pe *nursery.PanicError
			mustFinish(t, tc.name+": nursery whose every task panics", func(ctx context.Context) {
				n := nursery.New(ctx, tc.opts...)
				for range 10 {
					n.Go(func(context.Context) error { panic(42) })
				}
				v, panicked := catchPanic(func() { _ = n.Wait() })
				assert.True(t, panicked, "Wait did not re-panic")
				pe, _ = v.(*nursery.PanicError)
			}, nil)
			require.NotNil(t, pe, tc.name)
			assert.Equal(t, 42, pe.Value, tc.name)
		}
		var ran atomic.Int32
		mustFinish(t, "pool after panics", func(ctx context.Context) {
			assert.NoError(t, nursery.Run(ctx, func(n *nursery.Nursery) error {
				for range 4 {
					n.Go(func(context.Context) error { ran.Add(1); return nil })
				}
				return nil
			}, nursery.WithExecutor(pool)))
		}, nil)
		assert.Equal(t, int32(4), ran.Load())
	})

	t.Run("panics on invalid WithMaxGoroutines", func(t *testing.T) {
		t.Parallel()
		requireMisuse(t, func() { nursery.WithLimit(0) })
		requireMisuse(t, func() { nursery.NewPool(0) })
	})
}

// Ported from github.com/sourcegraph/conc pool/error_pool_test.go
// ExampleErrorPool. conc's ErrorPool does not cancel: CollectErrors.
func TestConformanceConcExampleErrorPool(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.CollectErrors())
	for i := range 3 {
		n.Go(func(context.Context) error {
			if i == 2 {
				return errors.New("oh no!")
			}
			return nil
		})
	}
	err := n.Wait()
	require.Error(t, err)
	assert.Equal(t, "oh no!", err.Error())
}

// Ported from github.com/sourcegraph/conc pool/error_pool_test.go
// TestErrorPool. conc's ErrorPool does not cancel: CollectErrors.
func TestConformanceConcErrorPool(t *testing.T) {
	t.Parallel()
	err1 := errors.New("err1")
	err2 := errors.New("err2")

	t.Run("wait returns no error if no errors", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		n.Go(func(context.Context) error { return nil })
		require.NoError(t, n.Wait())
	})

	t.Run("wait error if func returns error", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		n.Go(func(context.Context) error { return err1 })
		err := n.Wait()
		require.ErrorIs(t, err, err1)
		assert.Equal(t, "err1", err.Error())
	})

	t.Run("wait error is all returned errors", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		n.Go(func(context.Context) error { return err1 })
		n.Go(func(context.Context) error { return nil })
		n.Go(func(context.Context) error { return err2 })
		err := n.Wait()
		require.ErrorIs(t, err, err1)
		require.ErrorIs(t, err, err2)
		assert.ElementsMatch(t, []error{err1, err2}, confLeaves(err))
	})

	t.Run("propagates panics", func(t *testing.T) {
		// CollectErrors does not soften panics: Wait still re-panics.
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		for i := range 10 {
			n.Go(func(context.Context) error {
				if i == 5 {
					panic("fatal")
				}
				return nil
			})
		}
		pe := confRequirePanicError(t, func() { _ = n.Wait() })
		assert.Equal(t, "fatal", pe.Value)
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				confLimitCase(t, k, 10*k, nursery.CollectErrors())
			})
		}
	})
}

// Ported from github.com/sourcegraph/conc pool/context_pool_test.go
// ExampleContextPool_WithCancelOnError. WithCancelOnError is our default.
func TestConformanceConcExampleContextPoolCancelOnError(t *testing.T) {
	t.Parallel()
	var err error
	mustFinish(t, "tasks waiting for the failure's cancellation", func(ctx context.Context) {
		n := nursery.New(ctx, nursery.WithLimit(4))
		for i := range 3 {
			n.Go(func(ctx context.Context) error {
				if i == 2 {
					return errors.New("I will cancel all other tasks!")
				}
				<-ctx.Done()
				return nil
			})
		}
		err = n.Wait()
	}, nil)
	require.Error(t, err)
	assert.Equal(t, "I will cancel all other tasks!", err.Error())
}

// Ported from github.com/sourcegraph/conc pool/context_pool_test.go
// TestContextPool.
//
// A ContextPool without WithCancelOnError does not cancel on failure: that
// is CollectErrors; with it, it is our default. One difference is
// deliberate: conc reports a sibling's context.Canceled that the pool's own
// cancellation caused, next to the failure that caused it; we do not, since
// it is the consequence and not a failure ("a sibling's context.Canceled
// caused by that cancellation is not reported"), so the port of
// "WithCancelOnError" asserts NotErrorIs(context.Canceled) where conc asserts
// ErrorIs. The parent's cancellation, on the other hand, is reported — once.
func TestConformanceConcContextPool(t *testing.T) {
	t.Parallel()
	err1 := errors.New("err1")
	err2 := errors.New("err2")

	t.Run("behaves the same as ErrorGroup", func(t *testing.T) {
		t.Parallel()

		t.Run("wait returns no error if no errors", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			n.Go(func(context.Context) error { return nil })
			require.NoError(t, n.Wait())
		})

		t.Run("wait errors if func returns error", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			n.Go(func(context.Context) error { return err1 })
			require.ErrorIs(t, n.Wait(), err1)
		})

		t.Run("wait error is all returned errors", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			n.Go(func(context.Context) error { return err1 })
			n.Go(func(context.Context) error { return nil })
			n.Go(func(context.Context) error { return err2 })
			err := n.Wait()
			require.ErrorIs(t, err, err1)
			require.ErrorIs(t, err, err2)
			assert.ElementsMatch(t, []error{err1, err2}, confLeaves(err))
		})
	})

	t.Run("context error propagates", func(t *testing.T) {
		t.Parallel()

		t.Run("canceled", func(t *testing.T) {
			t.Parallel()
			var err error
			mustFinish(t, "task waiting for the parent's cancellation", func(ctx context.Context) {
				ctx, cancel := context.WithCancel(ctx)
				n := nursery.New(ctx, nursery.CollectErrors())
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				})
				cancel()
				err = n.Wait()
			}, nil)
			require.ErrorIs(t, err, context.Canceled)
			assert.Len(t, confLeaves(err), 1, "the parent's cancellation is reported once: %v", err)
		})

		t.Run("canceled with cause", func(t *testing.T) {
			// Our addition: the parent's cause, not just context.Canceled, and
			// once for all the tasks it interrupted.
			t.Parallel()
			errGone := errors.New("client went away")
			var err error
			mustFinish(t, "tasks waiting for the parent's cancellation", func(ctx context.Context) {
				ctx, cancel := context.WithCancelCause(ctx)
				n := nursery.New(ctx, nursery.CollectErrors())
				for range 3 {
					n.Go(func(ctx context.Context) error {
						<-ctx.Done()
						return ctx.Err()
					})
				}
				cancel(errGone)
				err = n.Wait()
			}, nil)
			require.ErrorIs(t, err, errGone)
			assert.Equal(t, "client went away", err.Error())
		})

		t.Run("timed out", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
				defer cancel()
				n := nursery.New(ctx, nursery.CollectErrors())
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				})
				err := n.Wait()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Len(t, confLeaves(err), 1, "the parent's deadline is reported once: %v", err)
			})
		})
	})

	t.Run("WithCancelOnError", func(t *testing.T) {
		t.Parallel()
		var err error
		var siblingSaw error
		mustFinish(t, "sibling waiting for the failure's cancellation", func(ctx context.Context) {
			n := nursery.New(ctx)
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				siblingSaw = ctx.Err()
				return ctx.Err()
			})
			n.Go(func(context.Context) error { return err1 })
			err = n.Wait()
		}, nil)
		assert.ErrorIs(t, siblingSaw, context.Canceled, "the sibling was cancelled")
		require.ErrorIs(t, err, err1)
		require.NotErrorIs(t, err, context.Canceled, "the cancellation the failure caused is not itself a failure")
		assert.Equal(t, "err1", err.Error())
	})

	t.Run("no WithCancelOnError", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context(), nursery.CollectErrors())
			var cancelled atomic.Bool
			n.Go(func(ctx context.Context) error {
				select {
				case <-ctx.Done():
					cancelled.Store(true)
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
					return nil
				}
			})
			n.Go(func(context.Context) error { return err1 })
			err := n.Wait()
			require.ErrorIs(t, err, err1)
			require.NotErrorIs(t, err, context.Canceled)
			assert.False(t, cancelled.Load(), "CollectErrors cancelled a sibling")
		})
	})

	t.Run("WithFirstError", func(t *testing.T) {
		// No first-error mode: both failures are reported, in the order
		// they happened. conc's race (the second error registering first) is
		// gone on synctest's clock.
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context())
			sync := make(chan struct{})
			n.Go(func(context.Context) error {
				defer close(sync)
				return err1
			})
			n.Go(func(context.Context) error {
				<-sync
				time.Sleep(10 * time.Millisecond)
				return err2 // not the cancellation: a failure of its own
			})
			err := n.Wait()
			require.ErrorIs(t, err, err1)
			require.ErrorIs(t, err, err2)
			assert.Equal(t, "err1\nerr2", err.Error())
		})
	})

	t.Run("WithFirstError and WithCancelOnError", func(t *testing.T) {
		t.Parallel()
		var err error
		mustFinish(t, "sibling waiting for the failure's cancellation", func(ctx context.Context) {
			n := nursery.New(ctx)
			n.Go(func(context.Context) error { return err1 })
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			})
			err = n.Wait()
		}, nil)
		require.ErrorIs(t, err, err1)
		require.NotErrorIs(t, err, context.Canceled)
		assert.Equal(t, "err1", err.Error())
	})

	t.Run("WithCancelOnError and panic", func(t *testing.T) {
		// The panicking task is started once both siblings are running, so
		// that both are certainly cancelled by it rather than never started.
		t.Parallel()
		var cancelledTasks atomic.Int64
		var pe *nursery.PanicError
		mustFinish(t, "siblings waiting for the panic's cancellation", func(ctx context.Context) {
			n := nursery.New(ctx)
			var started sync.WaitGroup
			for range 2 {
				started.Add(1)
				n.Go(func(ctx context.Context) error {
					started.Done()
					<-ctx.Done()
					cancelledTasks.Add(1)
					return ctx.Err()
				})
			}
			started.Wait()
			n.Go(func(context.Context) error { panic("abort!") })
			v, panicked := catchPanic(func() { _ = n.Wait() })
			assert.True(t, panicked, "Wait did not re-panic")
			pe, _ = v.(*nursery.PanicError)
		}, nil)
		require.NotNil(t, pe)
		assert.Equal(t, "abort!", pe.Value)
		assert.EqualValues(t, 2, cancelledTasks.Load())
		assert.NotContains(t, pe.Error(), "further failure", "the siblings' cancellation is not a failure")
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				confLimitCase(t, k, 100, nursery.CollectErrors())
			})
		}
	})
}

// Ported from github.com/sourcegraph/conc pool/result_pool_test.go
// ExampleResultPool. conc's results come in completion order, so the
// example sorts them; Task handles give them in the order spawned.
func TestConformanceConcExampleResultPool(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	tasks := make([]*nursery.Task[int], 10)
	for i := range tasks {
		tasks[i] = nursery.Spawn(n, func(context.Context) (int, error) { return i * 2, nil })
	}
	require.NoError(t, n.Wait())
	res := make([]int, len(tasks))
	for i, task := range tasks {
		v, err := task.Wait()
		require.NoError(t, err)
		res[i] = v
	}
	assert.Equal(t, []int{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}, res)
}

// confSpawnAll spawns fns in n and returns their values and errors in order.
func confSpawnAll(n *nursery.Nursery, fns ...func(context.Context) (int, error)) func() ([]int, []error) {
	tasks := make([]*nursery.Task[int], len(fns))
	for i, fn := range fns {
		tasks[i] = nursery.Spawn(n, fn)
	}
	return func() ([]int, []error) {
		vs := make([]int, len(tasks))
		errs := make([]error, len(tasks))
		for i, task := range tasks {
			vs[i], errs[i] = task.Wait()
		}
		return vs, errs
	}
}

// confResultLimitCase is the shape of conc's result pools' "limit"
// subtests: 10*k tasks returning their index, each sleeping 1 ms, never
// more than k at once. On synctest's clock the limit must be reached
// exactly, and the results come back in the order spawned (conc sorts
// them; Task order makes that unneeded).
func confResultLimitCase(t *testing.T, k int) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.WithLimit(k))
		var g gauge
		taskCount := 10 * k
		expected := make([]int, taskCount)
		var fns []func(context.Context) (int, error)
		for i := range taskCount {
			expected[i] = i
			fns = append(fns, func(context.Context) (int, error) {
				g.enter()
				defer g.exit()
				if c := g.cur.Load(); c > int64(k) {
					return 0, fmt.Errorf("expected no more than %d concurrent goroutines", k)
				}
				time.Sleep(time.Millisecond)
				return i, nil
			})
		}
		results := confSpawnAll(n, fns...)
		require.NoError(t, n.Wait())
		res, _ := results()
		require.Equal(t, expected, res)
		require.Equal(t, int64(k), g.max.Load())
		require.Equal(t, int64(0), g.cur.Load())
	})
}

// Ported from github.com/sourcegraph/conc pool/result_pool_test.go
// TestResultGroup.
func TestConformanceConcResultPool(t *testing.T) {
	t.Parallel()

	t.Run("basic", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		var fns []func(context.Context) (int, error)
		var expected []int
		for i := range 100 {
			expected = append(expected, i)
			fns = append(fns, func(context.Context) (int, error) { return i, nil })
		}
		results := confSpawnAll(n, fns...)
		require.NoError(t, n.Wait())
		res, errs := results()
		assert.Equal(t, expected, res, "in the order spawned: no sort needed")
		assert.Equal(t, make([]error, 100), errs)
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				confResultLimitCase(t, k)
			})
		}
	})
}

// Ported from github.com/sourcegraph/conc pool/result_error_pool_test.go
// TestResultErrorGroup (a ResultPool WithErrors, which does not cancel:
// CollectErrors).
//
// conc drops the values of failed tasks unless WithCollectErrored; each
// Task here keeps what its function returned, value and error both, so
// "errored value is ignored" becomes Map's contract — results by index, the
// failed input's slot left at the zero value — and WithCollectErrored is
// simply Task.Wait.
func TestConformanceConcResultErrorPool(t *testing.T) {
	t.Parallel()
	err1 := errors.New("err1")
	err2 := errors.New("err2")

	t.Run("wait returns no error if no errors", func(t *testing.T) {
		t.Parallel()
		res, err := nursery.Map(t.Context(), []int{0}, func(context.Context, int) (int, error) { return 1, nil }, nursery.CollectErrors())
		require.NoError(t, err)
		require.Equal(t, []int{1}, res)
	})

	t.Run("wait error if func returns error", func(t *testing.T) {
		t.Parallel()
		res, err := nursery.Map(t.Context(), []int{0}, func(context.Context, int) (int, error) { return 0, err1 }, nursery.CollectErrors())
		require.ErrorIs(t, err, err1)
		assert.Equal(t, "index 0: err1", err.Error())
		assert.Equal(t, []int{0}, res, "the failed input's result is the zero value")
	})

	t.Run("WithCollectErrored", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.CollectErrors())
		task := nursery.Spawn(n, func(context.Context) (int, error) { return 7, err1 })
		require.ErrorIs(t, n.Wait(), err1)
		v, err := task.Wait()
		require.ErrorIs(t, err, err1)
		assert.Equal(t, 7, v, "the errored value is kept")
	})

	t.Run("WithFirstError", func(t *testing.T) {
		// No first-error mode: both are reported, in the order they happened
		// (err2 first), on synctest's clock instead of conc's 100 ms guess.
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context(), nursery.CollectErrors())
			synchronizer := make(chan struct{})
			results := confSpawnAll(n,
				func(context.Context) (int, error) {
					<-synchronizer
					time.Sleep(100 * time.Millisecond)
					return 0, err1
				},
				func(context.Context) (int, error) {
					defer close(synchronizer)
					return 0, err2
				},
			)
			err := n.Wait()
			require.ErrorIs(t, err, err2)
			require.ErrorIs(t, err, err1)
			assert.Equal(t, "err2\nerr1", err.Error())
			_, errs := results()
			assert.Equal(t, []error{err1, err2}, errs)
		})
	})

	t.Run("wait error is all returned errors", func(t *testing.T) {
		t.Parallel()
		res, err := nursery.Map(t.Context(), []error{err1, nil, err2}, func(_ context.Context, e error) (int, error) {
			if e != nil {
				return 0, e
			}
			return 1, nil
		}, nursery.CollectErrors())
		require.ErrorIs(t, err, err1)
		require.ErrorIs(t, err, err2)
		assert.Equal(t, []int{0, 1, 0}, res)
		var texts []string
		for _, e := range confLeaves(err) {
			texts = append(texts, e.Error())
		}
		assert.ElementsMatch(t, []string{"index 0: err1", "index 2: err2"}, texts)
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var g gauge
					taskCount := 10 * k
					res, err := nursery.Map(t.Context(), make([]int, taskCount), func(context.Context, int) (int, error) {
						g.enter()
						defer g.exit()
						if c := g.cur.Load(); c > int64(k) {
							return 0, fmt.Errorf("expected no more than %d concurrent goroutines", k)
						}
						time.Sleep(time.Millisecond)
						return 0, nil
					}, nursery.CollectErrors(), nursery.WithLimit(k))
					require.NoError(t, err)
					require.Len(t, res, taskCount)
					require.Equal(t, int64(k), g.max.Load())
					require.Equal(t, int64(0), g.cur.Load())
				})
			})
		}
	})
}

// Ported from github.com/sourcegraph/conc pool/result_context_pool_test.go
// TestResultContextPool. The same mapping and the same deliberate
// difference as TestConformanceConcContextPool: the cancellation that a
// failure caused is not reported as a failure (conc reports it). Each Task
// still returns what its function returned, context.Canceled included.
func TestConformanceConcResultContextPool(t *testing.T) {
	t.Parallel()
	err1 := errors.New("err1")
	err2 := errors.New("err2")

	t.Run("behaves the same as ErrorGroup", func(t *testing.T) {
		t.Parallel()

		t.Run("wait returns no error if no errors", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			results := confSpawnAll(n, func(context.Context) (int, error) { return 0, nil })
			require.NoError(t, n.Wait())
			res, errs := results()
			require.Equal(t, []int{0}, res)
			require.Equal(t, []error{nil}, errs)
		})

		t.Run("wait error if func returns error", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			results := confSpawnAll(n, func(context.Context) (int, error) { return 0, err1 })
			require.ErrorIs(t, n.Wait(), err1)
			_, errs := results()
			require.Equal(t, []error{err1}, errs)
		})

		t.Run("wait error is all returned errors", func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), nursery.CollectErrors())
			results := confSpawnAll(n,
				func(context.Context) (int, error) { return 0, err1 },
				func(context.Context) (int, error) { return 1, nil },
				func(context.Context) (int, error) { return 0, err2 },
			)
			err := n.Wait()
			require.ErrorIs(t, err, err1)
			require.ErrorIs(t, err, err2)
			res, errs := results()
			assert.Equal(t, []int{0, 1, 0}, res)
			assert.Equal(t, []error{err1, nil, err2}, errs)
		})
	})

	t.Run("context cancel propagates", func(t *testing.T) {
		t.Parallel()
		var err error
		var errs []error
		mustFinish(t, "task waiting for the parent's cancellation", func(ctx context.Context) {
			ctx, cancel := context.WithCancel(ctx)
			n := nursery.New(ctx, nursery.CollectErrors())
			results := confSpawnAll(n, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				return 0, ctx.Err()
			})
			cancel()
			err = n.Wait()
			_, errs = results()
		}, nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.Len(t, confLeaves(err), 1)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], context.Canceled)
	})

	t.Run("WithCancelOnError", func(t *testing.T) {
		t.Parallel()
		var err error
		var errs []error
		mustFinish(t, "sibling waiting for the failure's cancellation", func(ctx context.Context) {
			n := nursery.New(ctx)
			results := confSpawnAll(n,
				func(ctx context.Context) (int, error) {
					<-ctx.Done()
					return 0, ctx.Err()
				},
				func(context.Context) (int, error) { return 0, err1 },
			)
			err = n.Wait()
			_, errs = results()
		}, nil)
		require.ErrorIs(t, err, err1)
		require.NotErrorIs(t, err, context.Canceled, "the cancellation the failure caused is not itself a failure")
		require.Len(t, errs, 2)
		assert.ErrorIs(t, errs[0], context.Canceled, "the sibling's own result is what it returned")
		assert.Equal(t, err1, errs[1])
	})

	t.Run("WithCancelOnError and panic", func(t *testing.T) {
		t.Parallel()
		var cancelledTasks atomic.Int64
		var pe *nursery.PanicError
		var errs []error
		mustFinish(t, "siblings waiting for the panic's cancellation", func(ctx context.Context) {
			n := nursery.New(ctx)
			var started sync.WaitGroup
			started.Add(2)
			sibling := func(ctx context.Context) (int, error) {
				started.Done()
				<-ctx.Done()
				cancelledTasks.Add(1)
				return 0, ctx.Err()
			}
			results := confSpawnAll(n, sibling, sibling)
			started.Wait()
			bad := nursery.Spawn(n, func(context.Context) (int, error) { panic("abort!") })
			v, panicked := catchPanic(func() { _ = n.Wait() })
			assert.True(t, panicked, "Wait did not re-panic")
			pe, _ = v.(*nursery.PanicError)
			_, errs = results()
			_, berr := bad.Wait()
			var tpe *nursery.PanicError
			assert.ErrorAs(t, berr, &tpe, "Task.Wait of a panicked task")
		}, nil)
		require.NotNil(t, pe)
		assert.Equal(t, "abort!", pe.Value)
		assert.EqualValues(t, 2, cancelledTasks.Load())
		for _, err := range errs {
			assert.ErrorIs(t, err, context.Canceled)
		}
	})

	t.Run("no WithCancelOnError", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context(), nursery.CollectErrors())
			results := confSpawnAll(n,
				func(ctx context.Context) (int, error) {
					select {
					case <-ctx.Done():
						return 0, ctx.Err()
					case <-time.After(10 * time.Millisecond):
						return 1, nil
					}
				},
				func(context.Context) (int, error) { return 0, err1 },
			)
			err := n.Wait()
			require.NotErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, err, err1)
			res, errs := results()
			assert.Equal(t, []int{1, 0}, res)
			assert.Equal(t, []error{nil, err1}, errs)
		})
	})

	t.Run("WithCollectErrored", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		results := confSpawnAll(n, func(context.Context) (int, error) { return 3, err1 })
		require.ErrorIs(t, n.Wait(), err1)
		res, errs := results()
		assert.Equal(t, []int{3}, res, "the errored value is kept")
		assert.Equal(t, []error{err1}, errs)
	})

	t.Run("WithFirstError", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			n := nursery.New(t.Context())
			sync := make(chan struct{})
			confSpawnAll(n,
				func(context.Context) (int, error) {
					defer close(sync)
					return 0, err1
				},
				func(context.Context) (int, error) {
					<-sync
					time.Sleep(10 * time.Millisecond)
					return 0, err2
				},
			)
			err := n.Wait()
			assert.Equal(t, "err1\nerr2", err.Error(), "both, in the order they happened")
		})
	})

	t.Run("limit", func(t *testing.T) {
		for _, k := range []int{1, 10, 100} {
			t.Run(strconv.Itoa(k), func(t *testing.T) {
				confResultLimitCase(t, k)
			})
		}
	})
}

// Ported from github.com/sourcegraph/conc iter/iter_test.go ExampleIterator
// and iter/map_test.go ExampleMapper: Map with WithLimit(len/2).
func TestConformanceConcExampleIterator(t *testing.T) {
	t.Parallel()
	input := []int{1, 2, 3, 4}
	out, err := nursery.Map(t.Context(), input, func(_ context.Context, v int) (int, error) {
		if v%2 != 0 {
			return -1, nil
		}
		return v, nil
	}, nursery.WithLimit(len(input)/2))
	require.NoError(t, err)
	assert.Equal(t, []int{-1, 2, -1, 4}, out)

	even, err := nursery.Map(t.Context(), input, func(_ context.Context, v int) (bool, error) {
		return v%2 == 0, nil
	}, nursery.WithLimit(len(input)/2))
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, false, true}, even)
}

// Ported from github.com/sourcegraph/conc iter/iter_test.go TestIterator
// "allows more than defaultMaxGoroutines() concurrent tasks".
//
// conc's iterator defaults to GOMAXPROCS goroutines; Map without WithLimit
// bounds nothing, and with WithLimit(k) exactly k run at once. Every call
// waits until all of them are running: if fewer may run, this hangs, and the
// watchdog fails the test.
func TestConformanceConcIteratorConcurrency(t *testing.T) {
	t.Parallel()
	want := 2 * runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		name string
		opts []nursery.Option
	}{
		{name: "no limit"},
		{name: "WithLimit(want)", opts: []nursery.Option{nursery.WithLimit(want)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mustFinish(t, "Map waiting for all its calls to run at once", func(ctx context.Context) {
				maxConcurrencyHit := make(chan struct{})
				var concurrentTasks atomic.Int64
				_, err := nursery.Map(ctx, make([]int, want), func(context.Context, int) (int, error) {
					n := concurrentTasks.Add(1)
					defer concurrentTasks.Add(-1)
					if int(n) == want {
						close(maxConcurrencyHit)
					} else {
						<-maxConcurrencyHit
					}
					return 0, nil
				}, tc.opts...)
				assert.NoError(t, err)
			}, nil)
		})
	}
}

// Ported from github.com/sourcegraph/conc iter/iter_test.go TestForEachIdx
// and TestForEach, and iter/map_test.go TestMap: ForEach and Map are both Map
// (ForEach's *T is an index into the caller's slice).
func TestConformanceConcMap(t *testing.T) {
	t.Parallel()

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		var res []int
		var err error
		require.NotPanics(t, func() {
			res, err = nursery.Map(t.Context(), []int{}, func(context.Context, int) (int, error) {
				panic("this should never be called")
			})
		})
		require.NoError(t, err)
		assert.Empty(t, res)
	})

	t.Run("panic is propagated", func(t *testing.T) {
		t.Parallel()
		pe := confRequirePanicError(t, func() {
			_, _ = nursery.Map(t.Context(), []int{1}, func(context.Context, int) (int, error) {
				panic("super bad thing happened")
			})
		})
		assert.Equal(t, "super bad thing happened", pe.Value)
	})

	t.Run("mutating inputs is fine", func(t *testing.T) {
		// ForEach's form: each call owns one element of the caller's slice.
		t.Parallel()
		ints := []int{1, 2, 3, 4, 5}
		idx := []int{0, 1, 2, 3, 4}
		_, err := nursery.Map(t.Context(), idx, func(_ context.Context, i int) (struct{}, error) {
			ints[i]++
			return struct{}{}, nil
		})
		require.NoError(t, err)
		require.Equal(t, []int{2, 3, 4, 5, 6}, ints)
	})

	t.Run("basic increment", func(t *testing.T) {
		t.Parallel()
		ints := []int{1, 2, 3, 4, 5}
		res, err := nursery.Map(t.Context(), ints, func(_ context.Context, v int) (int, error) { return v + 1, nil })
		require.NoError(t, err)
		require.Equal(t, []int{2, 3, 4, 5, 6}, res)
		require.Equal(t, []int{1, 2, 3, 4, 5}, ints)
	})

	t.Run("huge inputs", func(t *testing.T) {
		t.Parallel()
		idx := make([]int, 10000)
		expected := make([]int, 10000)
		for i := range idx {
			idx[i] = i
			expected[i] = i
		}
		res, err := nursery.Map(t.Context(), idx, func(_ context.Context, i int) (int, error) { return i, nil })
		require.NoError(t, err)
		require.Equal(t, expected, res)
	})
}

// Ported from github.com/sourcegraph/conc iter/map_test.go TestMapErr.
//
// conc's MapErr runs every input and joins the errors: Map with
// CollectErrors, whose errors also name the failed index. In the default
// fail-fast mode, which conc's MapErr lacks, the first failure is reported
// by its index.
func TestConformanceConcMapErr(t *testing.T) {
	t.Parallel()
	err1 := errors.New("error1")
	err2 := errors.New("error1") // as in the original: the same text, a different error
	inc := func(_ context.Context, v int) (int, error) { return v + 1, nil }

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		res, err := nursery.Map(t.Context(), []int{}, func(context.Context, int) (int, error) {
			panic("this should never be called")
		}, nursery.CollectErrors())
		require.NoError(t, err)
		require.Empty(t, res)
	})

	t.Run("panic is propagated", func(t *testing.T) {
		// Not softened by CollectErrors; returned instead with PanicsAsErrors.
		t.Parallel()
		pe := confRequirePanicError(t, func() {
			_, _ = nursery.Map(t.Context(), []int{1}, func(context.Context, int) (int, error) {
				panic("super bad thing happened")
			}, nursery.CollectErrors())
		})
		assert.Equal(t, "super bad thing happened", pe.Value)

		_, err := nursery.Map(t.Context(), []int{1}, func(context.Context, int) (int, error) {
			panic("super bad thing happened")
		}, nursery.PanicsAsErrors())
		ps := confPanics(err)
		require.Len(t, ps, 1)
		assert.Equal(t, "super bad thing happened", ps[0].Value)
	})

	t.Run("basic increment", func(t *testing.T) {
		t.Parallel()
		ints := []int{1, 2, 3, 4, 5}
		res, err := nursery.Map(t.Context(), ints, inc, nursery.CollectErrors())
		require.NoError(t, err)
		require.Equal(t, []int{2, 3, 4, 5, 6}, res)
		require.Equal(t, []int{1, 2, 3, 4, 5}, ints)
	})

	t.Run("error is propagated", func(t *testing.T) {
		t.Parallel()
		ints := []int{1, 2, 3, 4, 5}
		res, err := nursery.Map(t.Context(), ints, func(ctx context.Context, v int) (int, error) {
			if v == 3 {
				return 0, err1
			}
			return inc(ctx, v)
		}, nursery.CollectErrors())
		require.ErrorIs(t, err, err1)
		assert.Equal(t, "index 2: error1", err.Error())
		require.Equal(t, []int{2, 3, 0, 5, 6}, res)
		require.Equal(t, []int{1, 2, 3, 4, 5}, ints)
	})

	t.Run("error is propagated, fail-fast", func(t *testing.T) {
		t.Parallel()
		_, err := nursery.Map(t.Context(), []int{1, 2, 3, 4, 5}, func(ctx context.Context, v int) (int, error) {
			if v == 3 {
				return 0, err1
			}
			return inc(ctx, v)
		})
		require.ErrorIs(t, err, err1)
		assert.Equal(t, "index 2: error1", err.Error())
	})

	t.Run("multiple errors are propagated", func(t *testing.T) {
		t.Parallel()
		ints := []int{1, 2, 3, 4, 5}
		res, err := nursery.Map(t.Context(), ints, func(ctx context.Context, v int) (int, error) {
			switch v {
			case 3:
				return 0, err1
			case 4:
				return 0, err2
			}
			return inc(ctx, v)
		}, nursery.CollectErrors())
		require.ErrorIs(t, err, err1)
		require.ErrorIs(t, err, err2)
		var texts []string
		for _, e := range confLeaves(err) {
			texts = append(texts, e.Error())
		}
		assert.ElementsMatch(t, []string{"index 2: error1", "index 3: error1"}, texts)
		require.Equal(t, []int{2, 3, 0, 0, 6}, res)
		require.Equal(t, []int{1, 2, 3, 4, 5}, ints)
	})

	t.Run("huge inputs", func(t *testing.T) {
		// The original calls Map here, not MapErr; the port uses the
		// error-returning form it meant.
		t.Parallel()
		res, err := nursery.Map(t.Context(), make([]int, 10000), func(context.Context, int) (int, error) { return 1, nil }, nursery.CollectErrors())
		require.NoError(t, err)
		expected := make([]int, 10000)
		for i := range expected {
			expected[i] = 1
		}
		require.Equal(t, expected, res)
	})
}

// confPanicky is a named function that panics, so that a stack can be
// checked for it.
func confPanicky(v any) { panic(v) }

// Ported from github.com/sourcegraph/conc panics/panics_test.go
// ExampleCatcher, ExampleCatcher_callers, ExampleCatcher_error,
// TestCatcher and TestRecoveredAsError.
//
// A Catcher runs functions one after another and keeps going after a panic;
// a nursery cancels at the first panic, so the example's third function,
// given to Go after the panic has cancelled the nursery, never runs (i is 1,
// not 2). PanicsAsErrors plays Recovered().AsError(): the *PanicError
// unwraps to the panic value when that is an error. Its Stack is the
// panicking goroutine's, which the port checks for the panicking function,
// as ExampleCatcher_callers checks Callers.
func TestConformanceConcCatcher(t *testing.T) {
	t.Parallel()
	errSOS := errors.New("SOS")

	t.Run("example", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors(), nursery.WithLimit(1))
		var i atomic.Int32
		n.Go(func(context.Context) error { i.Add(1); return nil })
		n.Go(func(context.Context) error { panic("abort!") })
		<-n.Context().Done()
		n.Go(func(context.Context) error { i.Add(1); return nil })
		ps := confPanics(n.Wait())
		assert.Equal(t, int32(1), i.Load())
		require.Len(t, ps, 1)
		assert.Equal(t, "abort!", ps[0].Value.(string))
	})

	t.Run("callers", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		n.Go(func(context.Context) error { confPanicky("mayday!"); return nil })
		ps := confPanics(n.Wait())
		require.Len(t, ps, 1)
		stack := string(ps[0].Stack)
		assert.Contains(t, stack, "nursery_test.confPanicky(", "the stack is the panicking goroutine's")
		assert.Contains(t, stack, "panic(", "the stack is taken at the panic")
		assert.Contains(t, ps[0].Error(), stack, "Error includes the stack")
	})

	t.Run("error", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		n.Go(func(context.Context) error { panic(errSOS) })
		err := n.Wait()
		require.ErrorIs(t, err, errSOS)
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, errSOS, errors.Unwrap(pe), "helper panicked with an error: error")
		assert.Contains(t, pe.Error(), "SOS", "formatted panic should contain the panic message")
		assert.Contains(t, pe.Error(), "TestConformanceConcCatcher", "formatted panic should contain the stack trace")
	})

	t.Run("not error", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		n.Go(func(context.Context) error { panic("definitely not an error") })
		err := n.Wait()
		require.NotErrorIs(t, err, errSOS)
		ps := confPanics(err)
		require.Len(t, ps, 1)
		require.Nil(t, errors.Unwrap(ps[0]))
	})

	t.Run("repanic panics", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		n.Go(func(context.Context) error { panic(errSOS) })
		pe := confRequirePanicError(t, func() { _ = n.Wait() })
		assert.ErrorIs(t, pe, errSOS)
		// Wait may be called again and re-panics the same value.
		pe2 := confRequirePanicError(t, func() { _ = n.Wait() })
		assert.Same(t, pe, pe2)
	})

	t.Run("repanic does not panic without child panic", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		n.Go(func(context.Context) error { return nil })
		require.NotPanics(t, func() { require.NoError(t, n.Wait()) })
	})

	t.Run("is goroutine safe", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		for i := range 100 {
			n.Go(func(context.Context) error {
				if i == 50 {
					panic("50")
				}
				return nil
			})
		}
		ps := confPanics(n.Wait())
		require.Len(t, ps, 1)
		require.Equal(t, "50", ps[0].Value)
	})

	t.Run("as error is nil", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		n.Go(func(context.Context) error { return nil })
		assert.NoError(t, n.Wait())
	})

	t.Run("as error is not nil", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		n.Go(func(context.Context) error { panic("oh dear!") })
		assert.Error(t, n.Wait())
	})
}

// Ported from github.com/sourcegraph/conc panics/try_test.go TestTry.
//
// panics.Try's counterpart is a Task: Task.Wait returns a *PanicError when
// the task panicked (and nil when it did not), while its nursery reports
// the panic too; here with PanicsAsErrors, so that it is returned.
func TestConformanceConcTry(t *testing.T) {
	t.Parallel()

	t.Run("panics", func(t *testing.T) {
		t.Parallel()
		errSOS := errors.New("SOS")
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		task := nursery.Spawn(n, func(context.Context) (int, error) { panic(errSOS) })
		_, err := task.Wait()
		require.ErrorIs(t, err, errSOS)
		var pe *nursery.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Contains(t, pe.Error(), "SOS", "formatted panic should contain the panic message")
		assert.Contains(t, pe.Error(), "TestConformanceConcTry", "formatted panic should contain the stack trace")
		nerr := n.Wait()
		require.ErrorIs(t, nerr, errSOS, "the nursery reports the panic too")
	})

	t.Run("no panic", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil })
		_, err := task.Wait()
		require.Nil(t, err)
		require.NoError(t, n.Wait())
	})
}

// Ported from github.com/sourcegraph/conc pool/context_pool_test.go
// TestContextPool ("context error propagates/canceled", "WithCancelOnError",
// "WithCancelOnError and panic"), repeated: conc runs each once, where the
// ordering of the cancellation against the tasks' start is fixed by luck.
// Repeated, every interleaving the scheduler offers must give the same
// answer: the parent's cancellation reported exactly once whether the task
// had started or not; a failure's own cancellation never reported; a panic
// re-raised with no further failures counted for the siblings it cancelled.
// The port adds executors, where some of the tasks are still queued (never
// started) when the cancellation comes, and so must be counted the same.
func TestConformanceConcContextPoolRepeated(t *testing.T) {
	t.Parallel()
	const rounds = 500
	err1 := errors.New("err1")

	pool := nursery.NewPool(1)
	t.Cleanup(func() { _ = pool.Close() })
	executors := []struct {
		name string
		opts []nursery.Option
	}{
		{name: "default"},
		{name: "WithLimit(1)", opts: []nursery.Option{nursery.WithLimit(1)}},
		{name: "Pool(1)", opts: []nursery.Option{nursery.WithExecutor(pool)}},
	}

	for _, ex := range executors {
		t.Run("context error propagates/"+ex.name, func(t *testing.T) {
			t.Parallel()
			mustFinish(t, "parent cancellation rounds", func(ctx context.Context) {
				for i := range rounds {
					pctx, cancel := context.WithCancel(ctx)
					n := nursery.New(pctx, append([]nursery.Option{nursery.CollectErrors()}, ex.opts...)...)
					// The tasks are started by a task; they queue behind it,
					// and the task waits for room without its slot if the
					// queue is full, until the cancellation comes.
					n.Go(func(ctx context.Context) error {
						for range 1 + i%3 {
							n.Go(func(ctx context.Context) error {
								<-ctx.Done()
								return ctx.Err()
							})
						}
						<-ctx.Done()
						return ctx.Err()
					})
					cancel()
					err := n.Wait()
					if !assert.ErrorIs(t, err, context.Canceled, "round %d", i) ||
						!assert.Len(t, confLeaves(err), 1, "round %d: reported once: %v", i, err) {
						return
					}
				}
			}, nil)
		})
	}

	for _, ex := range executors {
		t.Run("WithCancelOnError/"+ex.name, func(t *testing.T) {
			t.Parallel()
			mustFinish(t, "failure cancellation rounds", func(ctx context.Context) {
				for i := range rounds {
					n := nursery.New(ctx, ex.opts...)
					// The failing task starts its siblings first; with a limit
					// or a pool they queue behind it and are dropped unstarted.
					// At most one: a task's Go waits for room like anyone's
					// (WithLimit(1) has room for one queued task), and these
					// siblings wait for the failure that comes after.
					n.Go(func(context.Context) error {
						for range i % 2 {
							n.Go(func(ctx context.Context) error {
								<-ctx.Done()
								return ctx.Err()
							})
						}
						return err1
					})
					err := n.Wait()
					if !assert.ErrorIs(t, err, err1, "round %d", i) ||
						!assert.Equal(t, "err1", err.Error(), "round %d", i) {
						return
					}
				}
			}, nil)
		})
	}

	t.Run("WithCancelOnError and panic", func(t *testing.T) {
		t.Parallel()
		mustFinish(t, "panic cancellation rounds", func(ctx context.Context) {
			for i := range rounds {
				n := nursery.New(ctx)
				for range 1 + i%3 {
					n.Go(func(ctx context.Context) error {
						<-ctx.Done()
						return ctx.Err()
					})
				}
				n.Go(func(context.Context) error { panic("abort!") })
				v, panicked := catchPanic(func() { _ = n.Wait() })
				pe, _ := v.(*nursery.PanicError)
				if !assert.True(t, panicked, "round %d", i) || !assert.NotNil(t, pe, "round %d: %v", i, v) {
					return
				}
				if !assert.Equal(t, "abort!", pe.Value, "round %d", i) ||
					!assert.NotContains(t, pe.Error(), "further failure", "round %d", i) {
					return
				}
			}
		}, nil)
	})
}
