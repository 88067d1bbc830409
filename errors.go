package nursery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/structured-go/nursery/internal/debughook"
)

// PanicError is a panic recovered from a task, carried to the place that
// waits for it. By default [Nursery.Wait] re-panics with it in the waiting
// goroutine; with [PanicsAsErrors] Wait returns it instead.
type PanicError struct {
	// Value is the value the task passed to panic.
	Value any
	// Stack is the stack of the goroutine that panicked, captured when the
	// panic was recovered, so it shows where the panic happened.
	Stack []byte
	// Task is the name of the task that panicked, or "" if it had none.
	Task string

	// more counts the failures collected besides this panic, and nursery
	// names the nursery, when Wait re-panics with it; raised marks the
	// copy that a Wait re-panics with, which already names where the
	// panic happened.
	more    int
	nursery string
	raised  bool
	// origin is the task's debug-mode record: its path and spawn site.
	origin debughook.Task
}

var _ error = (*PanicError)(nil)

// Error returns the panic value, the task's name (in debug mode also its
// path and spawn site, see package nurserydebug), how many further failures were
// collected, and the stack of the panicking goroutine.
func (e *PanicError) Error() string {
	var b strings.Builder
	b.WriteString("panic")
	if e.Task != "" {
		b.WriteString(" in task " + strconv.Quote(e.Task))
	}
	if e.nursery != "" {
		b.WriteString(" of nursery " + strconv.Quote(e.nursery))
	}
	if t := e.origin; t != nil {
		b.WriteString(" (")
		if p := t.Path(); p != "" {
			b.WriteString(p + ", ")
		}
		b.WriteString("spawned at " + t.Site() + ")")
	}
	b.WriteString(": ")
	fmt.Fprint(&b, e.Value)
	if e.more > 0 {
		s := "s"
		if e.more == 1 {
			s = ""
		}
		b.WriteString(" [and " + strconv.Itoa(e.more) + " further failure" + s + " collected]")
	}
	if len(e.Stack) > 0 {
		b.WriteString("\n\n")
		b.Write(e.Stack)
	}
	return b.String()
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through the panic (for example a panic(io.EOF)).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// errGoexit is the failure of a task that called runtime.Goexit: its function
// neither returned nor panicked, so there is no result to report.
var errGoexit = errors.New("nursery: task called runtime.Goexit")

// errNotReady is Start's error when the function returned nil without
// calling ready.
var errNotReady = errors.New("nursery: Start: function returned without calling ready")

// TaskError is a task's failure as [Nursery.Wait] reports it: every task
// failure that has something to name — a nursery or task name, an input
// index, a debug-mode spawn site — is a *TaskError (or, from a nursery
// nested in a task, wraps one), naming the nursery and task it came from.
// The failure of an unnamed task in an unnamed nursery is reported as the
// task returned it, as errgroup does, so that Wait's result of a single
// such failure is that very error. Its message
// is the non-empty names joined with ": ", then the error:
// "outer: worker-3: connection refused", or "index 2: boom" for an input
// of [Gather], [Map] or [First]. In debug mode (package nurserydebug) the message
// names the task's path and spawn site instead.
//
// The error of [Run]'s body and the parent's cancellation belong to the
// nursery, not to a task: Wait reports them as a *TaskError with Task ""
// when the nursery has a name, and as they are otherwise.
//
// Use errors.As to find one failure's TaskError. To list every failure,
// take Wait's error apart: several failures are joined, and the joined
// error's Unwrap() []error returns them, one *TaskError for each task (see
// the example).
type TaskError struct {
	// Nursery is the name of the task's nursery ([WithName]), or "".
	Nursery string
	// Task is the name of the task ([Name]), or "".
	Task string
	// Index is the index of the failed input for [Gather], [Map] and
	// [First], and -1 for other tasks.
	Index int
	// Err is the error the task returned (for a panic with
	// [PanicsAsErrors], its *[PanicError]).
	Err error

	// origin is the task's debug-mode record: its path and spawn site.
	origin debughook.Task
}

var _ error = (*TaskError)(nil)

// Error returns the names of the nursery and task and the index, each
// followed by ": ", then Err's message. A *PanicError names its task
// itself, so the task's name is not repeated before one.
func (e *TaskError) Error() string {
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	if t := e.origin; t != nil {
		if p := t.Path(); p != "" {
			b.WriteString(p + " ")
		}
		b.WriteString("[" + t.Site() + "]")
	} else {
		if e.Nursery != "" {
			b.WriteString(e.Nursery)
		}
		if pe, ok := e.Err.(*PanicError); e.Task != "" && (!ok || pe.Task != e.Task) {
			sep()
			b.WriteString(e.Task)
		}
	}
	if e.Index >= 0 {
		sep()
		b.WriteString("index " + strconv.Itoa(e.Index))
	}
	if e.Err != nil {
		sep()
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Err, so that errors.Is and errors.As see the task's error.
func (e *TaskError) Unwrap() error { return e.Err }

// failures are what went wrong in a nursery, and Wait's result. They live
// apart from the Nursery so that the common scope, where nothing fails,
// stays small.
type failures struct {
	errs   []error       // failures, in the order they happened, named
	raw    []error       // the same failures (and panics) as the tasks returned them
	panics []*PanicError // panics, in the order they happened

	err       error       // what Wait returns
	panicWith *PanicError // what Wait re-panics with, in default mode
}

// has reports whether err is one of the failures, as a task returned it
// (errors.Is both ways: the same value, not one that wraps it).
func (f *failures) has(err error) bool {
	for _, r := range f.raw {
		if errors.Is(err, r) && errors.Is(r, err) {
			return true
		}
	}
	return false
}

// indexed is the error a task of Gather or Map returns: the index of its
// input travels to the nursery, which reports it as TaskError.Index.
type indexed struct {
	index int
	err   error
}

func (e *indexed) Error() string { return "index " + strconv.Itoa(e.index) + ": " + errorText(e.err) }

// errorText is err's message, or "<nil>" as fmt shows a nil error.
func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
func (e *indexed) Unwrap() error { return e.err }

// join returns nil, the only error, or all of them joined.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// errBodyPanicked is the cause with which Run cancels its nursery when the
// body panics or calls runtime.Goexit.
var errBodyPanicked = errors.New("nursery: Run's body panicked")

// asTaskError finds the first *TaskError in err's tree, as errors.As would
// (depth first, in order), without the reflection errors.As links in.
func asTaskError(err error) *TaskError {
	for err != nil {
		switch e := err.(type) {
		case *TaskError:
			return e
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if te := asTaskError(inner); te != nil {
					return te
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
