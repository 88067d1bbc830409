package subprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/structured-go/nursery"
)

var (
	// ErrPoolClosed is the error of a call made on a [Pool] after [Pool.Close]
	// or after the pool's context ended; in the latter case the error also
	// matches the context's cause.
	ErrPoolClosed = errors.New("subprocess: pool closed")

	// ErrUnknownFunc is matched (with errors.Is) by the error of a call
	// whose function name is not registered in the process that serves it,
	// typically because [Register] ran after package initialization, or
	// only in the parent.
	ErrUnknownFunc = RegisterError("subprocess.ErrUnknownFunc", errors.New("subprocess: unknown function"))
)

// errorRegistry maps names to sentinel errors whose identity survives the
// trip from a worker (see [RegisterError]).
var errorRegistry = struct {
	sync.RWMutex
	names []string
	errs  map[string]error
}{errs: make(map[string]error)}

// These standard sentinels are registered by the package, so that
// errors.Is(err, context.DeadlineExceeded), errors.Is(err, fs.ErrNotExist)
// and the like hold for errors that come from a worker.
func init() {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"context.Canceled", context.Canceled},
		{"context.DeadlineExceeded", context.DeadlineExceeded},
		{"errors.ErrUnsupported", errors.ErrUnsupported},
		{"io.EOF", io.EOF},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
		{"fs.ErrInvalid", fs.ErrInvalid},
		{"fs.ErrPermission", fs.ErrPermission},
		{"fs.ErrExist", fs.ErrExist},
		{"fs.ErrNotExist", fs.ErrNotExist},
		{"fs.ErrClosed", fs.ErrClosed},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
		{"nursery.ErrTimeout", nursery.ErrTimeout},
	} {
		RegisterError(e.name, e.err)
	}
}

// RegisterError makes err a sentinel that keeps its identity across
// processes: when a function running in a worker returns an error e for
// which errors.Is(e, err) holds, the caller's error matches err too. It
// returns err, so that a sentinel can be declared and registered at once:
//
//	var ErrNotFound = subprocess.RegisterError("myapp.ErrNotFound", errors.New("myapp: not found"))
//
// The name identifies the error on the wire and must be the same in every
// process; as with [Register], call RegisterError during package
// initialization. The standard sentinels of context, io, io/fs, os and
// errors (such as context.DeadlineExceeded and fs.ErrNotExist) and
// nursery.ErrTimeout are registered already. RegisterError panics if name
// is empty or already registered, or if err is nil.
func RegisterError(name string, err error) error {
	if name == "" {
		panic("subprocess: RegisterError with an empty name")
	}
	if err == nil {
		panic("subprocess: RegisterError with a nil error")
	}
	errorRegistry.Lock()
	defer errorRegistry.Unlock()
	if _, dup := errorRegistry.errs[name]; dup {
		panic(fmt.Sprintf("subprocess: error %q registered twice", name))
	}
	errorRegistry.names = append(errorRegistry.names, name)
	errorRegistry.errs[name] = err
	return err
}

// sentinelsOf returns the names of the registered errors that err matches.
func sentinelsOf(err error) []string {
	errorRegistry.RLock()
	defer errorRegistry.RUnlock()
	var names []string
	for _, name := range errorRegistry.names {
		if errors.Is(err, errorRegistry.errs[name]) {
			names = append(names, name)
		}
	}
	return names
}

// RemoteError is an error returned by a registered function in another
// process. Its text is the original error's text; errors.Is matches the
// registered sentinels (see [RegisterError]) that the original matched.
type RemoteError struct {
	// Func is the name of the registered function.
	Func string
	// Message is the text of the original error.
	Message string
	// Sentinels holds the names of the registered errors that the
	// original error matched.
	Sentinels []string
}

var _ error = (*RemoteError)(nil)

// Error returns the original error's text.
func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the registered sentinel errors that the original error
// matched, so that errors.Is and errors.As find them.
func (e *RemoteError) Unwrap() []error {
	if len(e.Sentinels) == 0 {
		return nil
	}
	errorRegistry.RLock()
	defer errorRegistry.RUnlock()
	errs := make([]error, 0, len(e.Sentinels))
	for _, name := range e.Sentinels {
		if err, ok := errorRegistry.errs[name]; ok {
			errs = append(errs, err)
		}
	}
	return errs
}

