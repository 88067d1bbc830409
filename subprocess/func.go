package subprocess

import (
	"context"
	"encoding"
	"encoding/gob"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/structured-go/nursery"
)

// WorkerPool runs registered functions in other processes. [Pool] runs them
// in local worker processes; other transports (such as workers on other
// machines) implement WorkerPool too, so that [Func.Call] and [Func.Spawn]
// work unchanged with any of them.
//
// Invoke runs the function registered under the name fn with input in (a
// value of the function's In type) and decodes its result into out, a
// non-nil pointer to a value of its Out type (or nil to discard the
// result). An implementation must honour these rules, which Func.Call
// passes on to its callers:
//   - It returns nil when the function returned a nil error.
//   - It returns the function's error as a *[RemoteError] (or an error
//     matching [ErrUnknownFunc] when the serving process has no function of
//     that name), and a panic as a *nursery.PanicError, both built with
//     [WireError.Err].
//   - When ctx is done before the function returns, it asks the serving
//     side to cancel the call's context and returns context.Cause(ctx).
//   - It returns an error (and calls nothing) when in cannot be encoded.
//   - It does not touch out after it returns, and out only holds a result
//     when it returns nil.
//
// Invoke must be safe for concurrent use.
type WorkerPool interface {
	Invoke(ctx context.Context, fn string, in, out any) error
}

// Func is a function registered with [Register], to be called in a worker
// process through a [WorkerPool]. A Func is safe for concurrent use.
type Func[In, Out any] struct {
	name    string
	typeErr error // why In or Out cannot travel, found at registration
}

// Register registers fn under name, so that a worker process can run it,
// and returns a handle to call it with. Call Register during package
// initialization (in a package-level variable declaration), never
// conditionally: workers are fresh processes of the same program and find
// the function by its name in their own registry, which holds only what
// package initialization registered.
//
//	var hash = subprocess.Register("hash", func(ctx context.Context, path string) ([32]byte, error) {
//		...
//	})
//
// In and Out travel with encoding/gob: they must be concrete types that gob
// encodes, and types of interface fields must be registered with
// gob.Register. If In or Out contains a field that gob would silently drop
// (an exported func or chan field) or cannot encode at all, every call
// returns an error saying so, before anything is sent.
//
// Register panics if name is empty, longer than 65535 bytes or already
// registered, or if fn is nil.
func Register[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error)) *Func[In, Out] {
	if name == "" {
		panic("subprocess: Register with an empty name")
	}
	if len(name) > maxName {
		panic(fmt.Sprintf("subprocess: Register with a name of %d bytes; the limit is %d", len(name), maxName))
	}
	if fn == nil {
		panic("subprocess: Register with a nil function")
	}
	f := &Func[In, Out]{name: name}
	if err := checkType(reflect.TypeFor[In]()); err != nil {
		f.typeErr = fmt.Errorf("subprocess: %s: input type: %w", name, err)
	} else if err := checkType(reflect.TypeFor[Out]()); err != nil {
		f.typeErr = fmt.Errorf("subprocess: %s: result type: %w", name, err)
	}
	h := &Handler{
		name:    name,
		inType:  typeName(reflect.TypeFor[In]()),
		outType: typeName(reflect.TypeFor[Out]()),
		newIn:   func() any { return new(In) },
		call: func(ctx context.Context, in any) (any, error) {
			p, ok := in.(*In)
			if !ok {
				return nil, fmt.Errorf("subprocess: %s: input of type %T, want %T", name, in, p)
			}
			return fn(ctx, *p)
		},
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("subprocess: function %q registered twice", name))
	}
	registry.m[name] = h
	return f
}

// Name returns the name the function was registered under.
func (f *Func[In, Out]) Name() string { return f.name }

// Call runs the function in a worker of p with input in and returns its
// result. It returns once the call is over: the function returned, or its
// worker died, or ctx was done and the function then returned or was
// killed with its worker (see [CancelGrace]); in that last case Call
// returns context.Cause(ctx). Under a nursery, a call cancelled because a
// sibling task failed therefore returns that sibling's error, whatever it
// is (a *[CrashError] of another worker, say): compare the error with the
// task's own outcome only when its context was not cancelled.
//
// The function's error arrives as a *[RemoteError] with the original text,
// matching (with errors.Is) the registered sentinels the original matched
// (see [RegisterError]); a panic arrives as a *nursery.PanicError holding
// the worker's stack; the death of the worker as a *[CrashError].
func (f *Func[In, Out]) Call(ctx context.Context, p WorkerPool, in In) (Out, error) {
	var out Out
	if ctx == nil {
		panic("subprocess: nil Context")
	}
	if p == nil {
		panic("subprocess: Call with a nil WorkerPool")
	}
	if f.typeErr != nil {
		return out, f.typeErr
	}
	if err := p.Invoke(ctx, f.name, in, &out); err != nil {
		var zero Out
		return zero, err
	}
	return out, nil
}

