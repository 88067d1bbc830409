package supervisor_test

// Adversarial tests: each attacks one promise of the package's
// documentation (doc.go, the godoc of Serve, Add, Remove, Hook, Service)
// or one rule of Erlang/OTP's supervisor that the package claims. A test
// that fails here is a bug report: its comment names the rule.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// bubble is synctest.Test that turns the bubble's deadlock panic (a
// goroutine left blocked when the test returns: a leak, or a hang) into a
// test failure, so that one bug does not kill the whole test binary.
// Goroutines left blocked stay behind, and goleak reports them at the end.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("synctest bubble: %v (goroutines left blocked: a leak or a hang)", r)
		}
	}()
	synctest.Test(t, f)
}

// live counts the running incarnations of services, and the most that ran
// at once per name.
type live struct {
	mu   sync.Mutex
	now  map[string]int
	max  map[string]int
	runs map[string]int
}

func newLive() *live {
	return &live{now: map[string]int{}, max: map[string]int{}, runs: map[string]int{}}
}

func (l *live) enter(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now[name]++
	l.runs[name]++
	l.max[name] = max(l.max[name], l.now[name])
	return l.runs[name]
}

func (l *live) exit(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now[name]--
}

func (l *live) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.now {
		n += v
	}
	return n
}

func (l *live) get(m map[string]int, name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[name]
}

// wrap counts fn's incarnations in l.
func (l *live) wrap(name string, fn supervisor.Service) supervisor.Service {
	return func(ctx context.Context, ready func()) error {
		l.enter(name)
		defer l.exit(name)
		return fn(ctx, ready)
	}
}

// idle is a service that is ready at once and runs until cancelled.
func idle(ctx context.Context, ready func()) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}

func names(infos []supervisor.ChildInfo) []string {
	var out []string
	for _, ci := range infos {
		out = append(out, ci.Name)
	}
	return out
}

// ---------------------------------------------------------------------
// Strategies

// OTP rule (supervisor.erl, terminate_children/shutdown): when a group is
// restarted, the exits of its members during their termination are
// consumed by the termination; a stale 'EXIT' of a member already
// restarted is ignored (its pid is gone). So one failure makes one group
// restart. Here b fails on its own while the strategy stops c (c lingers 1 s
// after its cancellation): b's exit is noted as pending, the group is
// restarted, and the pending exit must not restart the group a second time
// (nor count against the intensity).
func TestAttackMemberExitDuringGroupStopRestartsOnce(t *testing.T) {
	for _, strategy := range []supervisor.Strategy{supervisor.OneForAll, supervisor.RestForOne} {
		t.Run(strategy.String(), func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				a := newFake()
				bFail := make(chan struct{})
				var bRuns atomic.Int32
				var once sync.Once
				b := func(ctx context.Context, ready func()) error {
					n := bRuns.Add(1)
					ready()
					if n == 1 {
						select {
						case <-bFail:
							return errBoom2
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					<-ctx.Done()
					return ctx.Err()
				}
				c := func(ctx context.Context, ready func()) error {
					ready()
					<-ctx.Done()
					once.Do(func() { close(bFail) })
					time.Sleep(time.Second)
					return nil
				}
				h, err := start(t, []supervisor.Option{strategy, supervisor.Intensity(10, time.Hour)},
					supervisor.Child("a", a.serve), supervisor.Child("b", b), supervisor.Child("c", c))
				require.NoError(t, err)
				h.rec.take()
				a.fail <- errBoom
				time.Sleep(time.Minute)
				lines := h.rec.take()
				for _, ci := range h.sup.Children() {
					assert.Equal(t, 1, ci.Restarts, "restarts of %s; events %q", ci.Name, lines)
					assert.Equal(t, supervisor.Running, ci.State, ci.Name)
				}
				assert.Equal(t, int32(2), bRuns.Load(), "b started twice in all")
				require.NoError(t, h.stop())
			})
		})
	}
}

// Control for the test above: under RestForOne, a child before the group
// that fails while the group is stopped did fail, and its own exit restarts
// it and those after it.
func TestAttackEarlierSiblingFailsDuringGroupStop(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a, b := newFake(), newFake()
		c := func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			time.Sleep(time.Second)
			return nil
		}
		h, err := start(t, []supervisor.Option{supervisor.RestForOne},
			supervisor.Child("a", a.serve), supervisor.Child("b", b.serve), supervisor.Child("c", c))
		require.NoError(t, err)
		b.fail <- errBoom
		go func() { a.fail <- errBoom2 }() // a fails while c stops
		time.Sleep(time.Minute)
		var got []int
		for _, ci := range h.sup.Children() {
			got = append(got, ci.Restarts)
			assert.Equal(t, supervisor.Running, ci.State, ci.Name)
		}
		// The RestForOne for b then the one for a; c is restarted twice.
		assert.Equal(t, 1, got[0])
		assert.GreaterOrEqual(t, got[1], 1)
		require.NoError(t, h.stop())
	})
}

// ---------------------------------------------------------------------
// The hook

// Package doc: "nothing it starts outlives the scope that owns it". A hook
// is user code; if it panics on the supervisor's goroutine, the panic
// must not leave the children running behind a dead supervisor: when the
// owning nursery's Wait returns, no child may still run.
//
// It runs in a child process: the leak it finds would otherwise stay in
// this one, and fail goleak and the live-tree tests of other files.
func TestAttackHookPanicDoesNotLeakChildren(t *testing.T) {
	if isolate(t) {
		return
	}
	bubble(t, func(t *testing.T) {
		l := newLive()
		release := make(chan struct{})
		b := func(ctx context.Context, ready func()) error {
			ready()
			select {
			case <-ctx.Done():
			case <-release:
			}
			return nil
		}
		var panicked atomic.Bool
		hook := func(e supervisor.Event) {
			if e.Kind == supervisor.EventExit && e.Child == "a" && panicked.CompareAndSwap(false, true) {
				panic("hook bug")
			}
		}
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Backoff(0, 0), supervisor.Hook(hook))
		a := newFake()
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", l.wrap("a", a.serve))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("b", l.wrap("b", b))))
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		require.NoError(t, supervisor.Start(n, sup))
		a.fail <- errBoom
		err := n.Wait()
		assert.Error(t, err, "the hook's panic is reported")
		synctest.Wait()
		assert.Zero(t, l.total(), "children still run after their supervisor's task ended")
		// Add on the dead supervisor must not hang.
		addDone := make(chan error, 1)
		go func() { addDone <- sup.Add(context.Background(), supervisor.Child("late", idle)) }()
		synctest.Wait()
		select {
		case err := <-addDone:
			t.Logf("Add after the hook's panic: %v", err)
		default:
			t.Errorf("Add after the hook's panic hangs")
		}
		close(release)
	})
}

