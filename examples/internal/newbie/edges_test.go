package newbie

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// Parent cancellation that interrupts work is reported once.
func TestParentCancelReportedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errShutdown := errors.New("shutdown")
		ctx, cancel := context.WithCancelCause(t.Context())
		time.AfterFunc(time.Second, func() { cancel(errShutdown) })
		err := nursery.Run(ctx, func(n *nursery.Nursery) error {
			for i := range 5 {
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					return ctx.Err()
				}, nursery.Name(fmt.Sprint("w", i)))
			}
			return nil
		}, nursery.WithName("svc"))
		t.Logf("err: %q", err)
		if !errors.Is(err, errShutdown) {
			t.Fatalf("err = %v, want errShutdown", err)
		}
		if c := strings.Count(err.Error(), "shutdown"); c != 1 {
			t.Errorf("reported %d times: %q", c, err)
		}
	})
}

// Timeout: a task's own deadline is ErrTimeout and tells itself apart.
func TestTaskTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sawOwn bool
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				<-ctx.Done()
				sawOwn = errors.Is(context.Cause(ctx), nursery.ErrTimeout)
				return ctx.Err()
			}, nursery.Name("slow"), nursery.Timeout(time.Second))
			return nil
		}, nursery.WithName("svc"))
		if !errors.Is(err, nursery.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != "svc: slow: timeout after 1s: context deadline exceeded" {
			t.Errorf("err = %q", err)
		}
		if !sawOwn {
			t.Errorf("context.Cause inside the task is not ErrTimeout")
		}
	})
}

// MoveOnAfter: quietly give up.
func TestMoveOnAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		timedOut, err := nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error {
			<-ctx.Done()
			return context.Cause(ctx)
		})
		if !timedOut || err != nil {
			t.Errorf("MoveOnAfter = %v, %v; want true, nil", timedOut, err)
		}
		timedOut, err = nursery.MoveOnAfter(t.Context(), time.Second, func(ctx context.Context) error { return nil })
		if timedOut || err != nil {
			t.Errorf("fast MoveOnAfter = %v, %v", timedOut, err)
		}
	})
}

// AsCompleted: take the two fastest results, cancel the rest.
func TestAsCompletedTakeTwo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []int
		var cancelled atomic.Int32
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			var tasks []*nursery.Task[int]
			for _, d := range []int{5, 1, 4, 2, 3} {
				tasks = append(tasks, nursery.Spawn(n, func(ctx context.Context) (int, error) {
					select {
					case <-time.After(time.Duration(d) * time.Second):
						return d, nil
					case <-ctx.Done():
						cancelled.Add(1)
						return 0, context.Cause(ctx)
					}
				}))
			}
			for tk := range nursery.AsCompleted(tasks...) {
				v, err := tk.Wait()
				if err != nil {
					return err
				}
				got = append(got, v)
				if len(got) == 2 {
					break
				}
			}
			for _, tk := range tasks {
				tk.Cancel(nil)
			}
			return nil
		})
		if err != nil || fmt.Sprint(got) != "[1 2]" || cancelled.Load() != 3 {
			t.Errorf("got %v, err %v, cancelled %d", got, err, cancelled.Load())
		}
		if time.Since(time.Unix(946684800, 0)) != 2*time.Second {
			t.Errorf("took %v", time.Since(time.Unix(946684800, 0)))
		}
	})
}

// First: all fail → every error, each naming its index.
func TestFirstAllFail(t *testing.T) {
	_, err := nursery.First(context.Background(),
		func(ctx context.Context) (int, error) { return 0, errors.New("a refused") },
		func(ctx context.Context) (int, error) { return 0, errors.New("b refused") },
	)
	t.Logf("err: %q", err)
	if err == nil || !strings.Contains(err.Error(), "index 0: a refused") || !strings.Contains(err.Error(), "index 1: b refused") {
		t.Errorf("err = %q", err)
	}
	v, err := nursery.First(context.Background(),
		func(ctx context.Context) (int, error) { <-ctx.Done(); return 0, ctx.Err() },
		func(ctx context.Context) (int, error) { return 7, nil },
	)
	if v != 7 || err != nil {
		t.Errorf("First = %v, %v", v, err)
	}
}

