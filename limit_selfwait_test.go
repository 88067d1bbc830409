package nursery_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
)

// A task's Go on its own full nursery must not wait for itself, even when
// a sibling holding the other slot waits on a channel for it, or a slot
// holder waits in Start for a service that calls Go: a task waiting for
// room in Go, or in Start, gives its slot back meanwhile.
func TestGoDoesNotWaitForItselfThroughHiddenDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts func(t *testing.T) []nursery.Option
		body func(n *nursery.Nursery) error
	}{
		{
			name: "sibling waits on a channel, WithLimit(2)",
			opts: func(*testing.T) []nursery.Option { return []nursery.Option{nursery.WithLimit(2)} },
			body: siblingWaitsForSpawner,
		},
		{
			name: "sibling waits on a channel, Pool(2) with no queue",
			opts: func(t *testing.T) []nursery.Option {
				p := nursery.NewPool(2, nursery.QueueSize(0))
				t.Cleanup(func() { require.NoError(t, p.Close()) })
				return []nursery.Option{nursery.WithExecutor(p)}
			},
			body: siblingWaitsForSpawner,
		},
		{
			// The slot holder waits for the service in Start, one of the
			// library's waits, so it lends its slot to the service's Go.
			// (A holder waiting on a channel instead would keep its slot,
			// and the service's Go would wait for room: see WithLimit.)
			name: "slot holder waits in Start for a service that calls Go, WithLimit(1)",
			opts: func(*testing.T) []nursery.Option { return []nursery.Option{nursery.WithLimit(1)} },
			body: func(n *nursery.Nursery) error {
				n.Go(func(context.Context) error {
					v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
						child := nursery.Spawn(n, func(context.Context) (int, error) { return 7, nil })
						v, err := child.Wait()
						if err != nil {
							return err
						}
						n.Go(noop)
						ready(v)
						return nil
					})
					if err == nil && v != 7 {
						return fmt.Errorf("Start returned %d, want 7", v)
					}
					return err
				})
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mustFinish(t, "Run whose task calls Go while a sibling waits for it", func(context.Context) {
				assert.NoError(t, nursery.Run(t.Context(), tt.body, tt.opts(t)...))
			}, nil)
		})
	}
}

func siblingWaitsForSpawner(n *nursery.Nursery) error {
	bStarted, aDone := make(chan struct{}), make(chan struct{})
	n.Go(func(context.Context) error {
		<-bStarted
		n.Go(noop)
		n.Go(noop)
		close(aDone)
		return nil
	})
	n.Go(func(context.Context) error { close(bStarted); <-aDone; return nil })
	return nil
}

// A queued child that Task.Wait runs for its parent and that calls
// runtime.Goexit ends itself, not the waiting parent.
func TestHelpedChildGoexitDoesNotEndTheWaiter(t *testing.T) {
	t.Parallel()
	parentContinued := false
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error {
			child := nursery.Spawn(n, func(context.Context) (int, error) {
				runtime.Goexit()
				return 0, nil
			}, nursery.Name("child"))
			_, err := child.Wait()
			parentContinued = true
			assert.ErrorContains(t, err, "Goexit")
			return nil
		}, nursery.Name("parent"))
		return nil
	}, nursery.WithLimit(1), nursery.PanicsAsErrors())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "child: ")
	assert.NotContains(t, err.Error(), "parent: ")
	assert.True(t, parentContinued, "the waiting parent must go on after Task.Wait")
}