// Hook: "must not block". A hook that is merely slow (here, an hour of
// fake time per restart) delays the supervisor, and nothing is lost:
// the child is restarted after it, and a cancellation during the hook is
// honoured once it returns.
func TestAttackSlowHook(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var slow atomic.Bool
		hook := func(e supervisor.Event) {
			if e.Kind == supervisor.EventRestart && slow.Load() {
				time.Sleep(time.Hour)
			}
		}
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Hook(hook)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		slow.Store(true)
		a.fail <- errBoom
		time.Sleep(30 * time.Minute)
		assert.Equal(t, supervisor.Restarting, h.sup.Children()[0].State)
		time.Sleep(time.Hour)
		assert.Equal(t, supervisor.Running, h.sup.Children()[0].State)
		a.fail <- errBoom
		time.Sleep(time.Minute)
		h.n.Cancel(nil) // during the hook
		require.NoError(t, h.n.Wait())
	})
}

// Hook: it may read the supervisor (Children) without deadlock.
func TestAttackHookCallsChildren(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var sup *supervisor.Supervisor
		var calls atomic.Int32
		hook := func(e supervisor.Event) {
			if sup != nil {
				_ = sup.Children()
				calls.Add(1)
			}
		}
		a := newFake()
		sup = supervisor.New("sup", supervisor.Logger(nil), supervisor.Hook(hook))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", a.serve)))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		a.fail <- errBoom
		synctest.Wait()
		n.Cancel(nil)
		require.NoError(t, n.Wait())
		assert.NotZero(t, calls.Load())
	})
}

// ---------------------------------------------------------------------
// Panics at every point

func TestAttackPanicEverywhere(t *testing.T) {
	panicky := func(when string) supervisor.Service {
		return func(ctx context.Context, ready func()) error {
			if when == "before-ready" {
				panic("before ready")
			}
			ready()
			if when == "after-ready" {
				panic("after ready")
			}
			<-ctx.Done()
			if when == "on-cancel" {
				panic("on cancel")
			}
			return nil
		}
	}
	t.Run("before ready, at start", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("p", panicky("before-ready")))
			defer func() { assert.NoError(t, h.n.Wait()) }()
			var se *supervisor.StartError
			require.ErrorAs(t, err, &se)
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "before ready", pe.Value)
		})
	})
	t.Run("before ready, on restart", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			var runs atomic.Int32
			p := func(ctx context.Context, ready func()) error {
				switch runs.Add(1) {
				case 1:
					ready()
					return errBoom
				case 2:
					panic("second run")
				}
				return idle(ctx, ready)
			}
			h, err := start(t, nil, supervisor.Child("p", p))
			require.NoError(t, err)
			synctest.Wait()
			info := h.sup.Children()[0]
			assert.Equal(t, 2, info.Restarts)
			assert.Equal(t, supervisor.Running, info.State)
			require.Len(t, info.Failures, 2)
			var pe *nursery.PanicError
			assert.ErrorAs(t, info.Failures[1], &pe)
			require.NoError(t, h.stop())
		})
	})
	t.Run("after ready", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			var runs atomic.Int32
			p := func(ctx context.Context, ready func()) error {
				if runs.Add(1) == 1 {
					return panicky("after-ready")(ctx, ready)
				}
				return idle(ctx, ready)
			}
			h, err := start(t, nil, supervisor.Child("p", p))
			require.NoError(t, err)
			synctest.Wait()
			assert.Equal(t, 1, h.sup.Children()[0].Restarts)
			require.NoError(t, h.stop())
		})
	})
	t.Run("during shutdown", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("p", panicky("on-cancel")))
			require.NoError(t, err)
			err = h.stop()
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "on cancel", pe.Value)
		})
	})
	t.Run("during the strategy's stop", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			a := newFake()
			var runs atomic.Int32
			p := func(ctx context.Context, ready func()) error {
				if runs.Add(1) == 1 {
					return panicky("on-cancel")(ctx, ready)
				}
				return idle(ctx, ready)
			}
			h, err := start(t, []supervisor.Option{supervisor.OneForAll}, supervisor.Child("a", a.serve), supervisor.Child("p", p))
			require.NoError(t, err)
			a.fail <- errBoom
			synctest.Wait()
			infos := h.sup.Children()
			assert.Equal(t, supervisor.Running, infos[1].State)
			assert.Equal(t, 1, infos[1].Restarts)
			require.Len(t, infos[1].Failures, 1)
			var pe *nursery.PanicError
			assert.ErrorAs(t, infos[1].Failures[0], &pe)
			require.NoError(t, h.stop())
		})
	})
	t.Run("during Remove", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("p", panicky("on-cancel")))
			require.NoError(t, err)
			_ = h.sup.Remove(t.Context(), "p")
			assert.Equal(t, []string{"a"}, names(h.sup.Children()))
			require.NoError(t, h.stop())
		})
	})
	t.Run("during Add", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			h, err := start(t, nil, supervisor.Child("a", idle))
			require.NoError(t, err)
			err = h.sup.Add(t.Context(), supervisor.Child("p", panicky("before-ready")))
			var se *supervisor.StartError
			require.ErrorAs(t, err, &se)
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, []string{"a"}, names(h.sup.Children()))
			require.NoError(t, h.stop())
		})
	})
}

// ---------------------------------------------------------------------
// runtime.Goexit at every point. Serve's doc: "A child that calls
// runtime.Goexit is a bug that stops the whole supervisor: its nursery is
// cancelled, and Serve returns the nursery's error." Whatever the point,
// Serve must return an error, without hanging or leaking.

