package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/iter"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"
)

// The peer side of the core groups (issue 3). Each body is written as a user
// of that library would write it, with the task func built once outside the
// loop so that no body pays for building it per task.

// WaitGroupGo spawns n no-op tasks with sync.WaitGroup.Go and waits: the
// baseline of the spawn groups.
func WaitGroupGo(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.task()
		for b.Loop() {
			var wg sync.WaitGroup
			for range n {
				wg.Go(task)
			}
			wg.Wait()
		}
	}
}

// WaitGroupCancel is errgroup.WithContext written by hand: a WaitGroup, a
// context.WithCancelCause and the first error kept under a sync.Once.
func WaitGroupCancel(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.ctxTask()
		for b.Loop() {
			ctx, cancel := context.WithCancelCause(context.Background())
			var (
				wg    sync.WaitGroup
				once  sync.Once
				first error
			)
			for range n {
				wg.Go(func() {
					if err := task(ctx); err != nil {
						once.Do(func() { first = err; cancel(err) })
					}
				})
			}
			wg.Wait()
			cancel(nil)
			if first != nil {
				b.Fatal(first)
			}
		}
	}
}

// ErrgroupGroup spawns n no-op tasks on a zero errgroup.Group and waits.
func ErrgroupGroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.errTask()
		for b.Loop() {
			var g errgroup.Group
			for range n {
				g.Go(task)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ErrgroupWithContext spawns n no-op tasks on errgroup.WithContext and
// waits; with n == 0 it is the baseline of the empty-scope group.
func ErrgroupWithContext(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.ctxTask()
		for b.Loop() {
			g, ctx := errgroup.WithContext(context.Background())
			for range n {
				g.Go(func() error { return task(ctx) })
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ConcWaitGroup spawns n no-op tasks on a conc.WaitGroup and waits.
func ConcWaitGroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.task()
		for b.Loop() {
			var wg conc.WaitGroup
			for range n {
				wg.Go(task)
			}
			wg.Wait()
		}
	}
}

// ConcPoolWithErrors spawns n no-op tasks on conc's pool.New().WithErrors()
// (no goroutine limit) and waits.
func ConcPoolWithErrors(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := NoWork.errTask()
		for b.Loop() {
			p := pool.New().WithErrors()
			for range n {
				p.Go(task)
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ConcPoolContextEmpty creates conc's pool.New().WithContext and waits it
// with no task.
func ConcPoolContextEmpty(b *testing.B) {
	for b.Loop() {
		p := pool.New().WithContext(context.Background())
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// failFastTask returns the task of the fail-fast groups: task n-1 fails at
// once, every other task blocks until its context is cancelled.
func failFastTask(n int) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		if i == n-1 {
			return errBoom
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

func checkBoom(b *testing.B, err error) {
	if !errors.Is(err, errBoom) {
		b.Fatalf("got %v, want %v", err, errBoom)
	}
}

// FailFastWaitGroup is the fail-fast workload on a WaitGroup and
// context.WithCancelCause written by hand: the baseline of its group.
func FailFastWaitGroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := failFastTask(n)
		for b.Loop() {
			ctx, cancel := context.WithCancelCause(context.Background())
			var (
				wg    sync.WaitGroup
				once  sync.Once
				first error
			)
			for i := range n {
				wg.Go(func() {
					if err := task(ctx, i); err != nil {
						once.Do(func() { first = err; cancel(err) })
					}
				})
			}
			wg.Wait()
			cancel(nil)
			checkBoom(b, first)
		}
	}
}

// FailFastErrgroup is the fail-fast workload on errgroup.WithContext.
func FailFastErrgroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := failFastTask(n)
		for b.Loop() {
			g, ctx := errgroup.WithContext(context.Background())
			for i := range n {
				g.Go(func() error { return task(ctx, i) })
			}
			checkBoom(b, g.Wait())
		}
	}
}

// FailFastConc is the fail-fast workload on conc's
// pool.New().WithContext(ctx).WithCancelOnError().
func FailFastConc(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task := failFastTask(n)
		for b.Loop() {
			p := pool.New().WithContext(context.Background()).WithCancelOnError()
			for i := range n {
				p.Go(func(ctx context.Context) error { return task(ctx, i) })
			}
			checkBoom(b, p.Wait())
		}
	}
}

// gatherFuncs returns the n functions of the gather groups: function i
// returns i.
func gatherFuncs(n int) []func(context.Context) (int, error) {
	fns := make([]func(context.Context) (int, error), n)
	for i := range fns {
		fns[i] = func(context.Context) (int, error) { return i, nil }
	}
	return fns
}

func checkResults(b *testing.B, got []int, err error, mul int) {
	if err != nil {
		b.Fatal(err)
	}
	for i, v := range got {
		if v != i*mul {
			b.Fatalf("result %d = %d, want %d", i, v, i*mul)
		}
	}
}

// gatherErrgroup is the errgroup equivalent of nursery.Gather: results in a
// slice indexed by input, the first failure cancelling the rest and naming
// its index.
func gatherErrgroup(ctx context.Context, fns []func(context.Context) (int, error)) ([]int, error) {
	results := make([]int, len(fns))
	g, ctx := errgroup.WithContext(ctx)
	for i, f := range fns {
		g.Go(func() error {
			v, err := f(ctx)
			if err != nil {
				return fmt.Errorf("input %d: %w", i, err)
			}
			results[i] = v
			return nil
		})
	}
	return results, g.Wait()
}

// GatherErrgroup gathers n functions with errgroup.WithContext and a results
// slice: the baseline of the gather group.
func GatherErrgroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		fns := gatherFuncs(n)
		for b.Loop() {
			got, err := gatherErrgroup(context.Background(), fns)
			checkResults(b, got, err, 1)
		}
	}
}

// GatherWaitGroup gathers n functions with sync.WaitGroup.Go, a results
// slice and no cancellation: the least a gather can do.
func GatherWaitGroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		fns := gatherFuncs(n)
		ctx := context.Background()
		for b.Loop() {
			results := make([]int, len(fns))
			errs := make([]error, len(fns))
			var wg sync.WaitGroup
			for i, f := range fns {
				wg.Go(func() { results[i], errs[i] = f(ctx) })
			}
			wg.Wait()
			checkResults(b, results, errors.Join(errs...), 1)
		}
	}
}

