package nursery_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// Go, Spawn and Start from a goroutine that is not a task, racing the end
// of Wait: either the task is waited for — it has finished, its failure
// reported, when Wait returns — or the call panics. Nothing in between:
// no task that runs after Wait, no lost failure, no report from -race.
func TestGoRacingWaitIsWaitedForOrPanics(t *testing.T) {
	t.Parallel()
	starts := map[string]func(n *nursery.Nursery, ran *atomic.Bool){
		"Go": func(n *nursery.Nursery, ran *atomic.Bool) {
			n.Go(func(context.Context) error { ran.Store(true); return errBoom })
		},
		"Spawn": func(n *nursery.Nursery, ran *atomic.Bool) {
			nursery.Spawn(n, func(context.Context) (int, error) { ran.Store(true); return 0, errBoom })
		},
		"Start": func(n *nursery.Nursery, ran *atomic.Bool) {
			_, _ = nursery.Start(n, func(ctx context.Context, ready func(int)) error {
				ready(0)
				ran.Store(true)
				return errBoom
			})
		},
	}
	for name, start := range starts {
		for _, limited := range []bool{false, true} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				rounds := 2000
				if testing.Short() {
					rounds = 200
				}
				var accepted, refused int
				for r := range rounds {
					var opts []nursery.Option
					if limited {
						opts = append(opts, nursery.WithLimit(2))
					}
					n := nursery.New(context.Background(), append(opts, nursery.CollectErrors())...)
					var ran atomic.Bool
					var panicked any
					var wg sync.WaitGroup
					var ready sync.WaitGroup
					ready.Add(2)
					wg.Go(func() {
						defer func() { panicked = recover() }()
						ready.Done()
						ready.Wait() // both sides set off together
						for range r % 4 {
							runtime.Gosched() // vary who wins
						}
						start(n, &ran)
					})
					ready.Done()
					ready.Wait()
					err := n.Wait()
					ranBeforeWait := ran.Load()
					wg.Wait()
					if panicked != nil {
						refused++
						require.Equal(t, "nursery: task started after Wait returned", panicked)
						require.NoError(t, err)
						require.False(t, ran.Load(), "a refused task must not run")
						continue
					}
					accepted++
					require.True(t, ranBeforeWait, "an accepted task must finish before Wait returns")
					require.ErrorIs(t, err, errBoom, "an accepted task's failure must reach Wait")
				}
				t.Logf("%d accepted, %d refused", accepted, refused)
				assert.Equal(t, rounds, accepted+refused)
			})
		}
	}
}