func TestAttackGoexitEverywhere(t *testing.T) {
	goexit := func(when string, runs *atomic.Int32) supervisor.Service {
		return func(ctx context.Context, ready func()) error {
			n := runs.Add(1)
			if when == "restart" && n == 1 {
				ready()
				return errBoom
			}
			if when == "before-ready" || when == "restart" {
				runtime.Goexit()
			}
			ready()
			if when == "after-ready" {
				runtime.Goexit()
			}
			<-ctx.Done()
			if when == "on-cancel" {
				runtime.Goexit()
			}
			return nil
		}
	}
	for _, when := range []string{"before-ready", "after-ready", "on-cancel", "restart"} {
		t.Run(when, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				var runs atomic.Int32
				h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("g", goexit(when, &runs)), supervisor.Child("c", idle))
				if when == "before-ready" {
					require.Error(t, err)
					_ = h.n.Wait()
					return
				}
				if err != nil {
					_ = h.n.Wait()
					return // the supervisor stopped before it was ready
				}
				if when == "on-cancel" {
					h.n.Cancel(nil)
				}
				err = h.n.Wait()
				assert.Error(t, err)
				// Add and Remove after the end do not hang.
				assert.NoError(t, h.sup.Add(t.Context(), supervisor.Child("late", idle)))
			})
		})
	}
	t.Run("during Add", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			var runs atomic.Int32
			h, err := start(t, nil, supervisor.Child("a", idle))
			require.NoError(t, err)
			err = h.sup.Add(t.Context(), supervisor.Child("g", goexit("before-ready", &runs)))
			assert.Error(t, err)
			assert.Error(t, h.n.Wait())
		})
	})
	t.Run("during Remove", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			var runs atomic.Int32
			h, err := start(t, nil, supervisor.Child("a", idle), supervisor.Child("g", goexit("on-cancel", &runs)))
			require.NoError(t, err)
			_ = h.sup.Remove(t.Context(), "g")
			assert.Error(t, h.n.Wait())
		})
	})
	t.Run("during the strategy's stop", func(t *testing.T) {
		bubble(t, func(t *testing.T) {
			var runs atomic.Int32
			a := newFake()
			h, err := start(t, []supervisor.Option{supervisor.OneForAll}, supervisor.Child("a", a.serve), supervisor.Child("g", goexit("on-cancel", &runs)))
			require.NoError(t, err)
			a.fail <- errBoom
			assert.Error(t, h.n.Wait())
		})
	})
}

// ---------------------------------------------------------------------
// Readiness

// Service: a child that never calls ready holds up its successors; the
// supervisor's cancellation still stops it, and Start returns.
func TestAttackNeverReadyAtStart(t *testing.T) {
	bubble(t, func(t *testing.T) {
		never := func(ctx context.Context, ready func()) error { <-ctx.Done(); return ctx.Err() }
		l := newLive()
		sup := supervisor.New("sup", supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", l.wrap("a", idle))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("never", l.wrap("never", never))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("c", l.wrap("c", idle))))
		n := nursery.New(t.Context())
		startErr := make(chan error, 1)
		go func() { startErr <- supervisor.Start(n, sup) }()
		time.Sleep(time.Hour)
		infos := sup.Children()
		assert.Equal(t, []supervisor.State{supervisor.Running, supervisor.Starting, supervisor.Stopped},
			[]supervisor.State{infos[0].State, infos[1].State, infos[2].State})
		assert.Zero(t, l.get(l.runs, "c"))
		n.Cancel(nil)
		assert.Error(t, <-startErr)
		_ = n.Wait()
		assert.Zero(t, l.total())
	})
}

// Add: "once the supervisor has begun to start it, Add waits for the
// outcome"; Add and Remove queued behind it give up with their contexts;
// the supervisor's stop ends the wait with ErrStopped.
func TestAttackNeverReadyDuringAdd(t *testing.T) {
	bubble(t, func(t *testing.T) {
		never := func(ctx context.Context, ready func()) error { <-ctx.Done(); return ctx.Err() }
		h, err := start(t, nil, supervisor.Child("a", idle))
		require.NoError(t, err)
		added := make(chan error, 1)
		go func() { added <- h.sup.Add(context.Background(), supervisor.Child("never", never)) }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		assert.ErrorIs(t, h.sup.Add(ctx, supervisor.Child("b", idle)), context.DeadlineExceeded)
		ctx2, cancel2 := context.WithTimeout(t.Context(), time.Minute)
		defer cancel2()
		assert.ErrorIs(t, h.sup.Remove(ctx2, "a"), context.DeadlineExceeded)
		assert.ErrorIs(t, h.sup.Remove(ctx2, "nope"), context.DeadlineExceeded)
		assert.Equal(t, []string{"a", "never"}, names(h.sup.Children()))
		h.n.Cancel(nil)
		assert.ErrorIs(t, <-added, supervisor.ErrStopped)
		_ = h.n.Wait()
	})
}

// Add: on ErrStopped "the supervisor stops before it could do what they
// asked" — the child was not added, as with every other error of Add (and
// as Erlang's start_child, which adds nothing when it fails). A child
// whose Add failed must not be started by the next Serve, and adding it
// again must not fail as a duplicate.
func TestAttackAddStoppedMeanwhileIsNotAdded(t *testing.T) {
	bubble(t, func(t *testing.T) {
		slow := newFake()
		slow.readyAfter = time.Hour
		h, err := start(t, nil, supervisor.Child("a", idle))
		require.NoError(t, err)
		added := make(chan error, 1)
		go func() { added <- h.sup.Add(context.Background(), supervisor.Child("slow", slow.serve)) }()
		time.Sleep(time.Minute)
		h.n.Cancel(nil)
		require.ErrorIs(t, <-added, supervisor.ErrStopped)
		_ = h.n.Wait()
		assert.Equal(t, []string{"a"}, names(h.sup.Children()), "a child whose Add failed is listed")
		assert.NoError(t, h.sup.Add(t.Context(), supervisor.Child("slow", slow.serve)), "adding it again fails")
	})
}

// Service: "Call ready at most once (later calls do nothing)". Extra
// calls — twice in a row, from another goroutine after the child returned,
// after the supervisor has stopped — do nothing: one EventReady per
// incarnation, no panic, no hang.
func TestAttackReadyTwiceAndLate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		readies := make(chan func(), 10)
		var runs atomic.Int32
		svc := func(ctx context.Context, ready func()) error {
			ready()
			ready()
			readies <- ready
			if runs.Add(1) == 1 {
				return errBoom
			}
			<-ctx.Done()
			ready()
			return ctx.Err()
		}
		h, err := start(t, nil, supervisor.Child("a", svc))
		require.NoError(t, err)
		synctest.Wait()
		(<-readies)() // the first incarnation's, after it returned
		synctest.Wait()
		assert.Equal(t, 2, countKind(h.rec, supervisor.EventReady))
		assert.Equal(t, supervisor.Running, h.sup.Children()[0].State)
		require.NoError(t, h.stop())
		(<-readies)() // after Serve returned
		synctest.Wait()
		assert.Equal(t, 2, countKind(h.rec, supervisor.EventReady))
	})
}

