package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/structured-go/nursery"
)

// A Supervisor starts its children in order, restarts them by its
// [Strategy] when they exit, and stops them in reverse order. It runs as a
// task of a nursery — with [Start], or [Supervisor.Serve] as a child of
// another supervisor — and nothing it starts outlives that task.
//
// A Supervisor is safe for concurrent use. Create it with [New]. It may be
// served again after Serve has returned (a supervisor restarted by its
// parent is), but not twice at once. Its children, their restart counts and
// failures persist from one Serve to the next.
type Supervisor struct {
	name string
	cfg  config

	mu       sync.Mutex
	children []*child // in start order; while serving, only the loop changes it
	run      *run     // non-nil while Serve runs
}

// child is a supervised child and its state. Fields marked "mu" are read by
// Children under the supervisor's mu; the loop owns the others.
type child struct {
	spec Spec

	state    State // mu
	restarts int   // mu
	fails    ring  // mu

	gen         uint64       // incarnation number; events of older ones are stale
	inc         *incarnation // the running incarnation
	pending     bool         // waiting to be restarted at restartAt
	restartAt   int64        // in time.Now().UnixNano()
	streak      int          // restarts in a row, for the backoff
	lastRestart int64        // UnixNano, 0 if never restarted
	taskName    nursery.TaskOption
	runner      chan *incarnation // to the child's task; nil before its first start
}

// New returns a supervisor named name, configured by opts: its
// [Strategy] (default OneForOne), [Intensity], [Backoff], [Logger] and
// [Hook]. Add its children with [Supervisor.Add]. The name names its
// nursery in the live tree (nurserytree.Write), its errors and its events.
// New panics if name is empty.
func New(name string, opts ...Option) *Supervisor {
	if name == "" {
		panic("supervisor: New needs a name")
	}
	return &Supervisor{name: name, cfg: newConfig(opts)}
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.name }

// Start runs s as a service task of n (named after s) and returns once
// every child of s is ready — or with the error that kept one from
// starting. It is [nursery.Start] with [Supervisor.Serve]; after Start has
// returned, a give-up of s is a failure of its task in n.
func Start(n *nursery.Nursery, s *Supervisor) error {
	_, err := nursery.Start(n, func(ctx context.Context, ready func(struct{})) error {
		return s.Serve(ctx, func() { ready(struct{}{}) })
	}, nursery.Name(s.name))
	return err
}

// Add adds a child at the end of the supervisor's children. Before Serve,
// it only records the child. While Serve runs, it starts the child after
// the others — once the children waiting out a backoff when Add was called
// are restarted — and returns once the child is ready (or has returned nil
// before calling ready); if the child fails first, it is not added and Add
// returns a *[StartError], as Erlang's start_child does. Add returns an
// error if a child of that name exists, and [ErrStopped] if the supervisor
// stops meanwhile (or is still waiting for stuck children after it
// stopped). Whatever its error, the child is not added. If ctx ends while
// the supervisor is busy (starting or restarting other children) or while
// Add waits for a backoff, Add returns ctx's cause and the child is not
// added; once the supervisor has begun to start it, Add waits for the
// outcome. Add panics if spec was not made by [Child].
func (s *Supervisor) Add(ctx context.Context, spec Spec) error {
	if ctx == nil {
		panic("supervisor: nil Context")
	}
	if spec.fn == nil {
		panic("supervisor: Add of a Spec not made by Child")
	}
	s.mu.Lock()
	r := s.run
	if r == nil {
		defer s.mu.Unlock()
		if s.indexLocked(spec.name) >= 0 {
			return s.duplicate(spec.name)
		}
		s.children = append(s.children, &child{spec: spec})
		return nil
	}
	s.mu.Unlock()
	return r.ask(ctx, &request{add: &spec})
}

// Remove stops the child named name, giving it its grace period, and
// removes it; no strategy runs. If the child does not return within its
// grace, Remove removes it anyway and returns a *[StopTimeoutError]; the
// child's goroutine still holds up the end of [Supervisor.Serve]. Remove
// returns an error if there is no such child, and [ErrStopped] if the
// supervisor stops meanwhile. If ctx ends while the supervisor is busy,
// Remove returns ctx's cause and does nothing; once the supervisor has
// begun to stop the child, Remove waits for the outcome. A child that
// removes itself therefore waits out its own grace, and gets a
// *StopTimeoutError once it is removed; to stop for good, a child returns
// instead (see [Transient] and [Temporary]).
func (s *Supervisor) Remove(ctx context.Context, name string) error {
	if ctx == nil {
		panic("supervisor: nil Context")
	}
	s.mu.Lock()
	r := s.run
	if r == nil {
		defer s.mu.Unlock()
		i := s.indexLocked(name)
		if i < 0 {
			return s.unknown(name)
		}
		s.children = slices.Delete(s.children, i, i+1)
		return nil
	}
	s.mu.Unlock()
	return r.ask(ctx, &request{remove: name})
}

// Children returns a snapshot of the children, in start order: their
// states, restart counts and last failures.
func (s *Supervisor) Children() []ChildInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChildInfo, len(s.children))
	for i, c := range s.children {
		out[i] = ChildInfo{
			Name:     c.spec.name,
			Restart:  c.spec.restart,
			State:    c.state,
			Restarts: c.restarts,
			Failures: c.fails.list(),
		}
	}
	return out
}