// Spawn runs the function in a worker of p as a task of the nursery n and
// returns the task; [nursery.Task.Wait] returns what [Func.Call] returns.
// The task is named after the function unless opts name it. A panic in the
// worker is re-raised in the task, so that it behaves exactly like a panic
// of an in-process task: it cancels the nursery's other tasks and reaches
// Wait as a *nursery.PanicError holding the worker's stack, whose Task is
// the task's name.
//
// A call cancelled because another task panicked returns an error matching
// context.Canceled, not that task's *nursery.PanicError: it is a
// cancellation, and the nursery counts the panic once.
func (f *Func[In, Out]) Spawn(n *nursery.Nursery, p WorkerPool, in In, opts ...nursery.TaskOption) *nursery.Task[Out] {
	opts = append([]nursery.TaskOption{nursery.Name(f.name)}, opts...)
	return nursery.Spawn(n, func(ctx context.Context) (Out, error) {
		out, err := f.Call(ctx, p, in)
		pe, ok := err.(*nursery.PanicError)
		if !ok {
			return out, err
		}
		if ctx.Err() != nil && err == context.Cause(ctx) {
			// The cause of the cancellation, which Call returns, is
			// another task's panic: re-raising it would count that
			// panic once per cancelled sibling (and share one value
			// between their goroutines).
			return out, fmt.Errorf("subprocess: %s: %w by a panic in another task", f.name, context.Canceled)
		}
		// The panic is this call's own, freshly decoded. Leave Task
		// empty: the nursery fills in the task's name.
		local := *pe
		local.Task = ""
		panic(&local)
	}, opts...)
}

// registry holds the registered functions by name.
var registry = struct {
	sync.RWMutex
	m map[string]*Handler
}{m: make(map[string]*Handler)}

// Handler is a registered function seen the way a transport sees it: by
// name, with its input and result as values of type any. Worker-side
// transports find it with [Lookup], decode a call's input into the pointer
// [Handler.NewInput] returns, run [Handler.Call] and send back its result,
// or its error as a [WireError]. A Handler is safe for concurrent use.
type Handler struct {
	name            string
	inType, outType string // for the build's fingerprint
	newIn           func() any
	call            func(ctx context.Context, in any) (any, error)
}

// typeName names t with its package path, for the build's fingerprint.
func typeName(t reflect.Type) string {
	return t.PkgPath() + " " + t.String()
}

// Lookup returns the function registered under name, if there is one.
func Lookup(name string) (*Handler, bool) {
	registry.RLock()
	h, ok := registry.m[name]
	registry.RUnlock()
	return h, ok
}

// lookupBytes is Lookup without allocating a string.
func lookupBytes(name []byte) (*Handler, bool) {
	registry.RLock()
	h, ok := registry.m[string(name)]
	registry.RUnlock()
	return h, ok
}

// Names returns the names of all registered functions, sorted.
func Names() []string {
	registry.RLock()
	names := make([]string, 0, len(registry.m))
	for name := range registry.m {
		names = append(names, name)
	}
	registry.RUnlock()
	slices.Sort(names)
	return names
}

// Name returns the name the function was registered under.
func (h *Handler) Name() string { return h.name }

// NewInput returns a pointer to a new zero value of the function's input
// type, to decode a call's input into.
func (h *Handler) NewInput() any { return h.newIn() }

// Call runs the function with the input in points to (a pointer returned
// by [Handler.NewInput]) and returns its result (a value of its Out type)
// and error. A panic in the function is recovered and returned as a
// *nursery.PanicError holding the panicking goroutine's stack, which
// [NewWireError] turns into a panic on the calling side.
//
// If the function calls runtime.Goexit, the goroutine running Call exits,
// as it would anywhere; a transport should run each call on a goroutine of
// its own whose deferred code replies with an error in that case.
func (h *Handler) Call(ctx context.Context, in any) (out any, err error) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if r := recover(); r != nil {
			out, err = nil, &nursery.PanicError{Value: r, Stack: debug.Stack(), Task: h.name}
		}
	}()
	out, err = h.call(ctx, in)
	returned = true
	return out, err
}

var (
	gobEncoderType    = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshalType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// checkType reports why gob cannot carry values of type t faithfully: the
// types it refuses (functions, channels, structs without exported fields)
// and the exported func and chan fields of structs, which it silently
// drops, so that they would arrive nil. Interfaces at the top level are
// refused too: gob only decodes them from values sent as interfaces.
func checkType(t reflect.Type) error {
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("%v is an interface type; use a concrete type", t)
	}
	return checkTypeIn(t, t.String(), make(map[reflect.Type]bool))
}

func checkTypeIn(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	for _, m := range []reflect.Type{gobEncoderType, binaryMarshalType, textMarshalType} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return nil // gob uses the type's own encoding
		}
	}
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return fmt.Errorf("%s has type %v, which gob cannot encode", path, t)
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return checkTypeIn(t.Elem(), path, seen)
	case reflect.Map:
		if err := checkTypeIn(t.Key(), path, seen); err != nil {
			return err
		}
		return checkTypeIn(t.Elem(), path, seen)
	case reflect.Struct:
		exported := 0
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			exported++
			fpath := path + "." + sf.Name
			switch sf.Type.Kind() {
			case reflect.Func, reflect.Chan:
				return fmt.Errorf("field %s has type %v, which gob does not send (it would arrive as nil)", fpath, sf.Type)
			}
			if err := checkTypeIn(sf.Type, fpath, seen); err != nil {
				return err
			}
		}
		if exported == 0 && t.NumField() > 0 {
			return fmt.Errorf("%s: type %v has no exported fields, which gob cannot encode", path, t)
		}
	}
	return nil
}
