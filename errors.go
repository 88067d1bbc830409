package nursery

import (
	"errors"
	"fmt"
	"strings"
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
	// names the nursery, when Wait re-panics with it.
	more    int
	nursery string
	// origin is the task's debug-mode record: its path and spawn site.
	origin *taskInfo
}

var _ error = (*PanicError)(nil)

// Error returns the panic value, the task's name (in debug mode also its
// path and spawn site, see [Debug]), how many further failures were
// collected, and the stack of the panicking goroutine.
func (e *PanicError) Error() string {
	var b strings.Builder
	b.WriteString("panic")
	if e.Task != "" {
		fmt.Fprintf(&b, " in task %q", e.Task)
	}
	if e.nursery != "" {
		fmt.Fprintf(&b, " of nursery %q", e.nursery)
	}
	if e.origin != nil {
		fmt.Fprintf(&b, " (%s)", e.origin.describe())
	}
	fmt.Fprintf(&b, ": %v", e.Value)
	if e.more > 0 {
		s := "s"
		if e.more == 1 {
			s = ""
		}
		fmt.Fprintf(&b, " [and %d further failure%s collected]", e.more, s)
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

// named prefixes an error with the names on its path (nursery, then task),
// keeping the original error reachable for errors.Is and errors.As.
type named struct {
	prefix string // "outer: worker-3"
	err    error
}

func (e *named) Error() string { return e.prefix + ": " + e.err.Error() }
func (e *named) Unwrap() error { return e.err }

// nameError wraps err with the non-empty names among names; it returns err
// itself when there are none.
func nameError(err error, names ...string) error {
	var prefix string
	for _, s := range names {
		if s == "" {
			continue
		}
		if prefix != "" {
			prefix += ": "
		}
		prefix += s
	}
	if prefix == "" {
		return err
	}
	return &named{prefix: prefix, err: err}
}

// indexError names the input of Gather or Map that failed.
type indexError struct {
	index int
	err   error
}

func (e *indexError) Error() string { return fmt.Sprintf("index %d: %v", e.index, e.err) }
func (e *indexError) Unwrap() error { return e.err }

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
