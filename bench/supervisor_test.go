package bench_test

// Issue 15: a supervisor's restart latency against suture v4, and its
// memory over a million child failures.
//
//	go test -run '^$' -bench 'Restart' -count 6 | tee restart.txt
//	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl restart.txt
//	go test -run '^$' -bench 'SupervisorFailures' -benchtime 1000000x -v

import (
	"context"
	"errors"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/bench"
	"github.com/structured-go/nursery/supervisor"
)

var errRestartBench = errors.New("bench: fail")

// restartChild is a trivial child for both libraries: each incarnation
// says it is up on up, then fails as soon as it receives on fail.
type restartChild struct {
	up   chan struct{}
	fail chan struct{}
}

func newRestartChild() *restartChild {
	return &restartChild{up: make(chan struct{}), fail: make(chan struct{})}
}

// cycle makes the running incarnation fail and waits until the next one
// is up: one op of BenchmarkRestart.
func (c *restartChild) cycle() {
	c.fail <- struct{}{}
	<-c.up
}

func (c *restartChild) run(ctx context.Context) error {
	c.up <- struct{}{}
	select {
	case <-c.fail:
		return errRestartBench
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve is suture's Service.
func (c *restartChild) Serve(ctx context.Context) error { return c.run(ctx) }

// service is the supervisor's: it is up once it has called ready.
func (c *restartChild) service(ctx context.Context, ready func()) error {
	ready()
	return c.run(ctx)
}

// BenchmarkRestart measures one restart of a trivial child: from its
// failure until its next incarnation runs (after ready, for the
// supervisor). Both libraries restart at once, without backoff and without
// a failure limit, and log nothing.
func BenchmarkRestart(b *testing.B) {
	b.Run("impl=supervisor", func(b *testing.B) {
		c := newRestartChild()
		sup := supervisor.New("bench", supervisor.Intensity(-1, 1), supervisor.Backoff(0, 0), supervisor.Logger(nil))
		if err := sup.Add(b.Context(), supervisor.Child("child", c.service)); err != nil {
			b.Fatal(err)
		}
		n := nursery.New(context.Background())
		started := make(chan error, 1)
		go func() { started <- supervisor.Start(n, sup) }()
		<-c.up
		if err := <-started; err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			c.cycle()
		}
		reportCPU(b, cpu)
		n.Cancel(nil)
		if err := n.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=suture", func(b *testing.B) {
		c := newRestartChild()
		sup := suture.New("bench", suture.Spec{
			FailureThreshold: math.MaxFloat64,
			FailureBackoff:   1,
			EventHook:        func(suture.Event) {},
		})
		sup.Add(c)
		ctx, cancel := context.WithCancel(context.Background())
		errc := sup.ServeBackground(ctx)
		<-c.up
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			c.cycle()
		}
		reportCPU(b, cpu)
		cancel()
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
	})
}

// cpuTime returns the CPU time the process has used, user and system.
// On a machine shared with other work, the CPU time per restart varies far
// less than the wall time, which includes waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start as cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSupervisorFailures runs b.N failures of one child under one
// supervisor, each with an error of its own, and samples HeapInuse (after
// a GC) at the start, every tenth of the run and at the end. Run it with
// -benchtime 1000000x -v to see the samples.
func BenchmarkSupervisorFailures(b *testing.B) {
	c := newRestartChild()
	sup := supervisor.New("bench", supervisor.Intensity(-1, 1), supervisor.Backoff(0, 0), supervisor.Logger(nil))
	if err := sup.Add(b.Context(), supervisor.Child("child", func(ctx context.Context, ready func()) error {
		ready()
		c.up <- struct{}{}
		select {
		case <-c.fail:
			return errors.New("failure") // a new error each time
		case <-ctx.Done():
			return ctx.Err()
		}
	})); err != nil {
		b.Fatal(err)
	}
	n := nursery.New(context.Background())
	started := make(chan error, 1)
	go func() { started <- supervisor.Start(n, sup) }()
	<-c.up
	if err := <-started; err != nil {
		b.Fatal(err)
	}
	every := max(b.N/10, 1)
	start := bench.HeapInuse()
	b.Logf("failures %9d  HeapInuse %8d B", 0, start)
	b.ResetTimer()
	for i := range b.N {
		c.cycle()
		if (i+1)%every == 0 {
			b.StopTimer()
			b.Logf("failures %9d  HeapInuse %8d B", i+1, bench.HeapInuse())
			b.StartTimer()
		}
	}
	b.StopTimer()
	end := bench.HeapInuse()
	b.ReportMetric(float64(start), "heap-start-B")
	b.ReportMetric(float64(end), "heap-end-B")
	info := sup.Children()[0]
	if info.Restarts != b.N || len(info.Failures) != supervisor.MaxFailures && b.N >= supervisor.MaxFailures {
		b.Fatalf("restarts %d, %d failures kept", info.Restarts, len(info.Failures))
	}
	n.Cancel(nil)
	if err := n.Wait(); err != nil {
		b.Fatal(err)
	}
}
