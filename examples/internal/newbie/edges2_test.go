package newbie

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// WithLimit doc: "a service may spawn into a full nursery and wait for
// what it spawned before it calls ready".
func TestStartSpawnsIntoFullNursery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			// fill the one slot with a task that takes a second
			n.Go(func(ctx context.Context) error { time.Sleep(time.Second); return nil })
			synctest.Wait()
			v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
				warm := nursery.Spawn(n, func(ctx context.Context) (int, error) { return 42, nil })
				v, err := warm.Wait()
				if err != nil {
					return err
				}
				ready(v)
				<-ctx.Done()
				return nil
			})
			if err != nil || v != 42 {
				t.Errorf("Start = %v, %v", v, err)
			}
			n.Cancel(nil)
			return nil
		}, nursery.WithLimit(1))
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// Task.Cancel on a task that has not started yet (queued behind a full
// limit): "it never starts and Wait returns cause", and "a task cancelled
// this way that returns the cancellation is not a failure of the nursery".
func TestCancelQueuedTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errNotNeeded := errors.New("not needed")
		var ran atomic.Bool
		var taskErr error
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			start := time.Now()
			n.Go(func(ctx context.Context) error { time.Sleep(time.Second); return nil })
			synctest.Wait() // the first task holds the one slot
			queued := nursery.Spawn(n, func(ctx context.Context) (int, error) { ran.Store(true); return 1, nil })
			// FINDING (kept failing): the queue of k=1 has room, so Spawn
			// should return at once with the task queued; it blocks until the
			// slot frees (1s), and then the task is no longer "not started",
			// so Cancel races its start (the checks below are flaky).
			if d := time.Since(start); d != 0 {
				t.Errorf("Spawn blocked for %v although WithLimit(1)'s queue was empty", d)
			}
			queued.Cancel(errNotNeeded)
			_, taskErr = queued.Wait()
			return nil
		}, nursery.WithLimit(1), nursery.WithName("n"))
		if ran.Load() {
			t.Errorf("a cancelled queued task ran")
		}
		if !errors.Is(taskErr, errNotNeeded) {
			t.Errorf("Task.Wait = %v, want the cause", taskErr)
		}
		if err != nil {
			t.Errorf("Run = %q; cancelling one task is not a failure of the nursery", err)
		}
	})
}

// A panic inside Map is re-raised in the caller as a *PanicError naming
// the task, after the other calls returned.
func TestMapPanic(t *testing.T) {
	var pe *nursery.PanicError
	var others atomic.Int32
	func() {
		defer func() {
			r := recover()
			var ok bool
			pe, ok = r.(*nursery.PanicError)
			if !ok {
				t.Errorf("recovered %T %v", r, r)
			}
		}()
		nursery.Map(context.Background(), []int{0, 1, 2}, func(ctx context.Context, i int) (int, error) {
			if i == 1 {
				var s []int
				_ = s[i] // index out of range: a runtime panic
			}
			<-ctx.Done()
			others.Add(1)
			return i, ctx.Err()
		})
	}()
	if pe == nil {
		return
	}
	t.Logf("PanicError.Task = %q; first line: %s", pe.Task, strings.SplitN(pe.Error(), "\n", 2)[0])
	if others.Load() != 2 {
		t.Errorf("others = %d", others.Load())
	}
	if !strings.Contains(pe.Error(), "index out of range") {
		t.Errorf("PanicError = %v", pe)
	}
	var re runtime.Error
	if !errors.As(pe, &re) {
		t.Errorf("errors.As(runtime.Error) fails on %v", pe)
	}
}

// Goexit in a task is a failure, and never deadlocks Wait.
func TestGoexit(t *testing.T) {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { runtime.Goexit(); return nil }, nursery.Name("quitter"))
		return nil
	}, nursery.PanicsAsErrors())
	t.Logf("Goexit: %v", err)
	if err == nil {
		t.Errorf("Goexit was not reported")
	}
}

