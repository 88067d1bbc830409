package nursery_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// One nursery's panic, re-raised by its Wait in tasks of two other
// nurseries at once: those nurseries record and re-panic the same
// *PanicError. "Wait may be called many times and from many goroutines;
// every call returns the same result (or re-panics the same value)" — the
// value must not be rewritten (or raced on) by the nurseries that pass it
// on. Run under -race.
// Not parallel: the race detector blames every test running at the time.
func TestAttackSharedPanicErrorMutatedByOuterNurseries(t *testing.T) {
	inner := nursery.New(t.Context(), nursery.WithName("inner"))
	inner.Go(func(context.Context) error { panic("inner bug") })
	first, panicked := catchPanic(func() { _ = inner.Wait() })
	require.True(t, panicked)
	before := panicText(first)

	var wg sync.WaitGroup
	for _, name := range []string{"outer-a", "outer-b"} {
		wg.Go(func() {
			v, panicked := catchPanic(func() {
				_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					n.Go(func(context.Context) error { return inner.Wait() }, nursery.Name("waiter-"+name))
					n.Go(func(context.Context) error { return errOther }, nursery.Name("sibling"))
					n.Go(func(context.Context) error { return errBoom }, nursery.Name("sibling2"))
					return nil
				}, nursery.WithName(name), nursery.CollectErrors())
			})
			assert.True(t, panicked)
			_ = v
		})
	}
	wg.Wait()
	again, panicked := catchPanic(func() { _ = inner.Wait() })
	require.True(t, panicked)
	assert.Same(t, first, again)
	assert.Equal(t, before, panicText(again), "the inner nursery's Wait must re-panic the same value, unchanged")
}

// A panic and a runtime.Goexit inside an AsCompleted loop (the body of
// the range) in a task holding the only slot: the iteration's goroutines
// end, the slot comes back, Wait reports the panic.
func TestAttackPanicAndGoexitInsideAsCompletedLoop(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"panic", "goexit"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			var err error
			var later atomic.Int32
			mustFinish(t, "AsCompleted loop dying", func(context.Context) {
				err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					n.Go(func(ctx context.Context) error {
						var ts []*nursery.Task[int]
						for i := range 3 {
							ts = append(ts, nursery.Spawn(n, func(ctx context.Context) (int, error) {
								if i == 2 {
									<-ctx.Done() // still pending when the loop dies
								}
								return i, nil
							}))
						}
						for range nursery.AsCompleted(ts...) {
							if how == "panic" {
								panic("in loop")
							}
							runtime.Goexit()
						}
						return nil
					})
					n.Go(func(context.Context) error { later.Add(1); return nil })
					return nil
				}, nursery.WithLimit(1), nursery.PanicsAsErrors())
			}, nil)
			require.Error(t, err)
			if how == "panic" {
				var pe *nursery.PanicError
				assert.ErrorAs(t, err, &pe)
			}
		})
	}
}

// Run's body panics while Go waits for room and while tasks are parked,
// on a Pool(1)/QueueSize(0) from inside a pool task: the body's panic
// wins, everything started is waited for, and the pool stays usable.
func TestAttackRunBodyPanicWithParkedAndWaitingTasks(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer p.Close()
	var got any
	mustFinish(t, "body panic", func(context.Context) {
		err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				v, panicked := catchPanic(func() {
					_ = nursery.Run(ctx, func(n *nursery.Nursery) error {
						tk := nursery.Spawn(n, func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() })
						go func() { _, _ = tk.Wait() }()
						n.Go(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
						// the bound (2) is reached: a producer waits for room
						waiting := make(chan struct{})
						go func() {
							close(waiting)
							_, _ = catchPanic(func() { n.Go(noop) })
						}()
						<-waiting
						panic("body bug")
					}, nursery.WithExecutor(p), nursery.WithLimit(2))
				})
				if panicked {
					got = v
				}
				return nil
			})
			return nil
		}, nursery.WithExecutor(p))
		assert.NoError(t, err)
	}, nil)
	assert.Equal(t, "body bug", got)
	require.NoError(t, nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(noop)
		return nil
	}, nursery.WithExecutor(p)))
}

// An executor that accepts the first job and refuses the next: a refusal
// fails only tasks that no runner of the nursery can take any more. Here
// the first task's runner is live, so it takes the second task when the
// first returns: the second runs, and nothing is lost or reported.
func TestAttackExecutorRefusalIsTheTasksFailure(t *testing.T) {
	t.Parallel()
	e := &atkRefuser{}
	e.accept.Store(1)
	defer e.wg.Wait()
	release := make(chan struct{})
	var ran atomic.Int32
	n := nursery.New(t.Context(), nursery.WithExecutor(e))
	n.Go(func(context.Context) error { <-release; return nil })
	n.Go(func(context.Context) error { ran.Add(1); return nil }) // e.Go refuses its runner
	close(release)
	err := n.Wait()
	assert.True(t, errors.Is(err, errRefused) || ran.Load() == 1, "neither reported nor run")
	assert.NoError(t, err)
	assert.Equal(t, int32(1), ran.Load(), "the live runner took the second task")
}
