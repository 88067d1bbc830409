package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// The scenarios below each hung, lost backpressure or misbehaved before
// limits and pools followed the one rule of blocking.go.

// Nested nurseries on one shared pool: every worker runs an outer task
// that waits for an inner nursery on the same pool.
func TestPoolNestedNurseriesOnSharedPool(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 2, 4} {
		for _, inner := range []struct {
			name string
			pool []nursery.PoolOption
			opts []nursery.Option
		}{
			{name: "inner WithLimit(2)", opts: []nursery.Option{nursery.WithLimit(2)}},
			{name: "inner unlimited, QueueSize(0)", pool: []nursery.PoolOption{nursery.QueueSize(0)}},
		} {
			t.Run(fmt.Sprintf("Pool(%d)/%s", workers, inner.name), func(t *testing.T) {
				t.Parallel()
				p := nursery.NewPool(workers, inner.pool...)
				defer func() { assert.NoError(t, p.Close()) }()
				var ran atomic.Int64
				mustFinish(t, "nested nurseries on one shared pool", func(context.Context) {
					err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
						for range workers {
							outer.Go(func(ctx context.Context) error {
								opts := append([]nursery.Option{nursery.WithExecutor(p)}, inner.opts...)
								return nursery.Run(ctx, func(in *nursery.Nursery) error {
									for range 10 {
										in.Go(func(context.Context) error { ran.Add(1); return nil })
									}
									return nil
								}, opts...)
							})
						}
						return nil
					}, nursery.WithExecutor(p))
					assert.NoError(t, err)
				}, nil)
				assert.Equal(t, int64(10*workers), ran.Load())
			})
		}
	}
}

// A Start service — an accept loop — spawns into a nested nursery on the
// same pool after that nursery's Wait began.
func TestPoolStartServiceSpawnsIntoNestedNursery(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer func() { assert.NoError(t, p.Close()) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	const conns = 5
	var served atomic.Int64
	waiting := make(chan struct{})
	accepting := waiting
	mustFinish(t, "accept loop spawning into a nested nursery on one pool", func(context.Context) {
		err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(handlers *nursery.Nursery) error {
					addr, err := nursery.Start(handlers, func(ctx context.Context, ready func(string)) error {
						ready(ln.Addr().String())
						<-waiting
						defer ln.Close()
						for range conns {
							c, err := ln.Accept()
							if err != nil {
								return err
							}
							handlers.Go(func(context.Context) error {
								defer c.Close()
								served.Add(1)
								_, err := c.Write([]byte("hi"))
								return err
							})
						}
						return nil
					})
					if err != nil {
						return err
					}
					close(waiting) // just before Wait; the service waits for it
					// Clients, outside the pool, connect once the
					// handlers' Wait has begun.
					go func() {
						<-accepting
						for range conns {
							c, err := net.Dial("tcp", addr)
							if !assert.NoError(t, err) {
								return
							}
							buf := make([]byte, 2)
							_, err = io.ReadFull(c, buf)
							assert.NoError(t, err)
							c.Close()
						}
					}()
					return nil
				}, nursery.WithExecutor(p))
			})
			return nil
		}, nursery.WithExecutor(p))
		assert.NoError(t, err)
	}, nil)
	assert.Equal(t, int64(conns), served.Load())
}

// runtime.Goexit in a queued task of a nursery that a pool worker waits
// for ends that task alone: the waiter goes on and its Wait reports it.
func TestPoolGoexitInNestedTaskEndsOnlyThatTask(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1)
	defer func() { assert.NoError(t, p.Close()) }()
	var waiterContinued atomic.Bool
	mustFinish(t, "a worker waiting for a nursery whose task calls Goexit", func(context.Context) {
		err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				err := nursery.Run(ctx, func(in *nursery.Nursery) error {
					in.Go(func(context.Context) error { runtime.Goexit(); return nil }, nursery.Name("quitter"))
					return nil
				}, nursery.WithExecutor(p), nursery.WithName("inner"))
				waiterContinued.Store(true)
				if err == nil || !containsAll(err.Error(), "quitter", "Goexit") {
					return fmt.Errorf("inner Wait: got %v, want the Goexit of quitter", err)
				}
				return nil
			})
			return nil
		}, nursery.WithExecutor(p))
		assert.NoError(t, err)
	}, nil)
	assert.True(t, waiterContinued.Load(), "the waiting task must go on")
}

// AsCompleted, and Start whose service spawns and waits before ready,
// from inside a task of a full WithLimit(1) nursery.
func TestLimitWaitsFromInsideAFullNursery(t *testing.T) {
	t.Parallel()
	t.Run("AsCompleted", func(t *testing.T) {
		t.Parallel()
		var sum atomic.Int64
		mustFinish(t, "AsCompleted from inside a full WithLimit(1) nursery", func(context.Context) {
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(func(context.Context) error {
					ts := make([]*nursery.Task[int], 5)
					for i := range ts {
						ts[i] = nursery.Spawn(n, func(context.Context) (int, error) { return i, nil })
					}
					for task := range nursery.AsCompleted(ts...) {
						v, err := task.Wait()
						if err != nil {
							return err
						}
						sum.Add(int64(v))
					}
					return nil
				})
				return nil
			}, nursery.WithLimit(1))
			assert.NoError(t, err)
		}, nil)
		assert.Equal(t, int64(0+1+2+3+4), sum.Load())
	})
	t.Run("Start", func(t *testing.T) {
		t.Parallel()
		mustFinish(t, "Start from inside a full WithLimit(1) nursery", func(context.Context) {
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(func(context.Context) error {
					v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
						v, err := nursery.Spawn(n, func(context.Context) (int, error) { return 42, nil }).Wait()
						if err != nil {
							return err
						}
						ready(v)
						return nil
					})
					if err == nil && v != 42 {
						return fmt.Errorf("Start: got %d, want 42", v)
					}
					return err
				})
				return nil
			}, nursery.WithLimit(1))
			assert.NoError(t, err)
		}, nil)
	})
}

