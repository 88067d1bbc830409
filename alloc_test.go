package nursery_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/structured-go/nursery"
)

// Allocation budgets are deterministic, so they are tests; speed is left
// to benchmarks. The cost per task is the difference between runs of
// 2*allocTasks and allocTasks tasks, divided by allocTasks: the nursery's
// own allocations cancel out.
const allocTasks = 100

func spawnNoop(context.Context) (int, error) { return 0, nil }

func TestAllocationBudgets(t *testing.T) {
	pool := nursery.NewPool(8)
	defer func() { assert.NoError(t, pool.Close()) }()
	ctx := context.Background()
	tests := []struct {
		name    string
		perTask float64
		run     func(tasks int)
	}{
		{
			name:    "Go+Wait",
			perTask: 2,
			run: func(tasks int) {
				n := nursery.New(ctx)
				for range tasks {
					n.Go(noop)
				}
				_ = n.Wait()
			},
		},
		{
			name:    "Spawn+Wait",
			perTask: 3,
			run: func(tasks int) {
				n := nursery.New(ctx)
				for range tasks {
					nursery.Spawn(n, spawnNoop)
				}
				_ = n.Wait()
			},
		},
		{
			name:    "Spawn+Task.Wait+Wait",
			perTask: 3,
			run: func(tasks int) {
				n := nursery.New(ctx)
				handles := make([]*nursery.Task[int], 0, 2*allocTasks)
				for range tasks {
					handles = append(handles, nursery.Spawn(n, spawnNoop))
				}
				for _, task := range handles {
					_, _ = task.Wait()
				}
				_ = n.Wait()
			},
		},
		{
			// Issue 4 target: ≤ 1 allocation per task on a shared Pool.
			name:    "Go on a shared Pool",
			perTask: 1,
			run: func(tasks int) {
				n := nursery.New(ctx, nursery.WithExecutor(pool))
				for range tasks {
					n.Go(noop)
				}
				_ = n.Wait()
			},
		},
		{
			// Issue 4 target: ≤ 1 allocation per task with WithLimit(8).
			name:    "Go with WithLimit(8)",
			perTask: 1,
			run: func(tasks int) {
				n := nursery.New(ctx, nursery.WithLimit(8))
				for range tasks {
					n.Go(noop)
				}
				_ = n.Wait()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			one := testing.AllocsPerRun(20, func() { tt.run(allocTasks) })
			two := testing.AllocsPerRun(20, func() { tt.run(2 * allocTasks) })
			allocs := (two - one) / allocTasks
			t.Logf("%.2f allocations per task (%v per run of %d tasks, %v per run of %d)", allocs, one, allocTasks, two, 2*allocTasks)
			assert.LessOrEqual(t, allocs, tt.perTask, "allocation budget per task")
		})
	}
}
