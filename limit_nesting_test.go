package nursery_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// The rule of blocking.go — a task blocked in one of the library's waits
// gives back its slot — must hold for every way of nesting the library's
// waits on every kind of executor. This enumerates them all, up to depth
// 3, each run under the watchdog.

// nestOp is one level of nesting: it runs rest, fanning out.
type nestOp struct {
	name string
	// fan is how many times the level runs rest.
	fan int
	do  func(ctx context.Context, n *nursery.Nursery, cfg nestConfig, rest func(context.Context, *nursery.Nursery) error) error
}

// nestConfig is what nested nurseries are created with.
type nestConfig struct {
	exec  []nursery.Option // the shared executor, or none
	limit int
}

var nestOps = []nestOp{
	{name: "Go", fan: 2, do: func(ctx context.Context, n *nursery.Nursery, _ nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		for range 2 {
			n.Go(func(ctx context.Context) error { return rest(ctx, n) })
		}
		return nil
	}},
	{name: "Spawn+Task.Wait", fan: 2, do: func(ctx context.Context, n *nursery.Nursery, _ nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		a := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 1, rest(ctx, n) })
		b := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 1, rest(ctx, n) })
		if _, err := b.Wait(); err != nil {
			return err
		}
		_, err := a.Wait()
		return err
	}},
	{name: "Start", fan: 1, do: func(ctx context.Context, n *nursery.Nursery, _ nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		// The service does all its work before it is ready: Start
		// blocks for all of it.
		_, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
			if err := rest(ctx, n); err != nil {
				return err
			}
			ready(1)
			return nil
		})
		return err
	}},
	{name: "AsCompleted", fan: 2, do: func(ctx context.Context, n *nursery.Nursery, _ nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		ts := make([]*nursery.Task[int], 2)
		for i := range ts {
			ts[i] = nursery.Spawn(n, func(ctx context.Context) (int, error) { return 1, rest(ctx, n) })
		}
		for t := range nursery.AsCompleted(ts...) {
			if _, err := t.Wait(); err != nil {
				return err
			}
		}
		return nil
	}},
	{name: "Run", fan: 1, do: func(ctx context.Context, _ *nursery.Nursery, cfg nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		return nursery.Run(ctx, func(inner *nursery.Nursery) error { return rest(ctx, inner) }, cfg.exec...)
	}},
	{name: "Run+WithLimit", fan: 1, do: func(ctx context.Context, _ *nursery.Nursery, cfg nestConfig, rest func(context.Context, *nursery.Nursery) error) error {
		opts := append([]nursery.Option{nursery.WithLimit(cfg.limit)}, cfg.exec...)
		return nursery.Run(ctx, func(inner *nursery.Nursery) error { return rest(ctx, inner) }, opts...)
	}},
}

// nestings returns every sequence of nestOps of length 1 to depth.
func nestings(depth int) [][]nestOp {
	var all [][]nestOp
	var walk func(prefix []nestOp)
	walk = func(prefix []nestOp) {
		if len(prefix) > 0 {
			all = append(all, prefix)
		}
		if len(prefix) == depth {
			return
		}
		for _, op := range nestOps {
			walk(append(prefix[:len(prefix):len(prefix)], op))
		}
	}
	walk(nil)
	return all
}

// runNesting runs ops inside tasks of a nursery configured by cfg (two of
// them, so that the limit is saturated) and returns how many leaves ran.
func runNesting(ctx context.Context, ops []nestOp, cfg nestConfig) (int64, error) {
	var leaves atomic.Int64
	var level func(i int) func(context.Context, *nursery.Nursery) error
	level = func(i int) func(context.Context, *nursery.Nursery) error {
		if i == len(ops) {
			return func(context.Context, *nursery.Nursery) error {
				leaves.Add(1)
				return nil
			}
		}
		next := level(i + 1)
		return func(ctx context.Context, n *nursery.Nursery) error {
			return ops[i].do(ctx, n, cfg, next)
		}
	}
	top := level(0)
	opts := append([]nursery.Option{nursery.WithLimit(cfg.limit)}, cfg.exec...)
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		for range 2 {
			n.Go(func(ctx context.Context) error { return top(ctx, n) })
		}
		return nil
	}, opts...)
	return leaves.Load(), err
}

func TestLimitEveryNestingCompletes(t *testing.T) {
	t.Parallel()
	type executor struct {
		name string
		pool func() *nursery.Pool // nil: no executor
	}
	executors := []executor{
		{name: "goroutines"},
		{name: "Pool(1),QueueSize(0)", pool: func() *nursery.Pool { return nursery.NewPool(1, nursery.QueueSize(0)) }},
		{name: "Pool(1),QueueSize(1)", pool: func() *nursery.Pool { return nursery.NewPool(1, nursery.QueueSize(1)) }},
		{name: "Pool(2),QueueSize(0)", pool: func() *nursery.Pool { return nursery.NewPool(2, nursery.QueueSize(0)) }},
		{name: "Pool(2),QueueSize(1)", pool: func() *nursery.Pool { return nursery.NewPool(2, nursery.QueueSize(1)) }},
	}
	all := nestings(3)
	require.Len(t, all, 6+36+216)
	for _, ex := range executors {
		for _, limit := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/limit=%d", ex.name, limit), func(t *testing.T) {
				t.Parallel()
				cfg := nestConfig{limit: limit}
				if ex.pool != nil {
					// One pool shared by every nursery of every nesting.
					p := ex.pool()
					t.Cleanup(func() { assert.NoError(t, p.Close()) })
					cfg.exec = []nursery.Option{nursery.WithExecutor(p)}
				}
				for _, ops := range all {
					names := make([]string, len(ops))
					want := int64(2)
					for i, op := range ops {
						names[i] = op.name
						want *= int64(op.fan)
					}
					what := strings.Join(names, " > ")
					mustFinish(t, what, func(context.Context) {
						got, err := runNesting(t.Context(), ops, cfg)
						assert.NoError(t, err, what)
						assert.Equal(t, want, got, "%s: leaves that ran", what)
					}, nil)
				}
			})
		}
	}
}