// A child that calls ready from another goroutine while it returns: the
// two race; whatever wins, the supervisor sees one incarnation that ended.
func TestAttackReadyRacesReturn(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h, err := start(t, []supervisor.Option{supervisor.Intensity(-1, time.Second)}, supervisor.Child("a", idle))
		require.NoError(t, err)
		var runs atomic.Int32
		racer := func(ctx context.Context, ready func()) error {
			if runs.Add(1) > 200 {
				return idle(ctx, ready)
			}
			go ready()
			return errBoom
		}
		_ = h.sup.Add(t.Context(), supervisor.Child("r", racer, supervisor.Transient))
		synctest.Wait()
		require.NoError(t, h.stop())
	})
}

// ---------------------------------------------------------------------
// Children that ignore their cancellation

// Serve: a give-up stops the children with their grace; a child stuck
// then is reported too, and still waited for.
func TestAttackStuckDuringGiveUp(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		release := make(chan struct{})
		stubborn := func(ctx context.Context, ready func()) error {
			ready()
			<-release
			return nil
		}
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(0, time.Second)},
			supervisor.Child("s", l.wrap("s", stubborn), supervisor.Grace(time.Second)),
			supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- errBoom
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, supervisor.Stuck, h.sup.Children()[0].State)
		assert.Equal(t, 1, l.total(), "waited for")
		close(release)
		err = h.n.Wait()
		var gu *supervisor.GiveUpError
		var st *supervisor.StopTimeoutError
		assert.ErrorAs(t, err, &gu)
		assert.ErrorAs(t, err, &st)
		assert.Zero(t, l.total())
	})
}

// Serve: "Serve panics ... if it is already running". A Serve that has
// stopped its children but still waits for a stuck one is running: a
// second Serve then would start a second copy of the stuck child.
func TestAttackServeWhileStillWaitingForStuckChild(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		release := make(chan struct{})
		stubborn := func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			<-release
			return nil
		}
		sup := supervisor.New("sup", supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("s", l.wrap("s", stubborn), supervisor.Grace(time.Second))))
		ctx1, cancel1 := context.WithCancel(t.Context())
		done1 := make(chan error, 1)
		go func() { done1 <- sup.Serve(ctx1, nil) }()
		synctest.Wait()
		cancel1()
		time.Sleep(time.Minute)
		select {
		case <-done1:
			t.Fatal("Serve returned before its stuck child")
		default:
		}
		ctx2, cancel2 := context.WithCancel(t.Context())
		second := make(chan any, 1)
		go func() {
			defer func() { second <- recover() }()
			_ = sup.Serve(ctx2, nil)
		}()
		synctest.Wait()
		assert.LessOrEqual(t, l.get(l.max, "s"), 1, "two copies of the child ran at once")
		cancel2()
		close(release)
		assert.NotNil(t, <-second, "a second Serve while the first still runs did not panic")
		<-done1
	})
}

// ---------------------------------------------------------------------
// Failing forever

// Intensity with its defaults: a child that fails at once, forever, makes
// the supervisor give up after 5 restarts, however long the backoff.
func TestAttackFailInstantlyForeverDefaults(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var runs atomic.Int32
		sup := supervisor.New("sup", supervisor.Logger(nil))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("f", func(ctx context.Context, ready func()) error {
			ready()
			runs.Add(1)
			return errBoom
		})))
		n := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, n.Wait(), &gu)
		assert.Equal(t, int32(supervisor.DefaultIntensity+1), runs.Load())
		assert.Len(t, gu.Failures, supervisor.MaxFailures)
	})
}

// A child that fails before ready on every restart (but not at the first
// start) is restarted within the intensity, then the supervisor gives up.
func TestAttackFailBeforeReadyForever(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var runs atomic.Int32
		f := func(ctx context.Context, ready func()) error {
			if runs.Add(1) == 1 {
				ready()
			}
			return errBoom
		}
		h, err := start(t, []supervisor.Option{supervisor.Intensity(3, time.Hour), supervisor.RestForOne},
			supervisor.Child("f", f), supervisor.Child("c", idle))
		require.NoError(t, err)
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
		assert.Equal(t, int32(4), runs.Load())
	})
}

// With no intensity and no backoff, a child failing in a hot loop still
// lets the supervisor be cancelled.
func TestAttackHotLoopIsCancellable(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var runs atomic.Int32
		var n *nursery.Nursery
		f := func(ctx context.Context, ready func()) error {
			ready()
			if runs.Add(1) == 5000 {
				n.Cancel(nil)
			}
			return errBoom
		}
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Intensity(-1, time.Second), supervisor.Backoff(0, 0))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("f", f)))
		n = nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		// The nursery's own cancellation, with f's last failure, which
		// raced it.
		if err := n.Wait(); err != nil {
			assert.ErrorIs(t, err, errBoom)
		}
		assert.GreaterOrEqual(t, runs.Load(), int32(5000))
	})
}

