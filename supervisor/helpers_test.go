package supervisor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// recorder keeps the events of a supervisor as short strings:
// "start db", "exit db: boom", "restart db 100ms".
type recorder struct {
	mu     sync.Mutex
	lines  []string
	events []supervisor.Event
}

func (r *recorder) hook(e supervisor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	s := e.Kind.String() + " " + e.Child
	switch {
	case e.Kind == supervisor.EventRestart && e.Delay > 0:
		s += " " + e.Delay.String()
	case e.Kind == supervisor.EventExit && e.Err != nil:
		s += ": " + e.Err.Error()
	}
	r.lines = append(r.lines, s)
}

// take returns the lines recorded since the last take.
func (r *recorder) take() []string {
	synctest.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// fake is a controllable service: it becomes ready after readyAfter, then
// runs until its context ends or a test sends it an error to return.
type fake struct {
	readyAfter time.Duration
	fail       chan error
}

func newFake() *fake { return &fake{fail: make(chan error)} }

func (f *fake) serve(ctx context.Context, ready func()) error {
	if f.readyAfter > 0 {
		select {
		case <-time.After(f.readyAfter):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ready()
	select {
	case err := <-f.fail:
		if err == errPanic {
			panic("child bug")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errPanic makes a fake panic instead of returning.
var errPanic = fmt.Errorf("panic")

// harness runs a supervisor in a nursery inside a synctest bubble.
type harness struct {
	t   *testing.T
	n   *nursery.Nursery
	sup *supervisor.Supervisor
	rec *recorder
}

// start creates a supervisor with opts and the children, and starts it.
func start(t *testing.T, opts []supervisor.Option, children ...supervisor.Spec) (*harness, error) {
	t.Helper()
	rec := new(recorder)
	opts = append([]supervisor.Option{supervisor.Hook(rec.hook), supervisor.Logger(nil), supervisor.Backoff(0, 0)}, opts...)
	sup := supervisor.New("sup", opts...)
	for _, c := range children {
		require.NoError(t, sup.Add(t.Context(), c))
	}
	n := nursery.New(t.Context(), nursery.PanicsAsErrors())
	err := supervisor.Start(n, sup)
	return &harness{t: t, n: n, sup: sup, rec: rec}, err
}

// stop cancels the nursery and returns its Wait.
func (h *harness) stop() error {
	h.n.Cancel(nil)
	return h.n.Wait()
}
