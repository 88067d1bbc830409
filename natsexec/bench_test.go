package natsexec_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/subprocess"
)

// benchInFlight is how many calls the throughput benchmarks keep in flight.
const benchInFlight = 64

// BenchmarkNoop compares a no-op call over loopback NATS (an embedded
// server, two worker processes) with a subprocess.Pool of two workers and
// with starting a process per call. Sub-benchmarks "inflight64" report
// calls/s with 64 calls in flight; "serial" reports the p50 and p99 round
// trip of one call at a time.
func BenchmarkNoop(b *testing.B) {
	transports := []struct {
		name string
		call func(b *testing.B) func(context.Context) error
	}{
		{"nats", func(b *testing.B) func(context.Context) error {
			s := startServer(b, 0)
			startWorker(b, s.ClientURL(), "w1", benchInFlight, 0)
			startWorker(b, s.ClientURL(), "w2", benchInFlight, 0)
			pool := newPool(b, s.ClientURL())
			waitWorkers(b, pool, "w1", "w2")
			return func(ctx context.Context) error { _, err := noop.Call(ctx, pool, 1); return err }
		}},
		{"subprocess", func(b *testing.B) func(context.Context) error {
			pool, err := subprocess.NewPool(b.Context(), subprocess.Workers(2))
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, pool.Close()) })
			return func(ctx context.Context) error { _, err := noop.Call(ctx, pool, 1); return err }
		}},
		{"exec", func(b *testing.B) func(context.Context) error {
			return func(ctx context.Context) error {
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), envExit+"=1")
				return cmd.Run()
			}
		}},
	}
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			call := tr.call(b)
			for range 200 { // warm up: connections, gob types
				require.NoError(b, call(b.Context()))
			}
			b.Run("inflight64", func(b *testing.B) {
				ctx := b.Context()
				start := time.Now()
				var wg sync.WaitGroup
				var mu sync.Mutex
				n := 0
				var lat []time.Duration
				for range benchInFlight {
					wg.Go(func() {
						var mine []time.Duration
						defer func() {
							mu.Lock()
							lat = append(lat, mine...)
							mu.Unlock()
						}()
						for {
							mu.Lock()
							n++
							last := n > b.N
							mu.Unlock()
							if last {
								return
							}
							t := time.Now()
							if err := call(ctx); err != nil {
								b.Error(err)
								return
							}
							mine = append(mine, time.Since(t))
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				}
			})
			b.Run("serial", func(b *testing.B) {
				ctx := b.Context()
				lat := make([]time.Duration, 0, b.N)
				for b.Loop() {
					t := time.Now()
					if err := call(ctx); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			})
		})
	}
}