// Remove: "Remove stops the child named name". A child failing in a hot
// loop (no intensity, no backoff, as configured) is exactly the one to
// remove; Remove must be served between two of its restarts, not starved
// because the loop always has an exit pending. The child itself abandons
// Remove after 20 000 more runs (fake time does not pass while the
// supervisor spins), and cancels everything after 40 000.
func TestAttackRemoveHotLoopingChild(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var runs atomic.Int32
		var n *nursery.Nursery
		removeCtx, abandon := context.WithCancel(t.Context())
		defer abandon()
		var base atomic.Int32
		f := func(ctx context.Context, ready func()) error {
			r := runs.Add(1)
			if b := base.Load(); b > 0 && r == b+20000 {
				abandon()
			}
			if b := base.Load(); b > 0 && r == b+40000 {
				n.Cancel(nil)
			}
			return nil // a permanent one-shot: restarted at once, forever
		}
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Intensity(-1, time.Second), supervisor.Backoff(0, 0))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", idle)))
		n = nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n, sup))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("hot", f)))
		base.Store(max(runs.Load(), 1))
		err := sup.Remove(removeCtx, "hot")
		assert.NoError(t, err, "Remove of a hot-looping child was starved (%d runs)", runs.Load()-base.Load())
		n.Cancel(nil)
		_ = n.Wait()
	})
}

// Backoff: the k-th restart waits at most max, capped. A huge max (an
// "uncapped" backoff, math.MaxInt64) must delay the restart, not overflow
// into an immediate one.
func TestAttackBackoffHugeMaxDoesNotOverflow(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{
			supervisor.Backoff(math.MaxInt64, math.MaxInt64), supervisor.WithRand(func() float64 { return 1 }),
		}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- errBoom // first restart: immediate
		a.fail <- errBoom // second: waits up to MaxInt64
		time.Sleep(24 * time.Hour)
		info := h.sup.Children()[0]
		assert.Equal(t, supervisor.Restarting, info.State, "restarted at once: the restart time overflowed")
		require.NoError(t, h.stop())
	})
}

// ---------------------------------------------------------------------
// Add and Remove

// Add and Remove from many goroutines, while children fail and exit,
// then racing the supervisor's stop: every call returns, with one of its
// documented results, and the children stay unique.
func TestAttackAddRemoveRace(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h, err := start(t, []supervisor.Option{supervisor.Intensity(-1, time.Second), supervisor.Backoff(time.Millisecond, time.Second)},
			supervisor.Child("base", idle))
		require.NoError(t, err)
		const workers, ops, nNames = 8, 150, 12
		var stopped atomic.Bool
		var wg sync.WaitGroup
		var bad atomic.Int32
		check := func(op string, err error) {
			var se *supervisor.StartError
			var st *supervisor.StopTimeoutError
			switch {
			case err == nil, errors.As(err, &se), errors.As(err, &st):
			case errors.Is(err, supervisor.ErrStopped):
			case err != nil && (strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "no child")):
			default:
				bad.Add(1)
				t.Errorf("%s: unexpected %v", op, err)
			}
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for i := range ops {
					name := fmt.Sprint("c", r.IntN(nNames))
					if i == ops/2 && w == 0 {
						h.n.Cancel(nil)
						stopped.Store(true)
					}
					if r.IntN(2) == 0 {
						var fn supervisor.Service
						switch r.IntN(4) {
						case 0:
							fn = idle
						case 1:
							fn = func(context.Context, func()) error { return errBoom } // fails to start
						case 2:
							fn = func(ctx context.Context, ready func()) error { ready(); time.Sleep(time.Millisecond); return errBoom }
						case 3:
							fn = func(ctx context.Context, ready func()) error { return nil } // one-shot
						}
						restart := supervisor.Restart(r.IntN(3))
						check("Add "+name, h.sup.Add(context.Background(), supervisor.Child(name, fn, restart, supervisor.Grace(time.Second))))
					} else {
						check("Remove "+name, h.sup.Remove(context.Background(), name))
					}
					if r.IntN(8) == 0 {
						_ = h.sup.Children()
					}
				}
			}()
		}
		wg.Wait()
		_ = h.n.Wait()
		ns := names(h.sup.Children())
		uniq := slices.Compact(slices.Sorted(slices.Values(ns)))
		assert.Equal(t, len(uniq), len(ns), "duplicate children: %v", ns)
		assert.True(t, stopped.Load())
		assert.Zero(t, bad.Load())
	})
}

// Add and Remove racing a give-up: they return (nil or ErrStopped or their
// own errors), never hang.
func TestAttackAddRemoveRaceGiveUp(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(2, time.Hour)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					name := fmt.Sprint("w", w, "-", i)
					if err := h.sup.Add(context.Background(), supervisor.Child(name, idle)); err != nil {
						assert.ErrorIs(t, err, supervisor.ErrStopped)
						continue
					}
					if err := h.sup.Remove(context.Background(), name); err != nil && !errors.Is(err, supervisor.ErrStopped) {
						// stopped between: the child may have been removed by
						// nobody, and Remove after Serve edits the list.
						t.Errorf("Remove %s: %v", name, err)
					}
				}
			}()
		}
		for range 3 {
			select {
			case a.fail <- errBoom:
			case <-h.n.Context().Done():
			}
		}
		wg.Wait()
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
	})
}

// Remove of unknown names: an error naming the child, whether the
// supervisor is idle, busy restarting, stopped or never served; never
// ErrStopped, never a hang.
func TestAttackRemoveUnknown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		sup := supervisor.New("sup", supervisor.Logger(nil))
		assert.ErrorContains(t, sup.Remove(t.Context(), "x"), `no child "x"`)
		assert.ErrorContains(t, sup.Remove(t.Context(), ""), `no child ""`)
		h, err := start(t, []supervisor.Option{supervisor.Backoff(time.Minute, time.Minute)}, supervisor.Child("a", newFake().serve))
		require.NoError(t, err)
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "x"), `no child "x"`)
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "A"), `no child "A"`)
		require.NoError(t, h.stop())
		assert.ErrorContains(t, h.sup.Remove(t.Context(), "x"), `no child "x"`)
	})
}

