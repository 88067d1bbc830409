package newbie

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

var errCrash = errors.New("crashed")

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) hook(e supervisor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := e.Kind.String() + " " + e.Child
	if e.Kind == supervisor.EventRestart && e.Cause != e.Child {
		s += " (cause " + e.Cause + ")"
	}
	r.events = append(r.events, s)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// killable is a service that connects for a while, calls ready, and runs
// until its context ends or it is killed.
type killable struct {
	name    string
	connect time.Duration
	up      atomic.Bool
	kill    chan any
	starts  atomic.Int32
	needs   *killable // must be up when this one starts
	sawDown atomic.Int32
}

func newKillable(name string, connect time.Duration, needs *killable) *killable {
	return &killable{name: name, connect: connect, kill: make(chan any), needs: needs}
}

func (k *killable) Serve(ctx context.Context, ready func()) error {
	k.starts.Add(1)
	if k.needs != nil && !k.needs.up.Load() {
		k.sawDown.Add(1)
	}
	select {
	case <-time.After(k.connect):
	case <-ctx.Done():
		return ctx.Err()
	}
	k.up.Store(true)
	defer k.up.Store(false)
	ready()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case v := <-k.kill:
		if p, ok := v.(string); ok && p == "panic" {
			panic("worker bug")
		}
		return fmt.Errorf("%s: %w", k.name, errCrash)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestSupervisorServiceTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		db := newKillable("db", 10*time.Millisecond, nil)
		web := newKillable("http", time.Millisecond, db)
		worker := newKillable("worker", 0, nil)

		sup := supervisor.New("app", supervisor.RestForOne,
			supervisor.Hook(rec.hook), supervisor.Logger(quietLogger()))
		ctx := t.Context()
		for _, c := range []supervisor.Spec{
			supervisor.Child("db", db.Serve),
			supervisor.Child("http", web.Serve, supervisor.Grace(time.Second)),
			supervisor.Child("worker", worker.Serve),
		} {
			if err := sup.Add(ctx, c); err != nil {
				t.Fatal(err)
			}
		}

		err := nursery.Run(ctx, func(n *nursery.Nursery) error {
			if err := supervisor.Start(n, sup); err != nil {
				return err
			}
			expectEvents(t, "startup", rec.take(), []string{
				"start db", "ready db", "start http", "ready http", "start worker", "ready worker",
			})

			// Kill the flaky worker: only it restarts (it is last).
			worker.kill <- "crash"
			synctest.Wait()
			expectEvents(t, "worker crash", rec.take(), []string{
				"exit worker", "restart worker", "start worker", "ready worker",
			})
			ci := childInfo(sup, "worker")
			if ci.Restarts != 1 || ci.State != supervisor.Running || len(ci.Failures) != 1 || !errors.Is(ci.Failures[0], errCrash) {
				t.Errorf("worker after crash: %+v", ci)
			}

			// A panic in the worker is a failure like any other.
			// It is the second restart in a row, so a backoff (50..100ms)
			// applies before it.
			worker.kill <- "panic"
			synctest.Wait()
			if st := childInfo(sup, "worker").State; st != supervisor.Restarting {
				t.Errorf("worker during backoff: %v", st)
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
			ci = childInfo(sup, "worker")
			var pe *nursery.PanicError
			if ci.Restarts != 2 || ci.State != supervisor.Running || len(ci.Failures) != 2 || !errors.As(ci.Failures[1], &pe) || pe.Value != "worker bug" {
				t.Errorf("worker after panic: %+v", ci)
			}
			expectEvents(t, "worker panic", rec.take(), []string{
				"exit worker", "restart worker", "start worker", "ready worker",
			})

			// Kill the db: RestForOne stops worker then http, restarts db,
			// and http only once db is ready again.
			db.kill <- "crash"
			time.Sleep(time.Second)
			synctest.Wait()
			expectEvents(t, "db crash", rec.take(), []string{
				"exit db", "exit worker", "exit http",
				"restart db", "restart http (cause db)", "restart worker (cause db)",
				"start db", "ready db", "start http", "ready http", "start worker", "ready worker",
			})
			if web.sawDown.Load() != 0 {
				t.Errorf("http started %d times while db was down", web.sawDown.Load())
			}
			if s := web.starts.Load(); s != 2 {
				t.Errorf("http started %d times, want 2", s)
			}
			for _, c := range sup.Children() {
				if c.State != supervisor.Running {
					t.Errorf("after recovery: %s is %v", c.Name, c.State)
				}
			}
			n.Cancel(nil)
			return nil
		})
		if err != nil {
			t.Errorf("Run after Cancel = %v, want nil (cancelling is not failing)", err)
		}
		expectEvents(t, "shutdown", rec.take(), []string{"exit worker", "exit http", "exit db"})
	})
}

func childInfo(sup *supervisor.Supervisor, name string) supervisor.ChildInfo {
	for _, c := range sup.Children() {
		if c.Name == name {
			return c
		}
	}
	return supervisor.ChildInfo{}
}

func expectEvents(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: events\n  got:  %q\n  want: %q", what, got, want)
	}
}

// A worker that keeps crashing makes the supervisor give up; the give-up
// fails the supervisor's task and so the nursery.
func TestSupervisorGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		flaky := func(ctx context.Context, ready func()) error {
			runs.Add(1)
			ready()
			select {
			case <-time.After(time.Second):
				return errCrash
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sup := supervisor.New("app", supervisor.Intensity(3, time.Minute),
			supervisor.Backoff(0, 0), supervisor.Logger(quietLogger()))
		sup.Add(t.Context(), supervisor.Child("flaky", flaky))
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			return supervisor.Start(n, sup)
		}, nursery.WithName("main"))
		t.Logf("err after %v, %d runs: %v", time.Since(start), runs.Load(), err)
		var ge *supervisor.GiveUpError
		if !errors.As(err, &ge) {
			t.Fatalf("err = %v, want *GiveUpError", err)
		}
		if ge.Child != "flaky" || ge.Supervisor != "app" || ge.Restarts != 3 || !errors.Is(err, errCrash) {
			t.Errorf("GiveUpError = %+v", ge)
		}
		// 3 restarts allowed, the 4th exit is one too many: 4 runs.
		if r := runs.Load(); r != 4 {
			t.Errorf("runs = %d, want 4", r)
		}
		if d := time.Since(start); d != 4*time.Second {
			t.Errorf("gave up after %v, want 4s", d)
		}
	})
}