// status is the line the live tree shows beside the supervisor's nursery:
// each child's state, its restarts and its last failure.
//
//	db: running; http: restarting, 2 restarts, last: connection refused
func (s *Supervisor) status() string {
	var b strings.Builder
	for i, c := range s.Children() {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", c.Name, c.State)
		if c.Restarts > 0 {
			fmt.Fprintf(&b, ", %d restart", c.Restarts)
			if c.Restarts > 1 {
				b.WriteString("s")
			}
		}
		if len(c.Failures) > 0 {
			last := c.Failures[len(c.Failures)-1].Error()
			if i := strings.IndexByte(last, '\n'); i >= 0 {
				last = last[:i] // a panic's stack stays out of the tree
			}
			fmt.Fprintf(&b, ", last: %s", last)
		}
	}
	return b.String()
}

func (s *Supervisor) indexLocked(name string) int {
	return slices.IndexFunc(s.children, func(c *child) bool { return c.spec.name == name })
}

func (s *Supervisor) duplicate(name string) error {
	return fmt.Errorf("supervisor %q: child %q already exists", s.name, name)
}

func (s *Supervisor) unknown(name string) error {
	return fmt.Errorf("supervisor %q: no child %q", s.name, name)
}

// Serve runs the supervisor until ctx ends or it gives up. It starts the
// children in order, each once the one before has called ready (or
// returned nil without calling it), then calls ready, and then supervises
// them. It is a [Service], so a supervisor can be the child of another.
//
// The children run in a nursery of their own, named after the supervisor,
// whose context does not end with ctx: when ctx ends, Serve stops them one
// by one in reverse order, cancelling each and giving it its grace period.
// A child that does not return within it is logged, given to the [Hook]
// (EventStopTimeout) and reported in Serve's error as a
// *[StopTimeoutError]; the others are stopped meanwhile. A goroutine
// cannot be killed, so Serve still returns only after every child has —
// the return of every child synchronizes before the return of Serve.
//
// Serve returns:
//   - a *[StartError] if a child failed before it was ready while Serve
//     started them (the started ones are stopped first, and ready is never
//     called);
//   - a *[GiveUpError] if restarts exceeded the [Intensity];
//   - a *[StopTimeoutError] if a child stopped by its strategy did not
//     return within its grace (restarting it would run two copies);
//   - otherwise, once ctx has ended, context.Cause(ctx) — joined with the
//     failures of children that did not return their cancellation when
//     stopped, and with any *StopTimeoutError.
//
// A panic in a child is its failure, as a *nursery.PanicError with its
// stack. A panic in the [Hook] is the supervisor's: it stops its children
// as when ctx ends, and returns the panic as a *nursery.PanicError (the
// hook is not called again). A child that calls runtime.Goexit is a bug
// that stops the whole supervisor: its nursery is cancelled, and Serve
// returns the nursery's error. If ready panics, the children are
// cancelled at once and waited for before the panic goes on. Serve panics
// if ctx is nil, or if it is already running — until the previous Serve
// has returned, that is, until all its children have.
func (s *Supervisor) Serve(ctx context.Context, ready func()) (err error) {
	if ctx == nil {
		panic("supervisor: nil Context")
	}
	s.mu.Lock()
	if s.run != nil {
		s.mu.Unlock()
		panic("supervisor: Serve of a supervisor already serving")
	}
	r := &run{
		s:      s,
		in:     nursery.New(context.WithoutCancel(ctx), nursery.WithName(s.name), nursery.WithStatus(s.status)),
		events: make(chan event, 16),
		done:   make(chan struct{}),
	}
	s.run = r
	for _, c := range s.children {
		c.pending, c.gen, c.state, c.runner = false, c.gen+1, Stopped, nil
	}
	s.mu.Unlock()
	stopCtx := r.onDone(ctx)
	stopIn := r.onDone(r.in.Context()) // a child called runtime.Goexit
	// The teardown runs on every way out of the loop, a panic or a
	// runtime.Goexit included (a bug, or a ready that panics): whatever
	// happens, nothing Serve started outlives it.
	defer func() { err = r.teardown(err, stopCtx, stopIn) }()
	return r.loop(ctx, ready)
}

// teardown ends a Serve: it tells Add and Remove that the loop has ended,
// cancels the children still running (none, unless the loop did not finish
// or a child is stuck) and waits for all of them, and only then marks the
// supervisor as not serving — so that a second Serve cannot start a second
// copy of a child the first still waits for.
func (r *run) teardown(err error, stopCtx, stopIn func()) error {
	s := r.s
	for _, c := range s.children {
		if c.runner != nil {
			close(c.runner)
			c.runner = nil
		}
	}
	close(r.done)
	stopCtx()
	stopIn()
	// Children still running (stuck ones) may yet send their exit: drain
	// the events until every child has returned.
	drained, stopDrain := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-r.events:
			case <-stopDrain:
				return
			}
		}
	}()
	r.in.Cancel(errStopping)
	werr := r.in.Wait()
	close(stopDrain)
	<-drained
	if werr != nil {
		err = errors.Join(err, werr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := r.adding; c != nil {
		// The loop ended while it started c: its Add fails, so c is not
		// added.
		if i := slices.Index(s.children, c); i >= 0 {
			s.children = slices.Delete(s.children, i, i+1)
		}
	}
	for _, c := range s.children {
		c.pending, c.state = false, Stopped // every child has returned
	}
	s.run = nil
	return err
}
