package nursery_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Many Waits at once — from outside, from tasks of other nurseries, with
// Cancel, Task.Cancel and Go racing the end of Wait — all return the same
// result, and Go either is waited for or panics with the misuse message.
func TestAttack14ConcurrentWaitsAgree(t *testing.T) {
	t.Parallel()
	pool := nursery.NewPool(2)
	defer func() { require.NoError(t, pool.Close()) }()
	configs := map[string][]nursery.Option{
		"plain":    nil,
		"limit":    {nursery.WithLimit(4)},
		"pool":     {nursery.WithExecutor(pool)},
		"named":    {nursery.WithName("x"), nursery.CollectErrors()},
		"counters": {nursery.WithCounters(new(nursery.Counters))},
	}
	for name, opts := range configs {
		t.Run(name, func(t *testing.T) {
			for i := range 200 {
				fail := i%3 == 0
				n := nursery.New(t.Context(), opts...)
				var ran atomic.Int64
				var accepted, failedRan atomic.Int64
				gate := make(chan struct{})
				for range 3 {
					n.Go(func(ctx context.Context) error {
						<-gate
						ran.Add(1)
						if fail {
							failedRan.Add(1)
							return errBoom
						}
						return nil
					})
				}
				tk := nursery.Spawn(n, func(ctx context.Context) (int, error) {
					<-ctx.Done()
					return 0, context.Cause(ctx)
				})
				other := nursery.New(t.Context())
				results := make([]error, 6)
				var wg sync.WaitGroup
				for j := range 3 {
					wg.Go(func() { results[j] = n.Wait() })
				}
				for j := 3; j < 6; j++ {
					other.Go(func(context.Context) error { results[j] = n.Wait(); return nil })
				}
				wg.Go(func() {
					defer func() {
						if r := recover(); r != nil {
							assert.Equal(t, "nursery: task started after Wait returned", r)
						}
					}()
					for range 1000 {
						n.Go(func(context.Context) error { ran.Add(1); return nil })
						accepted.Add(1)
					}
				})
				wg.Go(func() { tk.Cancel(errStop) })
				wg.Go(func() { n.Cancel(nil) })
				close(gate)
				wg.Wait()
				require.NoError(t, other.Wait())
				for _, r := range results[1:] {
					assert.Equal(t, results[0], r)
				}
				if failedRan.Load() > 0 {
					// Even after the Cancel, errBoom is a failure of its own.
					assert.ErrorIs(t, results[0], errBoom)
				} else {
					assert.False(t, errors.Is(results[0], errBoom))
				}
				_, terr := tk.Wait()
				assert.Error(t, terr)
			}
		})
	}
}
