package subprocessbench_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/structured-go/nursery/bench/subprocess"
	"github.com/structured-go/nursery/subprocess"
)

// envOneShot makes the test binary exit at once, for exec-per-call.
const envOneShot = "SUBPROCESSBENCH_ONESHOT"

// The benchmark binary is its own worker: subprocess.Main comes first.
func TestMain(m *testing.M) {
	subprocess.Main()
	if os.Getenv(envOneShot) != "" {
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

var (
	noop = subprocess.Register("bench.noop", func(_ context.Context, x int) (int, error) {
		return x, nil
	})
	burn = subprocess.Register("bench.burn", func(_ context.Context, n int) (uint64, error) {
		return subprocessbench.Burn(n), nil
	})
)

// inFlight is how many calls the throughput benchmarks keep in flight.
const inFlight = 64

var oneMs = sync.OnceValue(func() int { return subprocessbench.Calibrate(time.Millisecond) })

func newPool(b *testing.B) *subprocess.Pool {
	b.Helper()
	p, err := subprocess.NewPool(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Error(err)
		}
	})
	// Warm every worker up (gob types, goroutines) before measuring.
	for range 4 * runtime.GOMAXPROCS(0) {
		if _, err := noop.Call(context.Background(), p, 1); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// parallel runs call b.N times from inFlight goroutines and reports calls/s.
func parallel(b *testing.B, call func() error) {
	b.Helper()
	b.SetParallelism((inFlight + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// sequential runs call one at a time and reports calls/s and the p50 and
// p99 round trips.
func sequential(b *testing.B, call func() error) {
	b.Helper()
	var rtts []time.Duration
	start := time.Now()
	for b.Loop() {
		t := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t))
	}
	elapsed := time.Since(start)
	slices.Sort(rtts)
	b.ReportMetric(float64(len(rtts))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(subprocessbench.Percentile(rtts, 50))/1e3, "p50-µs")
	b.ReportMetric(float64(subprocessbench.Percentile(rtts, 99))/1e3, "p99-µs")
}

// BenchmarkNoop: a call that returns its input, one at a time and with 64
// in flight, through the pool, a process per call, and a goroutine.
func BenchmarkNoop(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=pool/inflight=1", func(b *testing.B) {
		p := newPool(b)
		sequential(b, func() error { _, err := noop.Call(ctx, p, 1); return err })
	})
	b.Run("impl=pool/inflight=64", func(b *testing.B) {
		p := newPool(b)
		parallel(b, func() error { _, err := noop.Call(ctx, p, 1); return err })
	})
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	oneShot := func() error {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envOneShot+"=1")
		return cmd.Run()
	}
	b.Run("impl=exec-per-call/inflight=1", func(b *testing.B) { sequential(b, oneShot) })
	b.Run("impl=exec-per-call/inflight=64", func(b *testing.B) { parallel(b, oneShot) })
	b.Run("impl=goroutine/inflight=64", func(b *testing.B) {
		parallel(b, func() error {
			done := make(chan int)
			go func() { done <- 1 }()
			<-done
			return nil
		})
	})
}

// BenchmarkCPU1ms: calls that each spin ~1 ms of CPU, 64 in flight, in the
// pool's GOMAXPROCS workers and in goroutines of this process.
func BenchmarkCPU1ms(b *testing.B) {
	ctx := context.Background()
	n := oneMs()
	b.Run("impl=pool", func(b *testing.B) {
		p := newPool(b)
		parallel(b, func() error { _, err := burn.Call(ctx, p, n); return err })
	})
	b.Run("impl=goroutine", func(b *testing.B) {
		parallel(b, func() error {
			done := make(chan uint64)
			go func() { done <- subprocessbench.Burn(n) }()
			<-done
			return nil
		})
	})
}

// BenchmarkPythonPPE runs ppe.py: ProcessPoolExecutor with GOMAXPROCS
// workers doing the same calls. b.N is the number of calls; the metrics are
// the script's own measurements, interpreter and pool start excluded.
func BenchmarkPythonPPE(b *testing.B) {
	if _, err := exec.LookPath("python3"); err != nil {
		b.Skip("python3 not found")
	}
	workers := runtime.GOMAXPROCS(0)
	for _, bm := range []struct{ name, mode string }{
		{"noop/inflight=1", "latency"},
		{"noop/inflight=all", "throughput"},
		{"cpu1ms/inflight=all", "cpu"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			n := b.N
			if bm.mode == "cpu" {
				n = max(n, 200)
			}
			r, err := subprocessbench.RunPPE("ppe.py", bm.mode, n, workers, time.Millisecond)
			if errors.Is(err, exec.ErrNotFound) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.CallsPerSec, "calls/s")
			if bm.mode == "latency" {
				b.ReportMetric(r.P50us, "p50-µs")
				b.ReportMetric(r.P99us, "p99-µs")
			}
		})
	}
}
