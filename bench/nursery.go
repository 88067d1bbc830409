package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/structured-go/nursery"
)

// The nursery side of every group, written against the API of issues 3 and 4.

// NurseryGo creates a nursery, starts n no-op tasks with Go and waits; with
// n == 0 it is the empty-scope case.
func NurseryGo(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task, ctx := NoWork.ctxTask(), context.Background()
		for b.Loop() {
			nur := nursery.New(ctx)
			for range n {
				nur.Go(task)
			}
			if err := nur.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// NurseryRunEmpty runs nursery.Run with a body that starts nothing.
func NurseryRunEmpty(b *testing.B) {
	ctx := context.Background()
	body := func(*nursery.Nursery) error { return nil }
	for b.Loop() {
		if err := nursery.Run(ctx, body); err != nil {
			b.Fatal(err)
		}
	}
}

// NurserySpawn creates a nursery, starts n no-op tasks with Spawn (keeping
// each *Task as a caller would) and waits for the nursery.
func NurserySpawn(n int) func(b *testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		task := func(context.Context) (int, error) { return 1, nil }
		tasks := make([]*nursery.Task[int], n)
		for b.Loop() {
			nur := nursery.New(ctx)
			for i := range tasks {
				tasks[i] = nursery.Spawn(nur, task)
			}
			if err := nur.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FailFastNursery is the fail-fast workload on a nursery.
func FailFastNursery(n int) func(b *testing.B) {
	return func(b *testing.B) {
		task, ctx := failFastTask(n), context.Background()
		for b.Loop() {
			nur := nursery.New(ctx)
			for i := range n {
				nur.Go(func(ctx context.Context) error { return task(ctx, i) })
			}
			checkBoom(b, nur.Wait())
		}
	}
}

// NurseryGather gathers n functions with nursery.Gather.
func NurseryGather(n int) func(b *testing.B) {
	return func(b *testing.B) {
		fns, ctx := gatherFuncs(n), context.Background()
		for b.Loop() {
			got, err := nursery.Gather(ctx, fns...)
			checkResults(b, got, err, 1)
		}
	}
}

// NurseryMap maps n ints with nursery.Map.
func NurseryMap(n int) func(b *testing.B) {
	return func(b *testing.B) {
		in, ctx := mapInput(n), context.Background()
		for b.Loop() {
			got, err := nursery.Map(ctx, in, double)
			checkResults(b, got, err, 2)
		}
	}
}

// NurseryLimit runs n tasks per op on a nursery created with WithLimit(k).
func NurseryLimit(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		k, task, ctx := limit(k), w.ctxTask(), context.Background()
		for b.Loop() {
			nur := nursery.New(ctx, nursery.WithLimit(k))
			for range n {
				nur.Go(task)
			}
			if err := nur.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func newPool(b *testing.B, k int) *nursery.Pool {
	p := nursery.NewPool(k)
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Error(err)
		}
	})
	return p
}

// NurseryPool runs n tasks per op on a nursery whose executor is one Pool
// of k workers, created once outside the loop and closed at the end.
func NurseryPool(n, k int, w Work) func(b *testing.B) {
	return func(b *testing.B) {
		p, task, ctx := newPool(b, limit(k)), w.ctxTask(), context.Background()
		for b.Loop() {
			nurseryPoolOp(b, ctx, p, n, task)
		}
	}
}

func nurseryPoolOp(b *testing.B, ctx context.Context, p *nursery.Pool, n int, task func(context.Context) error) {
	nur := nursery.New(ctx, nursery.WithExecutor(p))
	for range n {
		nur.Go(task)
	}
	if err := nur.Wait(); err != nil {
		b.Error(err) // Error, not Fatal: this may run on another goroutine
	}
}

// SharedNurseryPool runs groups concurrent nurseries of per no-op tasks on
// one Pool of k workers.
func SharedNurseryPool(groups, per, k int) func(b *testing.B) {
	return func(b *testing.B) {
		p, task, ctx := newPool(b, k), NoWork.ctxTask(), context.Background()
		for b.Loop() {
			shared(groups, func() { nurseryPoolOp(b, ctx, p, per, task) })
		}
	}
}

// SoakBenchmark runs one no-op task per op through one Pool of k workers
// and one nursery that live for the whole benchmark, and reports HeapInuse
// (after runtime.GC) before the first task and after the last one has
// finished, while the nursery is still open: memory must be O(live tasks),
// not O(tasks ever started). Run it with -benchtime 10000000x for the
// ten-million-task soak of issue 4; cmd/ratios -soak does the same.
func SoakBenchmark(k int) func(b *testing.B) {
	return func(b *testing.B) {
		ctx := context.Background()
		p := newPool(b, k)
		nur := nursery.New(ctx, nursery.WithExecutor(p))
		var done sync.WaitGroup
		task := func(context.Context) error { done.Done(); return nil }
		start := HeapInuse()
		for b.Loop() {
			done.Add(1)
			nur.Go(task)
		}
		done.Wait() // every task has run, and the nursery is still open
		end := HeapInuse()
		if err := nur.Wait(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(start), "heapinuse-start-B")
		b.ReportMetric(float64(end), "heapinuse-end-B")
	}
}
