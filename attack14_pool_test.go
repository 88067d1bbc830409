package nursery_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// Pool.Stats promises that nursery tasks count "so that Stats agree with
// the nursery's Wait" (finishedItem). A task cancelled with Task.Cancel
// while queued in the nursery's queue finishes at once for the nursery,
// but stays in the limiter's queue, counted as Queued by the pool, until
// a runner pops it — which may be after Wait has returned.
//
// Failed, and was fixed (under -race, a few iterations in 300): Pool.Stats shows Queued/Running > 0 after the nursery's Wait returned: a Task.Cancel'd item stays in the limiter queue until a runner pops it.
func TestAttack14PoolStatsAfterWaitWithCancelledQueuedTask(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1)
	defer func() { require.NoError(t, p.Close()) }()
	bad := 0
	for range 300 {
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		release := make(chan struct{})
		started := make(chan struct{})
		n.Go(func(context.Context) error { close(started); <-release; return nil })
		<-started
		tk := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
		tk.Cancel(nil)
		close(release)
		require.NoError(t, n.Wait())
		if s := p.Stats(); s.Queued != 0 || s.Running != 0 {
			bad++
		}
	}
	require.Zero(t, bad, "Stats disagreed with Wait (Queued or Running > 0 after Wait returned)")
}
