package nursery_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// Stats polled while nurseries (with parked tasks) and Pool.Go share a
// pool: Running never negative, Queued never negative, Completed never
// decreasing, and exact once the pool is closed.
func TestAttackStatsConsistentUnderLoad(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(2, nursery.QueueSize(1))
	stop := make(chan struct{})
	var bad atomic.Int32
	var poll sync.WaitGroup
	poll.Go(func() {
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := p.Stats()
			if s.Running < 0 || s.Queued < 0 || s.Completed < last {
				bad.Add(1)
				t.Errorf("inconsistent Stats %+v (previous Completed %d)", s, last)
				return
			}
			last = s.Completed
		}
	})
	var total atomic.Uint64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					for range 4 {
						n.Go(func(ctx context.Context) error {
							total.Add(1)
							tk := nursery.Spawn(n, func(context.Context) (int, error) { total.Add(1); return 1, nil })
							_, err := tk.Wait()
							return err
						})
					}
					return nil
				}, nursery.WithExecutor(p))
				require.NoError(t, err)
				var done sync.WaitGroup
				done.Add(1)
				total.Add(1)
				require.NoError(t, p.Go(t.Context(), done.Done))
				done.Wait()
			}
		})
	}
	mustFinish(t, "load", func(context.Context) { wg.Wait() }, nil)
	close(stop)
	poll.Wait()
	require.NoError(t, p.Close())
	s := p.Stats()
	assert.Equal(t, total.Load(), s.Completed)
	assert.Equal(t, 0, s.Running)
	assert.Equal(t, 0, s.Workers)
	assert.Equal(t, 0, s.Queued)
}
