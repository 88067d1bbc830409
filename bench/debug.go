package bench

import (
	"context"
	"testing"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
)

// Issue 6: what debug mode costs. Each group runs the same workload on
// nurseries with debug mode off (the baseline) and on (nurserydebug.On()), so
// that the ratio is the price of debug mode per task. What debug mode costs
// nurseries outside it — its hook in the core — is measured by running the
// Core family with and without the build tag nursery_nodebug, which leaves
// the hook out (see bench/README.md). Run with NURSERY_DEBUG unset: it would
// turn debug mode on for the baseline too.

func debugGroups() []Group {
	debug := nurserydebug.On()
	return []Group{
		{
			Family: "Debug", Name: "debug-spawn-100", Issue: 6, Tasks: 100,
			Note: "New+Go×100+Wait (and Spawn) of no-op tasks, debug mode off vs on: the price of spawn sites, pprof labels, slow-task timers",
			Cases: []Case{
				{"nursery-go", Baseline, DebugNurseryGo(100)},
				{"nursery-go-debug", Subject, DebugNurseryGo(100, debug)},
				{"nursery-spawn", Subject, DebugNurserySpawn(100)},
				{"nursery-spawn-debug", Subject, DebugNurserySpawn(100, debug)},
			},
		},
		{
			Family: "Debug", Name: "debug-empty", Issue: 6, Tasks: 1,
			Note: "create and Wait an empty nursery, debug mode off vs on (per op): creation site, leak cleanup, registry entry",
			Cases: []Case{
				{"nursery-new", Baseline, DebugNurseryGo(0)},
				{"nursery-new-debug", Subject, DebugNurseryGo(0, debug)},
			},
		},
	}
}

// DebugNurseryGo is [NurseryGo] on nurseries created with opts.
func DebugNurseryGo(n int, opts ...nursery.Option) func(b *testing.B) {
	return func(b *testing.B) {
		task, ctx := NoWork.ctxTask(), context.Background()
		for b.Loop() {
			nur := nursery.New(ctx, opts...)
			for range n {
				nur.Go(task)
			}
			if err := nur.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// DebugNurserySpawn is [NurserySpawn] on nurseries created with opts.
func DebugNurserySpawn(n int, opts ...nursery.Option) func(b *testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		task := func(context.Context) (int, error) { return 1, nil }
		tasks := make([]*nursery.Task[int], n)
		for b.Loop() {
			nur := nursery.New(ctx, opts...)
			for i := range tasks {
				tasks[i] = nursery.Spawn(nur, task)
			}
			if err := nur.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
