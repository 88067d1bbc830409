package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// atkRunning counts tasks running, excluding time in the library's waits:
// a task leaves before it enters a wait and comes back after.
type atkRunning struct{ g gauge }

func (r *atkRunning) in()  { r.g.enter() }
func (r *atkRunning) out() { r.g.exit() }

// around runs wait outside the count.
func (r *atkRunning) around(wait func()) {
	r.out()
	defer r.in()
	wait()
}

// Deep nesting: 60 levels of limited nurseries, each level's task waiting
// for the next, all on one Pool(1) with QueueSize(0). At most one task may
// run at once (outside library waits), and nothing may deadlock.
func TestAttackDeepNestingOnPool1Queue0(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer p.Close()
	var run atkRunning
	var leaves atomic.Int64
	var level func(ctx context.Context, d int) error
	level = func(ctx context.Context, d int) error {
		if d == 0 {
			leaves.Add(1)
			return nil
		}
		var err error
		run.around(func() {
			err = nursery.Run(ctx, func(n *nursery.Nursery) error {
				for i := range 2 {
					body := func(ctx context.Context) (int, error) {
						run.in()
						defer run.out()
						if i == 0 {
							return 0, level(ctx, d-1)
						}
						leaves.Add(1)
						return 1, nil
					}
					tk := nursery.Spawn(n, body)
					if i == 1 {
						_, err := tk.Wait()
						if err != nil {
							return err
						}
					}
				}
				return nil
			}, nursery.WithExecutor(p), nursery.WithLimit(1))
		})
		return err
	}
	var err error
	mustFinish(t, "60 nested limited nurseries on one Pool(1)/QueueSize(0)", func(context.Context) {
		run.in()
		defer run.out()
		err = level(t.Context(), 60)
	}, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 61, leaves.Load())
	assert.LessOrEqual(t, run.g.max.Load(), int64(2), "the caller plus one pool task")
}

// Many nurseries, each started from its own goroutine, share one Pool(1)
// with QueueSize(0); their tasks nest into each other's nurseries and wait.
func TestAttackManyNurseriesShareOnePool1(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer p.Close()
	var run atkRunning
	const scopes = 24
	ns := make([]*nursery.Nursery, scopes)
	for i := range ns {
		ns[i] = nursery.New(t.Context(), nursery.WithExecutor(p), nursery.WithName(fmt.Sprint("s", i)))
	}
	var wg, tops sync.WaitGroup
	var done atomic.Int64
	mustFinish(t, "24 nurseries cross-nesting on one Pool(1)", func(context.Context) {
		for i := range scopes {
			wg.Go(func() {
				for j := range 20 {
					n := ns[i]
					tops.Add(1)
					n.Go(func(ctx context.Context) error {
						defer tops.Done()
						run.in()
						defer run.out()
						// nested scope on the same pool, waited for
						var err error
						run.around(func() {
							err = nursery.Run(ctx, func(m *nursery.Nursery) error {
								for range 3 {
									m.Go(func(context.Context) error {
										run.in()
										defer run.out()
										done.Add(1)
										return nil
									})
								}
								return nil
							}, nursery.WithExecutor(p), nursery.WithLimit(1+j%2))
						})
						if err != nil {
							return err
						}
						// and a Spawn into a sibling nursery, waited for
						other := ns[(i+1)%scopes]
						var tk *nursery.Task[int]
						run.around(func() {
							tk = nursery.Spawn(other, func(context.Context) (int, error) {
								run.in()
								defer run.out()
								return 1, nil
							})
						})
						run.around(func() { _, err = tk.Wait() })
						return err
					})
				}
			})
		}
		wg.Wait()
		// The top-level tasks spawn into their siblings: every nursery
		// must stay open until they are done (errgroup's rule, ours too:
		// no Go after Wait returned).
		tops.Wait()
		for i := range scopes {
			require.NoError(t, ns[i].Wait())
		}
	}, nil)
	assert.EqualValues(t, scopes*20*3, done.Load())
	assert.LessOrEqual(t, run.g.max.Load(), int64(1))
}