// A crawler: each page runs an inner nursery whose tasks find links and
// call Go on the outer, limited nursery — a nested scope spawning into its
// full ancestor.
func TestLimitCrawlerSpawnsIntoFullAncestor(t *testing.T) {
	t.Parallel()
	const depth = 4
	for _, fanout := range []int{2, 3} {
		for _, limit := range []int{1, 2, 4, 16} {
			for _, onPool := range []bool{false, true} {
				t.Run(fmt.Sprintf("fanout=%d/limit=%d/pool=%v", fanout, limit, onPool), func(t *testing.T) {
					t.Parallel()
					opts := []nursery.Option{nursery.WithLimit(limit)}
					if onPool {
						p := nursery.NewPool(2)
						t.Cleanup(func() { assert.NoError(t, p.Close()) })
						opts = append(opts, nursery.WithExecutor(p))
					}
					var pages atomic.Int64
					mustFinish(t, "crawler spawning into its full ancestor", func(context.Context) {
						err := nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
							var crawl func(d int) func(context.Context) error
							crawl = func(d int) func(context.Context) error {
								return func(ctx context.Context) error {
									pages.Add(1)
									if d == depth {
										return nil
									}
									return nursery.Run(ctx, func(links *nursery.Nursery) error {
										for range fanout {
											links.Go(func(context.Context) error {
												outer.Go(crawl(d + 1))
												return nil
											})
										}
										return nil
									})
								}
							}
							outer.Go(crawl(0))
							return nil
						}, opts...)
						assert.NoError(t, err)
					}, nil)
					want := int64(0)
					for d, w := 0, int64(1); d <= depth; d, w = d+1, w*int64(fanout) {
						want += w
					}
					assert.Equal(t, want, pages.Load())
				})
			}
		}
	}
}

// Backpressure holds for every producer: a task of another nursery on the
// same pool, and a Start service of the nursery itself.
func TestLimitBackpressureForEveryProducer(t *testing.T) {
	t.Parallel()
	const limit, tasks = 4, 20000
	produce := func(n *nursery.Nursery, started *atomic.Int64) (maxPending int64) {
		for i := range tasks {
			n.Go(func(context.Context) error { started.Add(1); return nil })
			maxPending = max(maxPending, int64(i+1)-started.Load())
		}
		return maxPending
	}
	// Tasks accepted but not started: at most the queue (limit) plus the
	// ones a runner has taken and not yet begun (limit).
	const bound = 2 * limit
	t.Run("task of another nursery on the pool", func(t *testing.T) {
		t.Parallel()
		p := nursery.NewPool(2)
		defer func() { assert.NoError(t, p.Close()) }()
		var started atomic.Int64
		var maxPending int64
		target := nursery.New(t.Context(), nursery.WithLimit(limit), nursery.WithExecutor(p))
		err := nursery.Run(t.Context(), func(producer *nursery.Nursery) error {
			producer.Go(func(context.Context) error {
				maxPending = produce(target, &started)
				return nil
			})
			return nil
		}, nursery.WithExecutor(p))
		require.NoError(t, err)
		require.NoError(t, target.Wait())
		assert.Equal(t, int64(tasks), started.Load())
		assert.LessOrEqual(t, maxPending, int64(bound), "tasks waiting in the limited nursery")
	})
	t.Run("Start service of the nursery", func(t *testing.T) {
		t.Parallel()
		var started atomic.Int64
		var maxPending int64
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			_, err := nursery.Start(n, func(ctx context.Context, ready func(struct{})) error {
				ready(struct{}{})
				maxPending = produce(n, &started)
				return nil
			})
			return err
		}, nursery.WithLimit(limit))
		require.NoError(t, err)
		assert.Equal(t, int64(tasks), started.Load())
		assert.LessOrEqual(t, maxPending, int64(bound), "tasks waiting in the limited nursery")
	})
}

// Pool.Close while a nursery keeps submitting returns once the accepted
// tasks are done; the nursery's later tasks fail with ErrPoolClosed.
func TestPoolCloseWhileNurseryKeepsSubmitting(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 4} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			t.Parallel()
			p := nursery.NewPool(2)
			opts := []nursery.Option{nursery.WithExecutor(p)}
			if limit > 0 {
				opts = append(opts, nursery.WithLimit(limit))
			}
			n := nursery.New(context.Background(), opts...)
			producing := make(chan struct{})
			producer := goWatched(t, func(context.Context) {
				close(producing)
				for n.Context().Err() == nil {
					n.Go(noop)
				}
			})
			<-producing
			mustFinish(t, "Pool.Close while a nursery keeps submitting", func(context.Context) { assert.NoError(t, p.Close()) }, nil)
			producer.wait(t, "the producer, once its nursery failed", nil)
			err := n.Wait()
			require.Error(t, err)
			assert.ErrorIs(t, err, nursery.ErrPoolClosed)
			for _, leaf := range leaves(err) {
				assert.True(t, errors.Is(leaf, nursery.ErrPoolClosed), "unexpected failure %v", leaf)
			}
		})
	}
}

// containsAll reports whether s contains every one of subs.
func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