// Remove of a child waiting out its backoff: it is removed and never
// started again; its group's other members still restart.
func TestAttackRemoveDuringBackoff(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		a, b := newFake(), newFake()
		h, err := start(t, []supervisor.Option{supervisor.OneForAll, supervisor.Backoff(time.Minute, time.Minute)},
			supervisor.Child("a", l.wrap("a", a.serve)), supervisor.Child("b", l.wrap("b", b.serve)))
		require.NoError(t, err)
		a.fail <- errBoom // immediate
		a.fail <- errBoom // a minute
		synctest.Wait()
		assert.Equal(t, supervisor.Restarting, h.sup.Children()[0].State)
		require.NoError(t, h.sup.Remove(t.Context(), "a"))
		runsA := l.get(l.runs, "a")
		time.Sleep(time.Hour)
		assert.Equal(t, runsA, l.get(l.runs, "a"), "a removed child was started again")
		infos := h.sup.Children()
		require.Equal(t, []string{"b"}, names(infos))
		assert.Equal(t, supervisor.Running, infos[0].State)
		require.NoError(t, h.stop())
	})
}

// Remove racing the child's own failure: once Remove has returned nil, no
// incarnation of the child starts again.
func TestAttackRemoveRacesFailure(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h, err := start(t, []supervisor.Option{supervisor.Intensity(-1, time.Second)})
		require.NoError(t, err)
		for i := range 50 {
			l := newLive()
			trig := make(chan struct{})
			var runs atomic.Int32
			f := func(ctx context.Context, ready func()) error {
				ready()
				if runs.Add(1) == 1 {
					select {
					case <-trig:
						return errBoom
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				<-ctx.Done()
				return ctx.Err()
			}
			name := fmt.Sprint("c", i)
			require.NoError(t, h.sup.Add(t.Context(), supervisor.Child(name, l.wrap(name, f))))
			close(trig)
			if i%2 == 0 {
				synctest.Wait()
			}
			require.NoError(t, h.sup.Remove(t.Context(), name))
			before := l.get(l.runs, name)
			time.Sleep(time.Minute)
			assert.Equal(t, before, l.get(l.runs, name), name)
			assert.Zero(t, l.total(), name)
		}
		require.NoError(t, h.stop())
	})
}

// Add and Remove with a context that is already done: whatever they
// return, it tells the truth — nil means done, an error means not done.
func TestAttackCancelledContextAddRemoveTellTheTruth(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h, err := start(t, nil, supervisor.Child("a", idle))
		require.NoError(t, err)
		done, cancel := context.WithCancel(t.Context())
		cancel()
		for i := range 200 {
			name := fmt.Sprint("c", i)
			err := h.sup.Add(done, supervisor.Child(name, idle))
			synctest.Wait()
			in := slices.Contains(names(h.sup.Children()), name)
			if err == nil {
				assert.True(t, in, "Add returned nil, %s not added", name)
			} else {
				assert.ErrorIs(t, err, context.Canceled)
				assert.False(t, in, "Add returned %v, %s added anyway", err, name)
			}
			if !in {
				continue
			}
			err = h.sup.Remove(done, name)
			synctest.Wait()
			in = slices.Contains(names(h.sup.Children()), name)
			if err == nil {
				assert.False(t, in, "Remove returned nil, %s still there", name)
			} else {
				assert.True(t, in, "Remove returned %v, %s removed anyway", err, name)
			}
		}
		require.NoError(t, h.stop())
	})
}

// ---------------------------------------------------------------------
// Nesting

// Nested supervisors: an inner one that gives up again and again makes its
// parent give up in turn; the first failure is reachable through both
// GiveUpErrors with errors.Is and errors.As, and nothing is left running.
func TestAttackNestedGiveUpCascade(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		x := newFake()
		inner := supervisor.New("inner", supervisor.Logger(nil), supervisor.Intensity(0, time.Second))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", l.wrap("x", x.serve))))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("y", l.wrap("y", idle))))
		h, err := start(t, []supervisor.Option{supervisor.Intensity(2, time.Hour)},
			supervisor.Child("inner", inner.Serve, supervisor.Grace(time.Minute)),
			supervisor.Child("z", l.wrap("z", idle)))
		require.NoError(t, err)
		for range 3 {
			x.fail <- errBoom
		}
		err = h.n.Wait()
		var outer *supervisor.GiveUpError
		require.ErrorAs(t, err, &outer)
		assert.Equal(t, "sup", outer.Supervisor)
		assert.Equal(t, "inner", outer.Child)
		require.NotEmpty(t, outer.Failures)
		var in *supervisor.GiveUpError
		require.ErrorAs(t, outer.Failures[len(outer.Failures)-1], &in)
		assert.Equal(t, "x", in.Child)
		assert.ErrorIs(t, err, errBoom)
		assert.Zero(t, l.total())
		assert.Equal(t, 2, h.sup.Children()[0].Restarts)
	})
}

// A nested supervisor whose child outlasts the parent's grace for the
// nested one: the parent reports the nested supervisor stuck, and still
// waits for all.
func TestAttackNestedGraceTooShort(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		slowStop := func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			time.Sleep(10 * time.Second)
			return nil
		}
		inner := supervisor.New("inner", supervisor.Logger(nil))
		require.NoError(t, inner.Add(t.Context(), supervisor.Child("x", l.wrap("x", slowStop), supervisor.Grace(time.Minute))))
		h, err := start(t, nil, supervisor.Child("inner", inner.Serve, supervisor.Grace(time.Second)))
		require.NoError(t, err)
		err = h.stop()
		var st *supervisor.StopTimeoutError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, "inner", st.Child)
		assert.Zero(t, l.total())
	})
}

// ---------------------------------------------------------------------
// Scale and memory

// 10 000 children: they start in order, Children lists them, a OneForAll
// restart restarts every one once, and they all stop.
func TestAttackTenThousandChildren(t *testing.T) {
	bubble(t, func(t *testing.T) {
		const n = 10000
		var running atomic.Int32
		svc := func(ctx context.Context, ready func()) error {
			running.Add(1)
			defer running.Add(-1)
			ready()
			<-ctx.Done()
			return nil
		}
		a := newFake()
		sup := supervisor.New("big", supervisor.Logger(nil), supervisor.OneForAll, supervisor.Backoff(0, 0))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", a.serve)))
		for i := range n - 1 {
			require.NoError(t, sup.Add(t.Context(), supervisor.Child(fmt.Sprint("c", i), svc)))
		}
		nu := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(nu, sup))
		infos := sup.Children()
		require.Len(t, infos, n)
		assert.Equal(t, int32(n-1), running.Load())
		a.fail <- errBoom
		synctest.Wait()
		for _, ci := range sup.Children() {
			if ci.Restarts != 1 || ci.State != supervisor.Running {
				t.Fatalf("%s: restarts %d, state %v", ci.Name, ci.Restarts, ci.State)
			}
		}
		nu.Cancel(nil)
		require.NoError(t, nu.Wait())
		assert.Zero(t, running.Load())
	})
}