func mapInput(n int) []int {
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	return in
}

func double(_ context.Context, x int) (int, error) { return 2 * x, nil }

// MapErrgroup maps n ints with errgroup.WithContext and a results slice: the
// baseline of the map group.
func MapErrgroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		in := mapInput(n)
		for b.Loop() {
			results := make([]int, len(in))
			g, ctx := errgroup.WithContext(context.Background())
			for i, x := range in {
				g.Go(func() error {
					v, err := double(ctx, x)
					if err != nil {
						return fmt.Errorf("input %d: %w", i, err)
					}
					results[i] = v
					return nil
				})
			}
			checkResults(b, results, g.Wait(), 2)
		}
	}
}

// MapWaitGroup maps n ints with sync.WaitGroup.Go and a results slice, with
// no cancellation.
func MapWaitGroup(n int) func(b *testing.B) {
	return func(b *testing.B) {
		in := mapInput(n)
		ctx := context.Background()
		for b.Loop() {
			results := make([]int, len(in))
			errs := make([]error, len(in))
			var wg sync.WaitGroup
			for i, x := range in {
				wg.Go(func() { results[i], errs[i] = double(ctx, x) })
			}
			wg.Wait()
			checkResults(b, results, errors.Join(errs...), 2)
		}
	}
}

// MapConcIter maps n ints with conc's iter.MapErr, which runs GOMAXPROCS
// goroutines over the input rather than one goroutine per item.
func MapConcIter(n int) func(b *testing.B) {
	return func(b *testing.B) {
		in := mapInput(n)
		ctx := context.Background()
		for b.Loop() {
			got, err := iter.MapErr(in, func(x *int) (int, error) { return double(ctx, *x) })
			checkResults(b, got, err, 2)
		}
	}
}