// WireError is the serializable form of a registered function's failure,
// for transports that carry calls between processes: the worker side turns
// the error returned by [Handler.Call] into a WireError with
// [NewWireError], sends it (its fields are plain data, fit for gob or JSON),
// and the calling side turns it back into an error with [WireError.Err].
type WireError struct {
	// Message is the error's text, or the panic value formatted with %v.
	Message string
	// Sentinels holds the names of the registered errors that the error
	// (or the panic value) matched.
	Sentinels []string
	// Panicked reports that the function panicked.
	Panicked bool
	// ValueIsError reports that the panic value was an error.
	ValueIsError bool
	// Stack is the stack of the goroutine that panicked, in the worker.
	Stack []byte
}

// NewWireError returns the serializable form of err, an error returned by
// [Handler.Call]: a *nursery.PanicError (a recovered panic) becomes a
// panic, anything else an error with its text and the names of the
// registered sentinels it matches. It returns nil if err is nil.
func NewWireError(err error) *WireError {
	if err == nil {
		return nil
	}
	if pe, ok := err.(*nursery.PanicError); ok {
		w := &WireError{Panicked: true, Stack: pe.Stack}
		if e, ok := pe.Value.(error); ok {
			w.Message, w.ValueIsError, w.Sentinels = e.Error(), true, sentinelsOf(e)
		} else {
			w.Message = fmt.Sprint(pe.Value)
		}
		return w
	}
	return &WireError{Message: err.Error(), Sentinels: sentinelsOf(err)}
}

// Err returns the error that a call of the registered function fn reports
// for w: a *[RemoteError], or for a panic a *nursery.PanicError whose Task
// is fn, whose Stack is the worker's stack, and whose Value is the panic
// value's text or, if the value was an error, a *RemoteError (so that
// errors.Is sees through the panic as it does in-process).
func (w *WireError) Err(fn string) error {
	re := &RemoteError{Func: fn, Message: w.Message, Sentinels: w.Sentinels}
	if !w.Panicked {
		return re
	}
	var v any = w.Message
	if w.ValueIsError {
		v = re
	}
	return &nursery.PanicError{Value: v, Stack: w.Stack, Task: fn}
}

// CrashError is the error of a call whose worker process died while
// running it: it exited, was killed by a signal (including the kernel's OOM
// killer), or was killed by the pool (see [CancelGrace]). Only the calls
// that the worker was running fail; the pool replaces the worker.
type CrashError struct {
	// Func is the name of the registered function that was called.
	Func string
	// ExitCode is the worker's exit code, or -1 if a signal killed it.
	ExitCode int
	// Signal names the signal that killed the worker ("killed",
	// "terminated", ...), or is "" if it exited.
	Signal string
	// StderrTail holds the last bytes the worker wrote to its standard
	// error (see [StderrTail]): a Go panic's trace, a fatal error, the
	// message before an os.Exit.
	StderrTail string
	// Pid is the worker's process ID.
	Pid int
	// Reason says why the pool killed the worker, if it did.
	Reason string
	// Concurrent is the number of other calls the worker was running when
	// it died (calls sent to it and not answered). With 0, this call ran
	// alone, so the crash came from its function, or from outside the
	// worker (a kill command, the OOM killer: see Signal). With more, any
	// of those calls may have caused it, and the pool cannot tell which:
	// they all fail with the same exit status. [CallsPerWorker](1) makes
	// every call run alone.
	Concurrent int
}

var _ error = (*CrashError)(nil)

// Error describes how the worker ended, says how many other calls it was
// running when there were any, and quotes the last line of its standard
// error.
func (e *CrashError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "subprocess: worker %d running %s ", e.Pid, e.Func)
	switch e.Concurrent {
	case 0:
	case 1:
		b.WriteString("beside 1 other call ")
	default:
		fmt.Fprintf(&b, "beside %d other calls ", e.Concurrent)
	}
	if e.Signal != "" {
		fmt.Fprintf(&b, "was killed by signal %q", e.Signal)
	} else {
		fmt.Fprintf(&b, "exited with code %d", e.ExitCode)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	if line := lastLine(e.StderrTail); line != "" {
		fmt.Fprintf(&b, "; stderr: %s", line)
	}
	return b.String()
}

func lastLine(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
