package newbie

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// Gather: on failure, the results of functions that succeeded are filled in.
func TestGatherPartial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errBoom := errors.New("boom")
		res, err := nursery.Gather(t.Context(),
			func(ctx context.Context) (string, error) { return "a", nil },
			func(ctx context.Context) (string, error) {
				time.Sleep(time.Second)
				return "", errBoom
			},
			func(ctx context.Context) (string, error) {
				select {
				case <-time.After(time.Hour):
					return "c", nil
				case <-ctx.Done():
					return "", ctx.Err()
				}
			},
		)
		if !errors.Is(err, errBoom) || err.Error() != "index 1: boom" {
			t.Errorf("err = %q", err)
		}
		if fmt.Sprintf("%q", res) != `["a" "" ""]` {
			t.Errorf("res = %q", res)
		}
	})
}

// A Start service that fails after ready is a failure of the nursery.
func TestStartFailsAfterReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errLost := errors.New("lost connection")
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			_, err := nursery.Start(n, func(ctx context.Context, ready func(struct{})) error {
				ready(struct{}{})
				time.Sleep(time.Second)
				return errLost
			}, nursery.Name("conn"))
			if err != nil {
				return err
			}
			n.Go(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, nursery.Name("user"))
			return nil
		}, nursery.WithName("app"))
		if !errors.Is(err, errLost) || err.Error() != "app: conn: lost connection" {
			t.Errorf("err = %q", err)
		}
	})
}

// Crawler shape: tasks of an outer WithLimit(2) nursery each open a Map
// with its own limit whose callbacks spawn more pages into the outer
// (full) nursery. The docs promise no deadlock.
func TestCrawlerSpawnsIntoFullAncestor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := map[string][]string{
			"/":  {"/a", "/b", "/c"},
			"/a": {"/a1", "/a2", "/b"},
			"/b": {"/b1", "/"},
			"/c": {"/c1", "/c2", "/c3"},
		}
		var mu sync.Mutex
		seen := map[string]bool{}
		var fetched atomic.Int32
		var crawl func(n *nursery.Nursery, page string)
		crawl = func(n *nursery.Nursery, page string) {
			mu.Lock()
			if seen[page] {
				mu.Unlock()
				return
			}
			seen[page] = true
			mu.Unlock()
			n.Go(func(ctx context.Context) error {
				time.Sleep(10 * time.Millisecond)
				fetched.Add(1)
				_, err := nursery.Map(ctx, links[page], func(ctx context.Context, l string) (struct{}, error) {
					time.Sleep(time.Millisecond) // check the link
					crawl(n, l)                  // spawn into the full ancestor
					return struct{}{}, nil
				}, nursery.WithLimit(1))
				return err
			}, nursery.Name(page))
		}
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			crawl(n, "/")
			return nil
		}, nursery.WithLimit(2))
		if err != nil || fetched.Load() != 10 {
			t.Errorf("err %v, fetched %d (want 10)", err, fetched.Load())
		}
	})
}

// OneForAll: one child's crash restarts all, in order.
func TestOneForAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		a := newKillable("a", 0, nil)
		b := newKillable("b", 0, nil)
		c := newKillable("c", 0, nil)
		sup := supervisor.New("app", supervisor.OneForAll, supervisor.Hook(rec.hook), supervisor.Logger(quietLogger()))
		for _, k := range []*killable{a, b, c} {
			sup.Add(t.Context(), supervisor.Child(k.name, k.Serve))
		}
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			rec.take()
			b.kill <- 1
			synctest.Wait()
			expectEvents(t, "b crash", rec.take(), []string{
				"exit b", "exit c", "exit a",
				"restart a (cause b)", "restart b", "restart c (cause b)",
				"start a", "ready a", "start b", "ready b", "start c", "ready c",
			})
			n.Cancel(nil)
			return nil
		})
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// The parent context ending stops a supervisor tree; Run says so once.
func TestSupervisorParentCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errSigterm := errors.New("SIGTERM")
		ctx, cancel := context.WithCancelCause(t.Context())
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		svc := func(ctx context.Context, ready func()) error { ready(); <-ctx.Done(); return ctx.Err() }
		sup.Add(ctx, supervisor.Child("a", svc))
		sup.Add(ctx, supervisor.Child("b", svc))
		time.AfterFunc(time.Second, func() { cancel(errSigterm) })
		err := nursery.Run(ctx, func(n *nursery.Nursery) error {
			return supervisor.Start(n, sup)
		}, nursery.WithName("main"))
		t.Logf("err: %q", err)
		if !errors.Is(err, errSigterm) || strings.Count(err.Error(), "SIGTERM") != 1 {
			t.Errorf("err = %q, want SIGTERM once", err)
		}
	})
}

// Remove a child that ignores cancellation: *StopTimeoutError, and Serve
// still waits for it.
func TestSupervisorRemoveStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sup := supervisor.New("app", supervisor.Logger(quietLogger()))
		var returned atomic.Bool
		sup.Add(t.Context(), supervisor.Child("stuck", func(ctx context.Context, ready func()) error {
			ready()
			<-ctx.Done()
			time.Sleep(10 * time.Second)
			returned.Store(true)
			return nil
		}, supervisor.Grace(time.Second)))
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			err := sup.Remove(t.Context(), "stuck")
			var ste *supervisor.StopTimeoutError
			if !errors.As(err, &ste) || time.Since(start) != time.Second {
				t.Errorf("Remove = %v after %v", err, time.Since(start))
			}
			if len(sup.Children()) != 0 {
				t.Errorf("children = %+v", sup.Children())
			}
			n.Cancel(nil)
			return nil
		})
		t.Logf("Run = %v after %v", err, time.Since(start))
		if !returned.Load() || time.Since(start) != 10*time.Second {
			t.Errorf("Run returned after %v, before the stuck child", time.Since(start))
		}
	})
}