// Closing a shared pool while a nursery still has tasks queued: they fail
// with ErrPoolClosed in their nursery.
func TestPoolClosedWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The nursery's own queue is bounded by workers + queue size (README:
		// "in flight"): 1 + 4, so three Go calls do not block.
		pool := nursery.NewPool(1, nursery.QueueSize(4))
		var ran atomic.Int32
		n := nursery.New(t.Context(), nursery.WithExecutor(pool), nursery.CollectErrors())
		for range 3 {
			n.Go(func(ctx context.Context) error {
				ran.Add(1)
				time.Sleep(time.Second)
				return nil
			})
		}
		synctest.Wait()
		if err := pool.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		err := n.Wait()
		t.Logf("ran %d, err %q", ran.Load(), err)
		if !errors.Is(err, nursery.ErrPoolClosed) {
			t.Errorf("err = %v, want ErrPoolClosed", err)
		}
		if r := ran.Load(); r != 1 {
			t.Errorf("ran = %d, want 1", r)
		}
		if c := strings.Count(fmt.Sprint(err), "pool closed"); c != 2 {
			t.Errorf("%d tasks failed with ErrPoolClosed, want 2", c)
		}
	})
}

// A supervisor child that fails before ready: supervisor.Start returns a
// *StartError and (like nursery.Start) does not fail the nursery.
func TestSupervisorStartError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		var dbStopped atomic.Bool
		sup.Add(t.Context(), supervisor.Child("db", func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			dbStopped.Store(true)
			return ctx.Err()
		}))
		sup.Add(t.Context(), supervisor.Child("http", func(ctx context.Context, ready func()) error {
			return errors.New("listen: address in use")
		}))
		var startErr error
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			startErr = supervisor.Start(n, sup)
			return nil
		})
		t.Logf("Start: %q; Run: %v", startErr, err)
		var se *supervisor.StartError
		if !errors.As(startErr, &se) || se.Child != "http" {
			t.Errorf("Start err = %v", startErr)
		}
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if !dbStopped.Load() {
			t.Errorf("db was not stopped")
		}
	})
}

// A child that ignores its cancellation past its grace is reported and
// still waited for.
func TestSupervisorStuckChild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var evs []supervisor.EventKind
		sup := supervisor.New("app", supervisor.Logger(quietLogger()),
			supervisor.Hook(func(e supervisor.Event) { evs = append(evs, e.Kind) }))
		var returned atomic.Bool
		sup.Add(t.Context(), supervisor.Child("stubborn", func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			time.Sleep(3 * time.Second) // ignores cancellation for 3s
			returned.Store(true)
			return ctx.Err()
		}, supervisor.Grace(time.Second)))
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			n.Cancel(nil)
			return nil
		})
		t.Logf("err after %v: %v", time.Since(start), err)
		if !returned.Load() {
			t.Errorf("Run returned before the stuck child")
		}
		var ste *supervisor.StopTimeoutError
		if !errors.As(err, &ste) || ste.Child != "stubborn" || ste.Grace != time.Second {
			t.Errorf("err = %v, want *StopTimeoutError", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// Add and Remove at run time.
func TestSupervisorAddRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		svc := func(ctx context.Context, ready func()) error { ready(); <-ctx.Done(); return ctx.Err() }
		sup.Add(t.Context(), supervisor.Child("a", svc))
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			if err := sup.Add(t.Context(), supervisor.Child("b", svc)); err != nil {
				t.Errorf("Add b: %v", err)
			}
			if err := sup.Add(t.Context(), supervisor.Child("b", svc)); err == nil {
				t.Errorf("Add of a duplicate name succeeded")
			}
			err := sup.Add(t.Context(), supervisor.Child("c", func(ctx context.Context, ready func()) error { return errCrash }))
			var se *supervisor.StartError
			if !errors.As(err, &se) || !errors.Is(err, errCrash) {
				t.Errorf("Add c = %v", err)
			}
			if err := sup.Remove(t.Context(), "a"); err != nil {
				t.Errorf("Remove a: %v", err)
			}
			var names []string
			for _, c := range sup.Children() {
				names = append(names, c.Name+":"+c.State.String())
			}
			if fmt.Sprint(names) != "[b:running]" {
				t.Errorf("children = %v", names)
			}
			n.Cancel(nil)
			return nil
		})
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}
