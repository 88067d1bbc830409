package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/structured-go/nursery"
)

// An EventKind says what happened to a child or its supervisor.
type EventKind int

const (
	// EventStart: a child was started.
	EventStart EventKind = iota
	// EventReady: a child called ready.
	EventReady
	// EventExit: a child returned; Err is its failure, nil for a normal
	// exit.
	EventExit
	// EventRestart: a child is to be started again after Delay.
	EventRestart
	// EventStopTimeout: a child did not return within its grace period.
	EventStopTimeout
	// EventGiveUp: the supervisor exceeded its intensity and stops; Err is
	// the *GiveUpError.
	EventGiveUp
)

// String returns the kind's name in lower case.
func (k EventKind) String() string {
	switch k {
	case EventStart:
		return "start"
	case EventReady:
		return "ready"
	case EventExit:
		return "exit"
	case EventRestart:
		return "restart"
	case EventStopTimeout:
		return "stop-timeout"
	case EventGiveUp:
		return "give-up"
	}
	return "EventKind(?)"
}

// An Event is one thing that happened in a supervisor, given to its
// [Hook] and logger.
type Event struct {
	Time       time.Time
	Kind       EventKind
	Supervisor string
	Child      string
	// Err is the child's failure (EventExit), or the supervisor's error
	// (EventStopTimeout, EventGiveUp); nil otherwise.
	Err error
	// Restarts is the child's restart count so far.
	Restarts int
	// Delay is the backoff before the restart (EventRestart).
	Delay time.Duration
	// Cause names the child whose exit made the strategy restart this one
	// (EventRestart): Child itself under OneForOne, a sibling's name for
	// the rest of its group under OneForAll and RestForOne.
	Cause string
}

func (k EventKind) level(err error) slog.Level {
	switch k {
	case EventStart, EventReady:
		return slog.LevelDebug
	case EventExit:
		if err != nil {
			return slog.LevelWarn
		}
		return slog.LevelInfo
	case EventRestart:
		return slog.LevelInfo
	}
	return slog.LevelError
}

// emit sends an event to the hook and the logger. It builds nothing when
// neither wants it.
func (r *run) emit(kind EventKind, c *child, err error, delay time.Duration) {
	r.emitCause(kind, c, err, delay, nil)
}

func (r *run) emitCause(kind EventKind, c *child, err error, delay time.Duration, cause *child) {
	cfg := &r.s.cfg
	l := cfg.logger
	if !cfg.loggerSet {
		l = slog.Default()
	}
	lvl := kind.level(err)
	logIt := l != nil && l.Enabled(context.Background(), lvl)
	hook := cfg.hook
	if r.hookErr != nil {
		hook = nil // it panicked: the supervisor is stopping
	}
	if hook == nil && !logIt {
		return
	}
	e := Event{Time: time.Now(), Kind: kind, Supervisor: r.s.name, Err: err, Delay: delay}
	if c != nil {
		e.Child = c.spec.name
		e.Restarts = c.restarts
	}
	if cause != nil {
		e.Cause = cause.spec.name
	}
	if hook != nil {
		r.callHook(hook, e)
	}
	if logIt {
		attrs := []slog.Attr{slog.String("supervisor", e.Supervisor)}
		if e.Child != "" {
			attrs = append(attrs, slog.String("child", e.Child), slog.Int("restarts", e.Restarts))
		}
		if kind == EventRestart {
			attrs = append(attrs, slog.Duration("delay", delay), slog.String("cause", e.Cause))
		}
		if err != nil {
			attrs = append(attrs, slog.Any("err", err))
		}
		l.LogAttrs(context.Background(), lvl, "supervisor: "+kind.String(), attrs...)
	}
}

// callHook calls the hook, and turns its panic into the failure of the
// supervisor: the loop sees r.cancelled, stops the children in reverse
// order and Serve returns the panic. Letting it unwind the loop instead
// would stop the children without their grace and ordering, and lose the
// events of the stop.
func (r *run) callHook(hook func(Event), e Event) {
	defer func() {
		if v := recover(); v != nil {
			r.hookErr = fmt.Errorf("supervisor %q: hook panicked: %w", r.s.name,
				&nursery.PanicError{Value: v, Stack: debug.Stack(), Task: r.s.name})
			r.cancelled = true
		}
	}()
	hook(e)
}
