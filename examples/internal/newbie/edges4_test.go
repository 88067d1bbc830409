package newbie

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// Start services never count toward WithLimit.
func TestStartDoesNotCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var done atomic.Int32
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			for range 3 {
				if _, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
					ready(0)
					<-ctx.Done()
					return ctx.Err()
				}); err != nil {
					return err
				}
			}
			for range 5 {
				n.Go(func(ctx context.Context) error { time.Sleep(time.Second); done.Add(1); return nil })
			}
			time.Sleep(5 * time.Second)
			n.Cancel(nil)
			return nil
		}, nursery.WithLimit(1))
		if err != nil || done.Load() != 5 {
			t.Errorf("err %v, done %d", err, done.Load())
		}
	})
}

// Cancelling a nursery on a shared pool drops its queued tasks at once and
// leaves the other nursery alone.
func TestPoolCancelDropsQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := nursery.NewPool(1, nursery.QueueSize(4))
		defer pool.Close()
		var aRan, bRan atomic.Int32
		a := nursery.New(t.Context(), nursery.WithExecutor(pool))
		b := nursery.New(t.Context(), nursery.WithExecutor(pool))
		start := time.Now()
		for range 3 {
			a.Go(func(ctx context.Context) error { aRan.Add(1); time.Sleep(time.Second); return nil })
		}
		b.Go(func(ctx context.Context) error { bRan.Add(1); return nil })
		synctest.Wait()
		a.Cancel(nil)
		if err := a.Wait(); err != nil {
			t.Errorf("a.Wait = %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("a.Wait took %v, want 1s (the running task)", d)
		}
		if err := b.Wait(); err != nil {
			t.Errorf("b.Wait = %v", err)
		}
		if aRan.Load() != 1 || bRan.Load() != 1 {
			t.Errorf("a ran %d, b ran %d", aRan.Load(), bRan.Load())
		}
	})
}

// A supervisor is served again after Serve returned (docs: "It may be
// served again"); children persist.
func TestSupervisorServedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var starts atomic.Int32
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		sup.Add(t.Context(), supervisor.Child("a", func(ctx context.Context, ready func()) error {
			starts.Add(1)
			ready()
			<-ctx.Done()
			return ctx.Err()
		}))
		for i := range 2 {
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				if err := supervisor.Start(n, sup); err != nil {
					return err
				}
				n.Cancel(nil)
				return nil
			})
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		}
		if starts.Load() != 2 {
			t.Errorf("starts = %d", starts.Load())
		}
		// Add between serves only records the child.
		err := sup.Add(t.Context(), supervisor.Child("b", func(ctx context.Context, ready func()) error { ready(); <-ctx.Done(); return nil }))
		if err != nil {
			t.Errorf("Add between serves = %v", err)
		}
		if c := sup.Children(); len(c) != 2 || c[1].State != supervisor.Stopped {
			t.Errorf("children = %+v", c)
		}
	})
}
