package supervisor

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// A Service is what a supervisor runs as a child: it starts, calls ready
// once it can do its job (a server listening, a client connected), and runs
// until ctx ends or it fails. Returning nil, or returning its own
// cancellation after ctx ended, is a normal exit; any other error, or a
// panic, is a failure. A service that only does one piece of work may
// return nil without calling ready: its successors start then. Call ready
// at most once (later calls do nothing) and before returning; a child that
// never calls it and never returns holds up the start of its successors,
// so bound a slow start with a deadline of its own.
//
// [Supervisor.Serve] is a Service, so a supervisor can supervise another.
type Service func(ctx context.Context, ready func()) error

// A Restart says when a child is restarted, with Erlang/OTP's meaning.
// A Restart is a [ChildOption].
type Restart int

const (
	// Permanent children are always restarted, whatever their exit. It is
	// the default.
	Permanent Restart = iota
	// Transient children are restarted only after an abnormal exit: an
	// error other than their own cancellation, or a panic.
	Transient
	// Temporary children are never restarted, and they leave the
	// supervisor when they exit (or when the strategy stops them).
	Temporary
)

// String returns "permanent", "transient" or "temporary".
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return "Restart(?)"
}

func (r Restart) applyChild(s *Spec) {
	if r < Permanent || r > Temporary {
		panic("supervisor: unknown Restart")
	}
	s.restart = r
}

// A ChildOption configures one child: a [Restart] type or [Grace].
type ChildOption interface {
	applyChild(*Spec)
}

type childOptionFunc func(*Spec)

func (f childOptionFunc) applyChild(s *Spec) { f(s) }

// DefaultGrace is how long a child is given to return after it is
// cancelled, unless [Grace] says otherwise: Erlang's default shutdown time
// for a worker.
const DefaultGrace = 5 * time.Second

// Grace sets how long the child may take to return once the supervisor
// cancels it (default [DefaultGrace]). Give a child that is itself a
// supervisor at least the sum of its own children's graces. Grace panics if
// d <= 0.
func Grace(d time.Duration) ChildOption {
	if d <= 0 {
		panic("supervisor: Grace needs a positive duration")
	}
	return childOptionFunc(func(s *Spec) { s.grace = d })
}

// A Spec describes a child: its name, its service and how it is
// restarted and stopped. Make one with [Child]. A Spec is a value and may
// be copied.
type Spec struct {
	name    string
	fn      Service
	restart Restart
	grace   time.Duration
	site    string // file:line of the call to Child
}

// Child returns the spec of a child named name that runs fn. The name must
// be unique within its supervisor; it names the child's task in the nursery
// tree, its errors and its events. Child panics if name is empty or fn is
// nil.
func Child(name string, fn Service, opts ...ChildOption) Spec {
	if name == "" {
		panic("supervisor: child needs a name")
	}
	if fn == nil {
		panic("supervisor: nil Service")
	}
	s := Spec{name: name, fn: fn, restart: Permanent, grace: DefaultGrace}
	if _, file, line, ok := runtime.Caller(1); ok {
		s.site = filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file) + ":" + strconv.Itoa(line)
	}
	for _, o := range opts {
		o.applyChild(&s)
	}
	return s
}

// Name returns the child's name.
func (s Spec) Name() string { return s.name }

// A State is where a child is in its life.
type State int

const (
	// Stopped: not running — not started yet, or finished normally and
	// not to be restarted.
	Stopped State = iota
	// Starting: running, and has not called ready yet.
	Starting
	// Running: running, and has called ready.
	Running
	// Stopping: cancelled by the supervisor, not returned yet.
	Stopping
	// Restarting: exited, or stopped by its strategy, and waiting to be
	// started again (after a backoff delay, or behind its siblings).
	Restarting
	// Stuck: did not return within its grace period after being
	// cancelled; its goroutine is still running.
	Stuck
)

// String returns the state's name in lower case.
func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Stopping:
		return "stopping"
	case Restarting:
		return "restarting"
	case Stuck:
		return "stuck"
	}
	return "State(?)"
}

// ChildInfo is a snapshot of one child, from [Supervisor.Children].
type ChildInfo struct {
	Name    string
	Restart Restart
	State   State
	// Restarts counts the times the child was started again, by its own
	// exit or its strategy, since it was added.
	Restarts int
	// Failures holds the child's last failures, oldest first: at most
	// [MaxFailures] of them. A panic is a *nursery.PanicError.
	Failures []error
}

// MaxFailures is how many failures a supervisor keeps per child, so that
// its memory stays bounded however often children fail.
const MaxFailures = 4

// ring keeps the last MaxFailures errors.
type ring struct {
	errs [MaxFailures]error
	next int
	n    int
}

func (r *ring) push(err error) {
	r.errs[r.next] = err
	r.next = (r.next + 1) % MaxFailures
	if r.n < MaxFailures {
		r.n++
	}
}

// list returns the errors, oldest first, in a new slice.
func (r *ring) list() []error {
	if r.n == 0 {
		return nil
	}
	out := make([]error, 0, r.n)
	for i := range r.n {
		out = append(out, r.errs[(r.next-r.n+i+MaxFailures)%MaxFailures])
	}
	return out
}