// A nested supervisor as a child: when it gives up, its parent restarts it.
func TestNestedSupervisor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var events []string
		hook := func(e supervisor.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e.Supervisor+"/"+e.Kind.String()+" "+e.Child)
		}
		var runs atomic.Int32
		inner := supervisor.New("inner", supervisor.Intensity(1, time.Minute), supervisor.Backoff(0, 0),
			supervisor.Logger(quietLogger()), supervisor.Hook(hook))
		inner.Add(t.Context(), supervisor.Child("flaky", func(ctx context.Context, ready func()) error {
			r := runs.Add(1)
			ready()
			if r <= 2 { // crashes twice: inner gives up once
				time.Sleep(time.Second)
				return errCrash
			}
			<-ctx.Done()
			return ctx.Err()
		}))
		outer := supervisor.New("outer", supervisor.Logger(quietLogger()), supervisor.Hook(hook))
		outer.Add(t.Context(), supervisor.Child("inner", inner.Serve))
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, outer); err != nil {
				return err
			}
			time.Sleep(10 * time.Second)
			synctest.Wait()
			oc := childInfo(outer, "inner")
			var ge *supervisor.GiveUpError
			if oc.Restarts != 1 || oc.State != supervisor.Running || len(oc.Failures) != 1 || !errors.As(oc.Failures[0], &ge) {
				t.Errorf("outer's view of inner: %+v", oc)
			}
			ic := childInfo(inner, "flaky")
			t.Logf("inner's flaky after the parent's restart: %+v (runs %d)", ic, runs.Load())
			if ic.State != supervisor.Running || runs.Load() != 3 {
				t.Errorf("flaky: %+v, runs %d", ic, runs.Load())
			}
			n.Cancel(nil)
			return nil
		})
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Logf("events:\n%s", strings.Join(events, "\n"))
	})
}

// Restart types: Transient returning nil is not restarted; Temporary
// leaves the supervisor when it exits.
func TestRestartTypes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var transientRuns, tempRuns atomic.Int32
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		sup.Add(t.Context(), supervisor.Child("keep", func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			return ctx.Err()
		}))
		sup.Add(t.Context(), supervisor.Child("transient", func(ctx context.Context, ready func()) error {
			transientRuns.Add(1)
			ready()
			time.Sleep(time.Second)
			return nil
		}, supervisor.Transient))
		sup.Add(t.Context(), supervisor.Child("temp", func(ctx context.Context, ready func()) error {
			tempRuns.Add(1)
			ready()
			time.Sleep(time.Second)
			return errCrash
		}, supervisor.Temporary))
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			time.Sleep(time.Minute)
			var names []string
			for _, c := range sup.Children() {
				names = append(names, c.Name+":"+c.State.String())
			}
			sort.Strings(names)
			if fmt.Sprint(names) != "[keep:running transient:stopped]" {
				t.Errorf("children = %v", names)
			}
			n.Cancel(nil)
			return nil
		})
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		if transientRuns.Load() != 1 || tempRuns.Load() != 1 {
			t.Errorf("runs: transient %d, temp %d", transientRuns.Load(), tempRuns.Load())
		}
	})
}

// Shield runs cleanup even though the surrounding context is cancelled.
func TestShieldCleanup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var closed atomic.Bool
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				return nursery.Shield(ctx, time.Second, func(ctx context.Context) error {
					select {
					case <-time.After(100 * time.Millisecond):
						closed.Store(true)
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			})
			n.Cancel(nil)
			return nil
		})
		if err != nil || !closed.Load() {
			t.Errorf("err %v, closed %v", err, closed.Load())
		}
	})
}

// The same on a Pool, where a task really can be queued: pool(1,
// QueueSize(1)) holds one running and one queued task.
//
// FINDING (kept failing): Task.Cancel's doc says "If the task has not
// started yet, it never starts and Wait returns cause". It does not run and
// Wait does return the cause — but only after the unrelated running task
// frees the worker (1s here; hours for a long task): the cancelled task
// stays in the queue and its Wait/Done wait for its turn. Nursery.Cancel, by
// contrast, "drops its queued tasks at once".
func TestCancelQueuedTaskOnPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errNotNeeded := errors.New("not needed")
		pool := nursery.NewPool(1, nursery.QueueSize(1))
		defer pool.Close()
		var ran atomic.Bool
		var taskErr error
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { time.Sleep(time.Second); return nil })
			synctest.Wait()
			queued := nursery.Spawn(n, func(ctx context.Context) (int, error) { ran.Store(true); return 1, nil })
			if d := time.Since(start); d != 0 {
				t.Errorf("Spawn blocked for %v", d)
			}
			queued.Cancel(errNotNeeded)
			_, taskErr = queued.Wait()
			if d := time.Since(start); d != 0 {
				t.Errorf("Wait of a cancelled queued task took %v", d)
			}
			return nil
		}, nursery.WithExecutor(pool), nursery.WithName("n"))
		if ran.Load() {
			t.Errorf("a cancelled queued task ran")
		}
		if !errors.Is(taskErr, errNotNeeded) {
			t.Errorf("Task.Wait = %v, want the cause", taskErr)
		}
		if err != nil {
			t.Errorf("Run = %q; cancelling one task is not a failure of the nursery", err)
		}
	})
}