// "A supervisor keeps at most MaxFailures failures per child and its
// intensity's restart times, so its memory stays flat however many
// failures happen" — and its goroutines too.
func TestAttackMemoryFlatOverManyFailures(t *testing.T) {
	bubble(t, func(t *testing.T) {
		f := newFake()
		big := func(i int) error { return fmt.Errorf("failure %d: %s", i, make([]byte, 256)) }
		// No recorder: it would keep every event.
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Backoff(0, 0), supervisor.Intensity(1000, time.Hour))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("f", f.serve)))
		nu := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(nu, sup))
		heap := func() uint64 {
			synctest.Wait()
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		fail := func(from, to int) {
			for i := from; i < to; i++ {
				f.fail <- big(i)
				if i%500 == 499 {
					time.Sleep(2 * time.Hour) // forget the restarts: no give-up
				}
			}
		}
		fail(0, 2000)
		h0, g0 := heap(), runtime.NumGoroutine()
		fail(2000, 30000)
		h1, g1 := heap(), runtime.NumGoroutine()
		t.Logf("heap %d -> %d bytes, goroutines %d -> %d", h0, h1, g0, g1)
		assert.Less(t, int64(h1)-int64(h0), int64(512<<10), "heap grew")
		assert.Equal(t, g0, g1)
		assert.Len(t, sup.Children()[0].Failures, supervisor.MaxFailures)
		nu.Cancel(nil)
		require.NoError(t, nu.Wait())
	})
}

// Many Add/Remove cycles leave no goroutine and no memory behind.
func TestAttackAddRemoveCyclesFlat(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h, err := start(t, nil, supervisor.Child("a", idle))
		require.NoError(t, err)
		cycle := func(k int) {
			for i := range k {
				name := fmt.Sprint("c", i)
				require.NoError(t, h.sup.Add(t.Context(), supervisor.Child(name, idle, supervisor.Temporary)))
				require.NoError(t, h.sup.Remove(t.Context(), name))
			}
		}
		cycle(500)
		synctest.Wait()
		// Count the supervisor's runners only: other tests' goroutines
		// outside the bubble come and go.
		g0 := countStacks("supervisor.(*run).runner")
		cycle(5000)
		synctest.Wait()
		assert.Equal(t, g0, countStacks("supervisor.(*run).runner"))
		assert.Equal(t, []string{"a"}, names(h.sup.Children()))
		require.NoError(t, h.stop())
	})
}

// ---------------------------------------------------------------------
// Cancellation at every point

// The supervisor's context is cancelled at the k-th event of a scenario
// (start, failure, group restart, one-shot, Add), for every k: Serve always
// returns, every child is stopped, none is left running, and the states
// are Stopped.
func TestAttackCancelAtEveryEvent(t *testing.T) {
	scenario := func(t *testing.T, cancelAt int) (events int) {
		l := newLive()
		var n *nursery.Nursery
		var count atomic.Int32
		hook := func(e supervisor.Event) {
			if int(count.Add(1)) == cancelAt {
				n.Cancel(nil)
			}
		}
		var aRuns atomic.Int32
		a := func(ctx context.Context, ready func()) error {
			ready()
			if aRuns.Add(1) == 1 {
				return errBoom
			}
			<-ctx.Done()
			return nil
		}
		slow := func(ctx context.Context, ready func()) error {
			time.Sleep(time.Second)
			ready()
			<-ctx.Done()
			time.Sleep(time.Second)
			return nil
		}
		sup := supervisor.New("sup", supervisor.Logger(nil), supervisor.Hook(hook), supervisor.RestForOne)
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("once", l.wrap("once", func(context.Context, func()) error { return nil }), supervisor.Transient)))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("a", l.wrap("a", a))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("slow", l.wrap("slow", slow))))
		require.NoError(t, sup.Add(t.Context(), supervisor.Child("tmp", l.wrap("tmp", idle), supervisor.Temporary)))
		n = nursery.New(t.Context())
		startErr := supervisor.Start(n, sup)
		if startErr == nil {
			err := sup.Add(t.Context(), supervisor.Child("added", l.wrap("added", slow)))
			if err != nil {
				assert.ErrorIs(t, err, supervisor.ErrStopped)
			}
			time.Sleep(time.Minute)
		}
		n.Cancel(nil) // if the hook has not yet
		_ = n.Wait()
		synctest.Wait()
		assert.Zero(t, l.total(), "cancel at event %d: children still running", cancelAt)
		for _, ci := range sup.Children() {
			assert.Equal(t, supervisor.Stopped, ci.State, "cancel at event %d: %s", cancelAt, ci.Name)
		}
		return int(count.Load())
	}
	var total int
	bubble(t, func(t *testing.T) { total = scenario(t, 0) })
	require.Greater(t, total, 10)
	for k := 1; k <= total; k++ {
		t.Run(fmt.Sprint("event", k), func(t *testing.T) {
			bubble(t, func(t *testing.T) { scenario(t, k) })
		})
	}
}

// Serve with a context already done returns its cause, having started and
// stopped at most what it began, and never calls ready.
func TestAttackServeWithDoneContext(t *testing.T) {
	bubble(t, func(t *testing.T) {
		l := newLive()
		sup := supervisor.New("sup", supervisor.Logger(nil))
		for i := range 5 {
			name := fmt.Sprint("c", i)
			require.NoError(t, sup.Add(t.Context(), supervisor.Child(name, l.wrap(name, idle))))
		}
		ctx, cancel := context.WithCancelCause(t.Context())
		cause := errors.New("done before")
		cancel(cause)
		readyCalled := false
		err := sup.Serve(ctx, func() { readyCalled = true })
		assert.ErrorIs(t, err, cause)
		assert.Zero(t, l.total())
		t.Logf("ready called: %v", readyCalled)
	})
}