// The limit under a mix of every library wait: Task.Wait, Start (a
// service that spawns into the full nursery and waits), AsCompleted, a
// nested Run on the same nursery's runners, Go waiting for room. At most
// k tasks run outside waits.
func TestAttackLimitCountsOnlyRunningTasks(t *testing.T) {
	t.Parallel()
	for _, k := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			t.Parallel()
			var run atkRunning
			var err error
			mustFinish(t, "mixed waits under WithLimit", func(context.Context) {
				err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					for i := range 40 {
						n.Go(func(ctx context.Context) error {
							run.in()
							defer run.out()
							switch i % 4 {
							case 0:
								var ts []*nursery.Task[int]
								run.around(func() {
									for j := range 3 {
										ts = append(ts, nursery.Spawn(n, func(context.Context) (int, error) {
											run.in()
											defer run.out()
											return j, nil
										}))
									}
								})
								sum := 0
								run.around(func() {
									for tk := range nursery.AsCompleted(ts...) {
										v, _ := tk.Wait()
										sum += v
									}
								})
								if sum != 3 {
									return fmt.Errorf("sum %d", sum)
								}
							case 1:
								var v int
								var err error
								run.around(func() {
									v, err = nursery.Start(n, func(ctx context.Context, ready func(int)) error {
										// a service: not counted
										tk := nursery.Spawn(n, func(context.Context) (int, error) {
											run.in()
											defer run.out()
											return 5, nil
										})
										x, err := tk.Wait()
										if err != nil {
											return err
										}
										ready(x)
										return nil
									})
								})
								if err != nil || v != 5 {
									return fmt.Errorf("Start: %v %v", v, err)
								}
							case 2:
								var err error
								run.around(func() {
									err = nursery.Run(ctx, func(m *nursery.Nursery) error {
										for range 3 {
											// m's tasks count toward m's limit, not n's:
											// not measured here.
											m.Go(func(context.Context) error {
												runtime.Gosched()
												return nil
											})
										}
										return nil
									}, nursery.WithLimit(1))
								})
								return err
							case 3:
								var tk *nursery.Task[int]
								run.around(func() {
									tk = nursery.Spawn(n, func(context.Context) (int, error) {
										run.in()
										defer run.out()
										return 1, nil
									})
								})
								var err error
								run.around(func() { _, err = tk.Wait() })
								return err
							}
							return nil
						})
					}
					return nil
				}, nursery.WithLimit(k))
			}, nil)
			require.NoError(t, err)
			assert.LessOrEqual(t, run.g.max.Load(), int64(k))
		})
	}
}

// runtime.Goexit and panics in tasks on runners and pool workers, before
// and after a library wait: Wait reports them, nothing deadlocks, the
// limit's accounting survives (a later batch still runs k at once and
// completes), and the pool's Stats end consistent.
func TestAttackGoexitAndPanicOnRunnersAndWorkers(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"limit", "pool", "pool+limit"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var p *nursery.Pool
			var opts []nursery.Option
			if kind != "limit" {
				p = nursery.NewPool(2, nursery.QueueSize(0))
				defer p.Close()
				opts = append(opts, nursery.WithExecutor(p))
			}
			if kind != "pool" {
				opts = append(opts, nursery.WithLimit(2))
			}
			opts = append(opts, nursery.PanicsAsErrors(), nursery.CollectErrors())
			const tasks = 60
			var err error
			mustFinish(t, "tasks that Goexit and panic", func(context.Context) {
				err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					for i := range tasks {
						n.Go(func(ctx context.Context) error {
							if i%3 != 0 {
								// wait in the library first: give the slot back and take it again
								tk := nursery.Spawn(n, func(context.Context) (int, error) { return 1, nil })
								if _, err := tk.Wait(); err != nil {
									return nil // cancelled by an earlier failure
								}
							}
							switch i % 2 {
							case 0:
								runtime.Goexit()
							default:
								panic(fmt.Sprint("boom ", i))
							}
							return nil
						})
					}
					return nil
				}, opts...)
			}, nil)
			require.Error(t, err) // the first Goexit cancels the rest
			// The scheduler still works, with the same bound.
			var run atkRunning
			var err2 error
			mustFinish(t, "a second batch after Goexits", func(context.Context) {
				err2 = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					for range 50 {
						n.Go(func(context.Context) error {
							run.in()
							defer run.out()
							runtime.Gosched()
							return nil
						})
					}
					return nil
				}, opts...)
			}, nil)
			assert.NoError(t, err2)
			assert.LessOrEqual(t, run.g.max.Load(), int64(2))
			if p != nil {
				s := p.Stats()
				assert.GreaterOrEqual(t, s.Running, 0)
				assert.Equal(t, 0, s.Queued)
			}
		})
	}
}

