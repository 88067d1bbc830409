package bench_test

// Memory of a long-lived nursery whose tasks fail: with WithErrorHandler
// each failure is handed on and kept nowhere, so HeapInuse stays flat.
//
//	go test -run '^$' -bench 'ErrorHandlerFailures' -benchtime 1000000x -v

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/bench"
)

// BenchmarkErrorHandlerFailures runs b.N failing tasks in one nursery with
// an error handler, each with an error of its own, and samples HeapInuse
// (after a GC) at the start, every tenth of the run and at the end.
func BenchmarkErrorHandlerFailures(b *testing.B) {
	var handled atomic.Int64
	var counters nursery.Counters
	n := nursery.New(context.Background(), nursery.WithLimit(8),
		nursery.WithErrorHandler(func(error) { handled.Add(1) }), nursery.WithCounters(&counters))
	fail := func(context.Context) error { return errors.New("failure") } // a new error each time
	every := max(b.N/10, 1)
	start := bench.HeapInuse()
	b.Logf("failures %9d  HeapInuse %8d B", 0, start)
	b.ResetTimer()
	for i := range b.N {
		n.Go(fail)
		if (i+1)%every == 0 {
			b.StopTimer()
			for counters.Running() > 0 { // let the queue drain before sampling
				runtime.Gosched()
			}
			b.Logf("failures %9d  HeapInuse %8d B", i+1, bench.HeapInuse())
			b.StartTimer()
		}
	}
	if err := n.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	end := bench.HeapInuse()
	b.ReportMetric(float64(start), "heap-start-B")
	b.ReportMetric(float64(end), "heap-end-B")
	if handled.Load() != int64(b.N) || counters.Failed() != uint64(b.N) {
		b.Fatalf("handled %d, counted %d failures of %d", handled.Load(), counters.Failed(), b.N)
	}
}
