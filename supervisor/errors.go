package supervisor

import (
	"errors"
	"fmt"
	"time"
)

// ErrStopped is returned by [Supervisor.Add] and [Supervisor.Remove] when
// the supervisor stops before it could do what they asked.
var ErrStopped = errors.New("supervisor: stopped")

// errStopping is the cause with which a supervisor cancels the children it
// stops; a child that returns it (or context.Canceled) exits normally.
var errStopping = errors.New("supervisor: child stopped by its supervisor")

// GiveUpError is what [Supervisor.Serve] returns when restarts exceeded the
// [Intensity]: it names the supervisor and the child whose exit was one
// restart too many, and carries that child's last failures.
type GiveUpError struct {
	Supervisor string
	Child      string
	// Restarts and Period are the intensity that was exceeded.
	Restarts int
	Period   time.Duration
	// Failures are the child's last failures, oldest first (at most
	// [MaxFailures]); the last is the one that made the supervisor give up,
	// unless the child exited normally.
	Failures []error
}

var _ error = (*GiveUpError)(nil)

// Error names the supervisor, the child and its last failure.
func (e *GiveUpError) Error() string {
	s := fmt.Sprintf("supervisor %q: gave up: more than %d restarts in %v, the last of child %q", e.Supervisor, e.Restarts, e.Period, e.Child)
	if n := len(e.Failures); n > 0 {
		s += ": " + e.Failures[n-1].Error()
	}
	return s
}

// Unwrap returns the child's last failures, so that errors.Is and
// errors.As reach them.
func (e *GiveUpError) Unwrap() []error { return e.Failures }

// StartError is what [Supervisor.Serve] returns when a child fails before
// it is ready while the supervisor starts, and what [Supervisor.Add]
// returns when the child it adds does: as in Erlang, a child that cannot
// start is not restarted.
type StartError struct {
	Supervisor string
	Child      string
	Err        error
}

var _ error = (*StartError)(nil)

// Error names the supervisor and the child, and gives its failure.
func (e *StartError) Error() string {
	return fmt.Sprintf("supervisor %q: child %q failed to start: %v", e.Supervisor, e.Child, e.Err)
}

// Unwrap returns the child's failure.
func (e *StartError) Unwrap() error { return e.Err }

// StopTimeoutError reports a child that did not return within its grace
// period after the supervisor cancelled it. A goroutine cannot be killed:
// the child keeps running, and the supervisor's [Supervisor.Serve] returns
// only once it has.
type StopTimeoutError struct {
	Supervisor string
	Child      string
	Grace      time.Duration
	// Site is where the child's spec was made (the call to [Child]), as
	// "dir/file.go:line", or "" if unknown.
	Site string
}

var _ error = (*StopTimeoutError)(nil)

// Error names the supervisor, the child and its grace, and where the child
// was defined.
func (e *StopTimeoutError) Error() string {
	s := fmt.Sprintf("supervisor %q: child %q did not stop within its grace period of %v", e.Supervisor, e.Child, e.Grace)
	if e.Site != "" {
		s += " (defined at " + e.Site + ")"
	}
	return s
}

// childError names the child whose failure it carries.
type childError struct {
	child string
	err   error
}

func (e *childError) Error() string { return e.child + ": " + e.err.Error() }
func (e *childError) Unwrap() error { return e.err }