// ---------------------------------------------------------------------
// Snapshots

// Children returns a snapshot: changing it changes nothing, and reading it
// while everything changes is free of races.
func TestAttackChildrenSnapshot(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(-1, time.Second)}, supervisor.Child("a", a.serve))
		require.NoError(t, err)
		a.fail <- errBoom
		synctest.Wait()
		s1 := h.sup.Children()
		s1[0].Failures[0] = errBoom2
		s1[0].Name = "zzz"
		s2 := h.sup.Children()
		assert.Equal(t, "a", s2[0].Name)
		assert.Equal(t, errBoom, s2[0].Failures[0])
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					_ = h.sup.Children()
					runtime.Gosched()
				}
			}
		}()
		for range 100 {
			a.fail <- errBoom
		}
		close(stop)
		wg.Wait()
		require.NoError(t, h.stop())
	})
}

// A supervisor served again after it gave up starts its children again,
// with a fresh intensity window, and keeps their counts.
func TestAttackServeAgainAfterGiveUp(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Intensity(1, time.Hour)}, supervisor.Child("a", a.serve), supervisor.Child("b", idle))
		require.NoError(t, err)
		a.fail <- errBoom
		a.fail <- errBoom
		var gu *supervisor.GiveUpError
		require.ErrorAs(t, h.n.Wait(), &gu)
		n2 := nursery.New(t.Context())
		require.NoError(t, supervisor.Start(n2, h.sup))
		a.fail <- errBoom // allowed: a fresh window
		synctest.Wait()
		infos := h.sup.Children()
		assert.Equal(t, supervisor.Running, infos[0].State)
		assert.Equal(t, 2, infos[0].Restarts)
		n2.Cancel(nil)
		require.NoError(t, n2.Wait())
	})
}

// countStacks counts the goroutines whose stack mentions fn.
func countStacks(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// isolate runs the calling test alone in a child process, with goleak, and
// reports its output if it fails; it returns true in the parent. In the
// child, it returns false and the test runs.
func isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv("SUPADV_ISOLATED") == t.Name() {
		return false
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SUPADV_ISOLATED="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("in a child process: %v\n%s", err, out)
	}
	return true
}

// ---------------------------------------------------------------------
// Order and backoff

// Package doc: "Children start in the order they were added, each once
// the one before called ready", and RestForOne exists for children that
// depend on the ones before them. A child added while an earlier one waits
// out its backoff (Restarting) must not start before that one is ready
// again: "http" added while "db" is down would run without its database.
func TestAttackAddDuringBackoffKeepsStartOrder(t *testing.T) {
	bubble(t, func(t *testing.T) {
		db := newFake()
		h, err := start(t, []supervisor.Option{supervisor.RestForOne, supervisor.Backoff(time.Minute, time.Minute)},
			supervisor.Child("db", db.serve))
		require.NoError(t, err)
		db.fail <- errBoom // restarted at once
		db.fail <- errBoom // restarted in a minute
		synctest.Wait()
		require.Equal(t, supervisor.Restarting, h.sup.Children()[0].State)
		h.rec.take()
		var dbState supervisor.State
		http := func(ctx context.Context, ready func()) error {
			dbState = h.sup.Children()[0].State
			return idle(ctx, ready)
		}
		added := make(chan error, 1)
		go func() { added <- h.sup.Add(context.Background(), supervisor.Child("http", http)) }()
		time.Sleep(2 * time.Minute)
		require.NoError(t, <-added)
		assert.Equal(t, supervisor.Running, dbState, "http started while db was %v", dbState)
		assert.Equal(t, []string{"start db", "ready db", "start http", "ready http"}, h.rec.take())
		require.NoError(t, h.stop())
	})
}

// A cancellation during a backoff stops the supervisor at once: it does
// not wait for the restart time.
func TestAttackCancelDuringBackoffIsPrompt(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.Backoff(time.Hour, time.Hour)},
			supervisor.Child("a", a.serve), supervisor.Child("b", idle))
		require.NoError(t, err)
		a.fail <- errBoom
		a.fail <- errBoom
		time.Sleep(time.Minute)
		t0 := time.Now()
		require.NoError(t, h.stop())
		assert.Less(t, time.Since(t0), time.Minute, "fake time")
		for _, ci := range h.sup.Children() {
			assert.Equal(t, supervisor.Stopped, ci.State, ci.Name)
		}
	})
}

// Intensity counts restarts, not children: a OneForAll restart of three
// children is one restart (Erlang's rule), so Intensity(1, ...) allows it.
func TestAttackGroupRestartCountsOnce(t *testing.T) {
	bubble(t, func(t *testing.T) {
		a := newFake()
		h, err := start(t, []supervisor.Option{supervisor.OneForAll, supervisor.Intensity(1, time.Hour)},
			supervisor.Child("a", a.serve), supervisor.Child("b", idle), supervisor.Child("c", idle))
		require.NoError(t, err)
		a.fail <- errBoom
		synctest.Wait()
		assert.Zero(t, countKind(h.rec, supervisor.EventGiveUp))
		require.NoError(t, h.stop())
	})
}

// panic(nil) is a panic too (a *runtime.PanicNilError since Go 1.21): a
// failure, not a normal exit of a Transient child.
func TestAttackPanicNil(t *testing.T) {
	bubble(t, func(t *testing.T) {
		var runs atomic.Int32
		p := func(ctx context.Context, ready func()) error {
			ready()
			if runs.Add(1) == 1 {
				panic(nil)
			}
			return idle(ctx, ready)
		}
		h, err := start(t, nil, supervisor.Child("p", p, supervisor.Transient))
		require.NoError(t, err)
		synctest.Wait()
		info := h.sup.Children()[0]
		assert.Equal(t, 1, info.Restarts)
		require.Len(t, info.Failures, 1)
		var pe *nursery.PanicError
		assert.ErrorAs(t, info.Failures[0], &pe)
		require.NoError(t, h.stop())
	})
}
