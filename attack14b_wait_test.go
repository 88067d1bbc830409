package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Many Waits — the body's own, several goroutines the nursery was handed
// to, Run's — racing tasks that fail, panic, or pass a parent's
// cancellation on, and Cancel: every Wait returns the identical value (the
// same error, or a re-panic of the same *PanicError pointer), and Run
// returns it too (the body returns nil).
func TestAttack14bConcurrentWaitsIdentical(t *testing.T) {
	t.Parallel()
	errParent := errors.New("parent")
	for round := range 600 {
		mode := round % 6
		parent, cancel := context.WithCancelCause(t.Context())
		var results sync.Map // Wait's result per waiter
		var wg sync.WaitGroup
		wait := func(id int, n *nursery.Nursery) {
			defer func() {
				if r := recover(); r != nil {
					results.Store(id, r)
				}
			}()
			results.Store(id, n.Wait())
		}
		var runResult any
		func() {
			defer func() {
				if r := recover(); r != nil {
					runResult = r
				}
			}()
			runResult = nursery.Run(parent, func(n *nursery.Nursery) error {
				for i := range 8 {
					n.Go(func(ctx context.Context) error {
						switch {
						case mode == 0 && i == 3:
							return fmt.Errorf("task %d", i)
						case mode == 1 && i == 5:
							panic(fmt.Sprint("boom ", i))
						case mode == 2 && i == 1:
							cancel(errParent)
						case mode == 3 && i == 2:
							n.Cancel(nil)
						case mode == 4:
							runtime.Gosched()
							return nil
						}
						<-ctx.Done()
						return context.Cause(ctx)
					})
				}
				if mode == 5 {
					cancel(errParent)
				}
				for id := range 4 {
					wg.Go(func() { wait(id, n) })
				}
				wait(100, n)
				return nil
			})
		}()
		wg.Wait()
		cancel(nil)
		first, ok := results.Load(100)
		require.True(t, ok)
		results.Range(func(k, v any) bool {
			if v != first {
				t.Errorf("round %d (mode %d): Wait %v returned %v, the body's Wait %v", round, mode, k, v, first)
			}
			return true
		})
		if runResult != first {
			t.Errorf("round %d (mode %d): Run returned %v, the body's Wait %v", round, mode, runResult, first)
		}
		switch mode {
		case 0:
			assert.EqualError(t, first.(error), "task 3")
		case 1:
			var pe *nursery.PanicError
			require.ErrorAs(t, first.(error), &pe)
			assert.Equal(t, "boom 5", pe.Value)
		case 2, 5:
			assert.Equal(t, errParent, first)
		case 3, 4:
			assert.Nil(t, first)
		}
	}
}

// Run's body panics while other goroutines wait on its nursery: each of
// their Waits returns (nil: the body's panic cancelled the nursery, which
// is no task's failure), and the body's panic reaches Run's caller.
func TestAttack14bBodyPanicWithConcurrentWaits(t *testing.T) {
	t.Parallel()
	for range 300 {
		var wg sync.WaitGroup
		var bad atomic.Int32
		entered := make(chan struct{}, 4)
		r, panicked := catchPanic(func() {
			_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				for range 4 {
					n.Go(blockOnCtx)
				}
				for range 4 {
					wg.Go(func() {
						entered <- struct{}{}
						if err := n.Wait(); err != nil {
							bad.Add(1)
						}
					})
				}
				for range 4 {
					<-entered
				}
				panic("body")
			})
		})
		wg.Wait()
		require.True(t, panicked)
		require.Equal(t, "body", r)
		require.Zero(t, bad.Load())
	}
}

// Run's body calls runtime.Goexit while another goroutine's Wait is
// blocked and a task panics: Run must not lose the panic (it panics with
// the *PanicError), and the other Wait re-panics the same pointer.
func TestAttack14bBodyGoexitTaskPanicConcurrentWait(t *testing.T) {
	t.Parallel()
	for range 200 {
		var other any
		var wg sync.WaitGroup
		var runPanic any
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { runPanic = recover() }()
			_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				started := make(chan struct{})
				n.Go(func(ctx context.Context) error { close(started); <-ctx.Done(); panic("task") })
				<-started
				wg.Go(func() { other, _ = catchPanic(func() { _ = n.Wait() }) })
				runtime.Goexit()
				return nil
			})
		}()
		<-done
		wg.Wait()
		var pe *nursery.PanicError
		require.NotNil(t, runPanic)
		require.ErrorAs(t, runPanic.(error), &pe)
		assert.Equal(t, "task", pe.Value)
		assert.Same(t, runPanic, other)
	}
}
