package nursery_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Nested limited nurseries on one shared Pool, mixing Go, Spawn and Start,
// with Task.Cancel of tasks still queued: every Wait returns nil, the
// cancelled tasks report their cause and never run, and once the outer
// Wait has returned the pool's Stats count exactly the tasks that ran.
func TestAttack14bNestedPoolCancelQueuedStats(t *testing.T) {
	t.Parallel()
	errSkip := errors.New("skipped")
	for range 50 {
		p := nursery.NewPool(4, nursery.QueueSize(8)) // more workers than gate tasks, which hold theirs on a channel
		var ran atomic.Int64
		err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			for range 3 {
				outer.Go(func(ctx context.Context) error {
					ran.Add(1)
					return nursery.Run(ctx, func(inner *nursery.Nursery) error {
						gate := make(chan struct{})
						inner.Go(func(context.Context) error { ran.Add(1); <-gate; return nil })
						// The limit is 1 and the gate task holds it: this one is
						// queued (and the queue, of size 1, is full).
						skipped := nursery.Spawn(inner, func(context.Context) (int, error) {
							t.Error("a cancelled task ran")
							return 0, nil
						})
						skipped.Cancel(errSkip)
						_, err := skipped.Wait()
						assert.ErrorIs(t, err, errSkip)
						_, err = nursery.Start(inner, func(ctx context.Context, ready func(int)) error {
							ready(1)
							return nil
						})
						require.NoError(t, err)
						close(gate)
						for i := range 3 {
							v, err := nursery.Spawn(inner, func(context.Context) (int, error) {
								ran.Add(1)
								return i, nil
							}).Wait()
							assert.NoError(t, err)
							assert.Equal(t, i, v)
						}
						return nil
					}, nursery.WithExecutor(p), nursery.WithLimit(1))
				})
			}
			return nil
		}, nursery.WithExecutor(p))
		require.NoError(t, err)
		st := p.Stats()
		assert.Equal(t, 0, st.Running)
		assert.Equal(t, 0, st.Queued)
		// Start never uses the pool.
		assert.Equal(t, uint64(ran.Load()), st.Completed)
		assert.Equal(t, int64(3+3*4), ran.Load())
		require.NoError(t, p.Close())
	}
}

// refusingExecutor refuses every job.
type refusingExecutor struct{ err error }

func (e refusingExecutor) Go(context.Context, func()) error { return e.err }

// An executor that refuses: each queued task fails with the refusal, once;
// a queued task that Task.Cancel finished first reports its cause and is
// not reported by the nursery.
func TestAttack14bRefusingExecutorAndCancelledTask(t *testing.T) {
	t.Parallel()
	errNo := errors.New("no")
	errSkip := errors.New("skipped")
	n := nursery.New(t.Context(), nursery.WithExecutor(refusingExecutor{errNo}), nursery.WithName("s"))
	a := nursery.Spawn(n, func(context.Context) (int, error) { t.Error("ran"); return 0, nil })
	_, errA := a.Wait()
	assert.ErrorIs(t, errA, errNo)
	err := n.Wait()
	assert.ErrorIs(t, err, errNo)
	assert.Len(t, leaves(err), 1)

	// A limit and an executor that refuses; a task cancelled while queued.
	n2 := nursery.New(t.Context(), nursery.WithLimit(1), nursery.WithExecutor(refusingExecutor{errNo}))
	b := nursery.Spawn(n2, func(context.Context) (int, error) { t.Error("ran"); return 0, nil })
	_, errB := b.Wait()
	assert.ErrorIs(t, errB, errNo)
	assert.Equal(t, []error{errNo}, leaves(n2.Wait()))
	_ = errSkip
}
