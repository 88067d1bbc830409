package bench

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/structured-go/nursery"
)

// HeapInuse runs the garbage collector and returns runtime.MemStats.HeapInuse.
func HeapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A SoakSample is the state of a soak after Done tasks.
type SoakSample struct {
	Done       int
	HeapInuse  uint64 // after runtime.GC, with every started task finished
	Goroutines int
	Elapsed    time.Duration // since the first task, excluding the samples
}

// Soak runs tasks no-op tasks through one Pool of k workers and one
// nursery that live for the whole run, calling sample at the start, after
// every `every` tasks and at the end, each time once the tasks started so far
// have finished and while the nursery is still open. It returns the errors of
// the nursery's Wait and the pool's Close.
func Soak(tasks, k, every int, sample func(SoakSample)) error {
	ctx := context.Background()
	p := nursery.NewPool(k)
	nur := nursery.New(ctx, nursery.WithExecutor(p))
	var done sync.WaitGroup
	task := func(context.Context) error { done.Done(); return nil }
	var elapsed time.Duration
	take := func(n int) {
		done.Wait()
		sample(SoakSample{Done: n, HeapInuse: HeapInuse(), Goroutines: runtime.NumGoroutine(), Elapsed: elapsed})
	}
	take(0)
	for i := 0; i < tasks; {
		batch := min(every, tasks-i)
		start := time.Now()
		done.Add(batch)
		for range batch {
			nur.Go(task)
		}
		done.Wait()
		elapsed += time.Since(start)
		i += batch
		take(i)
	}
	return errors.Join(nur.Wait(), p.Close())
}