// A Start service that panics or calls runtime.Goexit before ready while
// its caller is a task holding the only slot of WithLimit(1): Start's
// failure is its own, the slot comes back, the nursery goes on.
func TestAttackStartServiceDiesBeforeReadyUnderLimit(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"panic", "goexit", "error"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			var startErr error
			var after atomic.Int32
			var err error
			mustFinish(t, "Start dying before ready", func(context.Context) {
				err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					n.Go(func(ctx context.Context) error {
						_, startErr = nursery.Start(n, func(ctx context.Context, ready func(int)) error {
							// fill the nursery's queue while the caller waits
							n.Go(func(context.Context) error { after.Add(1); return nil })
							switch how {
							case "panic":
								panic("service bug")
							case "goexit":
								runtime.Goexit()
							}
							return errBoom
						})
						tk := nursery.Spawn(n, func(context.Context) (int, error) { after.Add(1); return 1, nil })
						_, err := tk.Wait()
						return err
					})
					return nil
				}, nursery.WithLimit(1), nursery.PanicsAsErrors())
			}, nil)
			assert.NoError(t, err, "a failure before ready is Start's alone")
			assert.Error(t, startErr)
			assert.EqualValues(t, 2, after.Load())
		})
	}
}

// Go waits for room from every caller once running+queued reach the
// bound: a plain goroutine, a task of another nursery, a Start service.
// (synctest: "blocked" means durably blocked once everything settles.)
func TestAttackGoWaitsForRoomFromEveryCaller(t *testing.T) {
	t.Parallel()
	for _, who := range []string{"goroutine", "other-nursery-task", "service"} {
		for _, exec := range []string{"limit2", "pool2q1"} {
			t.Run(who+"/"+exec, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var opts []nursery.Option
					bound := 4 // WithLimit(2): 2 running, 2 waiting
					if exec == "pool2q1" {
						p := nursery.NewPool(2, nursery.QueueSize(1))
						defer p.Close()
						opts = append(opts, nursery.WithExecutor(p))
						bound = 3
					} else {
						opts = append(opts, nursery.WithLimit(2))
					}
					release := make(chan struct{})
					n := nursery.New(t.Context(), opts...)
					for range bound {
						n.Go(func(context.Context) error { <-release; return nil })
					}
					synctest.Wait()
					var returned atomic.Bool
					extra := func() {
						n.Go(noop)
						returned.Store(true)
					}
					other := nursery.New(t.Context(), nursery.WithLimit(1))
					switch who {
					case "goroutine":
						go extra()
					case "other-nursery-task":
						other.Go(func(context.Context) error { extra(); return nil })
					case "service":
						go func() {
							_, _ = nursery.Start(other, func(ctx context.Context, ready func(int)) error {
								extra()
								ready(1)
								return nil
							})
						}()
					}
					synctest.Wait()
					assert.False(t, returned.Load(), "Go must wait for room once the bound is reached")
					close(release)
					synctest.Wait()
					assert.True(t, returned.Load())
					assert.NoError(t, n.Wait())
					assert.NoError(t, other.Wait())
				})
			})
		}
	}
}

// Cancellation while Go waits for room, while tasks are queued, and while
// a parked task waits to take its slot back: everything ends, Wait
// reports no failure (cancelling is not failing), queued tasks never run.
func TestAttackCancelAtEveryPoint(t *testing.T) {
	t.Parallel()
	for _, exec := range []string{"limit1", "pool1q0", "pool1q0+limit1"} {
		t.Run(exec, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var opts []nursery.Option
				if exec != "limit1" {
					p := nursery.NewPool(1, nursery.QueueSize(0))
					defer p.Close()
					opts = append(opts, nursery.WithExecutor(p))
				}
				if exec != "pool1q0" {
					opts = append(opts, nursery.WithLimit(1))
				}
				n := nursery.New(t.Context(), opts...)
				hold := make(chan struct{})
				var ran atomic.Int32
				// a task that parks in Task.Wait for a child that blocks on hold
				n.Go(func(ctx context.Context) error {
					tk := nursery.Spawn(n, func(ctx context.Context) (int, error) {
						select {
						case <-hold:
						case <-ctx.Done():
						}
						return 0, ctx.Err()
					})
					_, err := tk.Wait()
					return err
				})
				// producers blocked waiting for room
				for range 3 {
					go func() {
						defer func() { _ = recover() }() // Go after Wait returned
						n.Go(func(context.Context) error { ran.Add(1); return nil })
					}()
				}
				synctest.Wait()
				n.Cancel(nil)
				synctest.Wait()
				assert.NoError(t, n.Wait())
				close(hold)
			})
		})
	}
}

