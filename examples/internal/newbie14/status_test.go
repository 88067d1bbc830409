package newbie14

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
	"github.com/structured-go/nursery/supervisor"
)

func treeText(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if err := nurserytree.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// WithStatus is computed each time the tree is shown.
func TestWithStatusRecomputed(t *testing.T) {
	var calls atomic.Int32
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for i := 1; i <= 3; i++ {
			want := fmt.Sprintf(`nursery "s": running, 0 tasks [shown %d]`, i)
			if got := treeText(t); !strings.Contains(got, want) {
				t.Errorf("tree %d:\n%s\nwant line %q", i, got, want)
			}
		}
		b, _ := nurserytree.JSON()
		if !strings.Contains(string(b), `"status": "shown 4"`) {
			t.Errorf("JSON lacks the status:\n%s", b)
		}
		return nil
	}, nursery.WithName("s"), nursery.WithStatus(func() string { return fmt.Sprintf("shown %d", calls.Add(1)) }))
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithStatusNilPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "nursery: ") {
			t.Errorf("WithStatus(nil): recovered %v, want a panic starting with \"nursery: \"", r)
		}
	}()
	nursery.WithStatus(nil)
}

// The supervisor's nursery shows its children, states, restarts and last
// failure beside it ("db: running; http: restarting, 2 restarts, last:
// connection refused"), in plain and debug mode.
func TestSupervisorStatusInTree(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			var fails atomic.Int32
			sup := supervisor.New("app", supervisor.Logger(nil), supervisor.Backoff(0, 0))
			ctx := context.Background()
			sup.Add(ctx, supervisor.Child("db", func(ctx context.Context, ready func()) error {
				ready()
				<-ctx.Done()
				return ctx.Err()
			}))
			sup.Add(ctx, supervisor.Child("flaky", func(ctx context.Context, ready func()) error {
				ready()
				if fails.Add(1) <= 2 {
					return errors.New("connection refused")
				}
				<-ctx.Done()
				return ctx.Err()
			}))
			opts := []nursery.Option{nursery.WithName("root")}
			if debug {
				opts = append(opts, nurserydebug.On())
			}
			err := nursery.Run(ctx, func(n *nursery.Nursery) error {
				if err := supervisor.Start(n, sup); err != nil {
					return err
				}
				// Wait for the third incarnation of flaky, through the public
				// snapshot (no sleeps).
				for {
					c := sup.Children()
					if c[1].Restarts == 2 && c[1].State == supervisor.Running {
						break
					}
					runtime.Gosched()
				}
				text := treeText(t)
				t.Logf("tree:\n%s", text)
				want := `nursery "app": running, `
				wantStatus := "[db: running; flaky: running, 2 restarts, last: connection refused]"
				var line string
				for _, l := range strings.Split(text, "\n") {
					if strings.Contains(l, want) {
						line = l
					}
				}
				if line == "" || !strings.HasSuffix(line, wantStatus) || !strings.Contains(line, "2 tasks") {
					t.Errorf("supervisor line %q, want 2 tasks and %s", line, wantStatus)
				}
				if debug && (!strings.Contains(text, `task "db": running`) || !strings.Contains(text, `task "flaky": running`)) {
					t.Errorf("debug mode should list the children's tasks by name:\n%s", text)
				}
				n.Cancel(nil)
				return nil
			}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(treeText(t), "no live nurseries") {
				t.Errorf("tree after Run:\n%s", treeText(t))
			}
		})
	}
}

// Counters: started, running (queued included), completed (dropped
// included), failed (not a passed-on cancellation), shared by two nurseries.
func TestCounters(t *testing.T) {
	var c nursery.Counters
	release := make(chan struct{})
	running := make(chan struct{}, 10)
	a := nursery.New(context.Background(), nursery.WithCounters(&c), nursery.CollectErrors(), nursery.PanicsAsErrors(), nursery.WithName("a"))
	b := nursery.New(context.Background(), nursery.WithCounters(&c), nursery.WithLimit(1), nursery.WithName("b"))

	a.Go(func(ctx context.Context) error { running <- struct{}{}; <-release; return errors.New("one") })
	a.Go(func(ctx context.Context) error { running <- struct{}{}; <-release; panic("two") })
	cancelled := nursery.Spawn(a, func(ctx context.Context) (int, error) {
		running <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err() // passes its own cancellation on: not a failure
	})
	a.Go(func(ctx context.Context) error { running <- struct{}{}; <-release; return nil })
	// b: WithLimit(1): one runs, one waits in the queue.
	b.Go(func(ctx context.Context) error { running <- struct{}{}; <-ctx.Done(); return nil })
	b.Go(func(ctx context.Context) error { t.Error("a queued task of a cancelled nursery ran"); return nil })
	for range 5 {
		<-running
	}
	if s, r, d, f := c.Started(), c.Running(), c.Completed(), c.Failed(); s != 6 || r != 6 || d != 0 || f != 0 {
		t.Errorf("while running: started %d running %d completed %d failed %d, want 6 6 0 0", s, r, d, f)
	}
	cancelled.Cancel(nil)
	if _, err := cancelled.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled task: %v", err)
	}
	b.Cancel(nil) // drops the queued task
	if err := b.Wait(); err != nil {
		t.Errorf("b: %v", err)
	}
	close(release)
	errA := a.Wait()
	var pe *nursery.PanicError
	if !errors.As(errA, &pe) || !strings.Contains(errA.Error(), "one") {
		t.Errorf("a: %v", errA)
	}
	if s, r, d, f := c.Started(), c.Running(), c.Completed(), c.Failed(); s != 6 || r != 0 || d != 6 || f != 2 {
		t.Errorf("after Wait: started %d running %d completed %d failed %d, want 6 0 6 2", s, r, d, f)
	}
}

func TestWithCountersNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithCounters(nil) did not panic")
		}
	}()
	nursery.WithCounters(nil)
}

// The tree's states: blocked-in-Wait while Wait waits, cancelling once the
// nursery cancelled itself and a task still runs.
func TestTreeStates(t *testing.T) {
	stop := make(chan struct{})
	started := make(chan struct{})
	n := nursery.New(context.Background(), nursery.WithName("st"))
	n.Go(func(ctx context.Context) error { close(started); <-stop; return nil }) // ignores ctx for now
	<-started
	if got := treeText(t); !strings.Contains(got, `nursery "st": running, 1 task`) {
		t.Errorf("before Cancel:\n%s", got)
	}
	n.Cancel(nil)
	if got := treeText(t); !strings.Contains(got, `nursery "st": cancelling, 1 task`) {
		t.Errorf("after Cancel:\n%s", got)
	}
	done := make(chan error)
	go func() { done <- n.Wait() }()
	// Wait's state shows up once Wait blocks; poll the tree (no sleeps).
	for !strings.Contains(treeText(t), `nursery "st": blocked-in-Wait`) && !strings.Contains(treeText(t), `nursery "st": cancelling`) {
		runtime.Gosched()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
