package newbie

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
)

// Go waiting for room returns when the nursery is cancelled; the task never
// runs and Cancel is not a failure.
func TestGoWaitingForRoomThenCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var secondRan atomic.Bool
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
			time.AfterFunc(time.Second, func() { n.Cancel(nil) })
			n.Go(func(ctx context.Context) error { secondRan.Store(true); return nil })
			return nil
		}, nursery.WithLimit(1))
		if err != nil || secondRan.Load() || time.Since(start) != time.Second {
			t.Errorf("err %v, second ran %v, after %v", err, secondRan.Load(), time.Since(start))
		}
	})
}

// Timeout(d) counts "from when it starts running", not from Go.
func TestTimeoutFromStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error { time.Sleep(2 * time.Second); return nil }, nursery.Name("a"))
			n.Go(func(ctx context.Context) error {
				select {
				case <-time.After(500 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}, nursery.Name("b"), nursery.Timeout(time.Second))
			return nil
		}, nursery.WithLimit(1))
		if err != nil {
			t.Errorf("err = %v", err)
		}
	})
}

// A panic alongside other failures: Wait re-panics, every call the same
// value, and the message counts the further failures.
func TestPanicCountsFurtherFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.CollectErrors(), nursery.WithName("jobs"))
		n.Go(func(ctx context.Context) error { return errors.New("e1") }, nursery.Name("j1"))
		n.Go(func(ctx context.Context) error { return errors.New("e2") }, nursery.Name("j2"))
		synctest.Wait()
		n.Go(func(ctx context.Context) error { panic("kaboom") }, nursery.Name("bad"))
		catch := func() (r any) {
			defer func() { r = recover() }()
			n.Wait()
			return nil
		}
		r1, r2 := catch(), catch()
		pe, ok := r1.(*nursery.PanicError)
		if !ok || r1 != r2 {
			t.Fatalf("recovered %T %v / %v", r1, r1, r2)
		}
		first := strings.SplitN(pe.Error(), "\n", 2)[0]
		t.Logf("PanicError first line: %q; Task %q", first, pe.Task)
		if pe.Task != "bad" || pe.Value != "kaboom" || !strings.Contains(first, "2") {
			t.Errorf("PanicError: task %q value %v, first line %q (want it to count 2 further failures)", pe.Task, pe.Value, first)
		}
	})
}