// A Go racing Wait is either waited for or panics "nursery: task started
// after Wait returned"; never runs after Wait returned, never is lost.
func TestAttackGoRacingWait(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(2)
	t.Cleanup(func() { p.Close() })
	for _, name := range []string{"default", "limit", "pool", "task-option"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for range 300 {
				var opts []nursery.Option
				var topts []nursery.TaskOption
				switch name {
				case "limit":
					opts = append(opts, nursery.WithLimit(2))
				case "pool":
					opts = append(opts, nursery.WithExecutor(p))
				case "task-option":
					topts = append(topts, nursery.Name("x"))
				}
				n := nursery.New(t.Context(), opts...)
				n.Go(noop)
				var waitReturned atomic.Bool
				var lateRun atomic.Int32
				var accepted, refused atomic.Int32
				var ran atomic.Int32
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						v, panicked := catchPanic(func() {
							n.Go(func(context.Context) error {
								if waitReturned.Load() {
									lateRun.Add(1)
								}
								ran.Add(1)
								return nil
							}, topts...)
						})
						if panicked {
							if msg := panicText(v); msg != "nursery: task started after Wait returned" {
								t.Errorf("unexpected panic %q", msg)
							}
							refused.Add(1)
						} else {
							accepted.Add(1)
						}
					})
				}
				require.NoError(t, n.Wait())
				waitReturned.Store(true)
				r := ran.Load()
				wg.Wait()
				if lateRun.Load() != 0 || ran.Load() != accepted.Load() || r != ran.Load() {
					t.Fatalf("accepted %d, ran %d (%d by Wait's return), ran after Wait %d", accepted.Load(), ran.Load(), r, lateRun.Load())
				}
			}
		})
	}
}

// Wait from many goroutines at once — plain goroutines and tasks of
// another nursery on the same Pool(1) — all return the same result.
func TestAttackConcurrentWaitersSamePool(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer p.Close()
	for range 30 {
		n := nursery.New(t.Context(), nursery.WithExecutor(p), nursery.PanicsAsErrors(), nursery.WithName("target"))
		for i := range 8 {
			n.Go(func(context.Context) error {
				if i == 5 {
					return errBoom
				}
				return nil
			})
		}
		other := nursery.New(t.Context(), nursery.WithExecutor(p))
		errs := make(chan error, 16)
		for range 8 {
			other.Go(func(context.Context) error { errs <- n.Wait(); return nil })
			go func() { errs <- n.Wait() }()
		}
		mustFinish(t, "waiters", func(context.Context) { require.NoError(t, other.Wait()) }, nil)
		for range 16 {
			err := <-errs
			require.ErrorIs(t, err, errBoom)
		}
	}
}

// Pool.Close while a task is parked waiting for a nested nursery on the
// same pool, and while nurseries have tasks queued: Close returns once the
// accepted tasks finish, the nested queued tasks fail with ErrPoolClosed
// (or ran), nothing deadlocks and no worker remains.
func TestAttackPoolCloseWhileTasksParked(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(1, nursery.QueueSize(0))
		hold := make(chan struct{})
		var outerErr error
		outerDone := make(chan struct{})
		go func() {
			defer close(outerDone)
			outerErr = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(func(ctx context.Context) error {
					return nursery.Run(ctx, func(m *nursery.Nursery) error {
						m.Go(func(context.Context) error { <-hold; return nil })
						for range 5 {
							m.Go(noop) // queued behind hold
						}
						return nil
					}, nursery.WithExecutor(p), nursery.CollectErrors())
				})
				return nil
			}, nursery.WithExecutor(p))
		}()
		synctest.Wait()
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		synctest.Wait()
		assert.False(t, isClosed(closed), "Close waits for the accepted task blocked on hold")
		close(hold)
		synctest.Wait()
		assert.True(t, isClosed(closed))
		<-outerDone
		for _, e := range leaves(outerErr) {
			assert.ErrorIs(t, e, nursery.ErrPoolClosed)
		}
		assert.Equal(t, 0, p.Stats().Workers)
		// later nursery tasks fail with ErrPoolClosed
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(noop)
			return nil
		}, nursery.WithExecutor(p))
		assert.ErrorIs(t, err, nursery.ErrPoolClosed)
	})
}

// An idle pool holds no goroutines after IdleTimeout, also when more
// workers than its size were started while tasks were parked.
func TestAttackIdleTimeoutAfterParkedBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := nursery.NewPool(2, nursery.IdleTimeout(time.Second))
		defer p.Close()
		var depth func(ctx context.Context, d int) error
		depth = func(ctx context.Context, d int) error {
			if d == 0 {
				time.Sleep(10 * time.Millisecond)
				return nil
			}
			return nursery.Run(ctx, func(n *nursery.Nursery) error {
				for range 2 {
					n.Go(func(ctx context.Context) error { return depth(ctx, d-1) })
				}
				return nil
			}, nursery.WithExecutor(p))
		}
		require.NoError(t, depth(t.Context(), 5))
		// a worker parked in an idle timer while another task is parked
		hold := make(chan struct{})
		n := nursery.New(t.Context(), nursery.WithExecutor(p))
		n.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(m *nursery.Nursery) error {
				m.Go(func(context.Context) error { <-hold; return nil })
				return nil
			}, nursery.WithExecutor(p))
		})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		close(hold)
		require.NoError(t, n.Wait())
		time.Sleep(2 * time.Second)
		synctest.Wait()
		s := p.Stats()
		assert.Equal(t, 0, s.Workers, "no worker after IdleTimeout: %+v", s)
		assert.Equal(t, 0, s.Running)
	})
}

// Pool.Go from inside pool tasks, 200 deep, on Pool(1)/QueueSize(0):
// each task submits the next and returns; submitters blocked for room lend
// their worker.
func TestAttackPoolGoChainFromPoolTasks(t *testing.T) {
	t.Parallel()
	p := nursery.NewPool(1, nursery.QueueSize(0))
	defer p.Close()
	var wg sync.WaitGroup
	var run atkRunning
	var step func(d int)
	step = func(d int) {
		defer wg.Done()
		run.in()
		defer run.out()
		if d == 0 {
			return
		}
		wg.Add(2)
		for range 2 {
			var err error
			run.around(func() { err = p.Go(context.Background(), func() { step(d - 1) }) })
			if err != nil {
				wg.Done()
				t.Errorf("Pool.Go: %v", err)
			}
		}
	}
	mustFinish(t, "Pool.Go chain", func(context.Context) {
		wg.Add(1)
		require.NoError(t, p.Go(t.Context(), func() { step(8) }))
		wg.Wait()
	}, nil)
	assert.LessOrEqual(t, run.g.max.Load(), int64(1))
}

// Huge fan-out with backpressure: 100 000 tasks through WithLimit(4) and
// through a Pool(4) keep the heap bounded (live tasks are bounded by the
// queue). Measured after GC at intervals: the growth must stay under a
// budget far below what 100 000 live tasks would need.
func TestAttackHugeFanOutMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, name := range []string{"limit", "pool"} {
		t.Run(name, func(t *testing.T) {
			var opts []nursery.Option
			if name == "pool" {
				p := nursery.NewPool(4)
				defer p.Close()
				opts = append(opts, nursery.WithExecutor(p))
			} else {
				opts = append(opts, nursery.WithLimit(4))
			}
			heap := func() uint64 {
				runtime.GC()
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				return m.HeapAlloc
			}
			base := heap()
			var peak uint64
			var count atomic.Int64
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				for i := range 100_000 {
					n.Go(func(context.Context) error { count.Add(1); return nil })
					if i%20_000 == 19_999 {
						peak = max(peak, heap())
					}
				}
				return nil
			}, opts...)
			require.NoError(t, err)
			assert.EqualValues(t, 100_000, count.Load())
			growth := int64(peak) - int64(base)
			t.Logf("heap growth at peak: %d bytes", growth)
			assert.Less(t, growth, int64(2<<20), "100 000 tasks must not be held at once")
		})
	}
}

var _ = errors.New
