// Package ctxsuite is Go's own tests for package context —
// $(go env GOROOT)/src/context: context_test.go, x_test.go, afterfunc_test.go
// and example_test.go — translated to the contexts the library hands out.
// Users pass those contexts to everything (net/http, database/sql,
// context.AfterFunc, context.WithoutCancel, context.Cause...), so they must
// behave exactly like the standard library's own. Each test names the
// original it translates.
//
// The contexts under test are Kinds: a nursery's context, the context of a
// task started with Go, Spawn (its lazy taskContext), Start and the Timeout
// option ([NurseryKinds]), and the deadline scopes FailAfter, MoveOnAfter
// and Shield ([ScopeKinds]). Each package's conformance_context_test.go runs
// the suite with [Run] on the kinds its test binary makes: the root
// package's on plain nurseries and the scopes, nurserydebug's on debug
// mode's contexts, and nurserytree's on the contexts of nurseries in the
// live tree (wrapped to answer the tree's private key).
//
// Tests that failed because the library's context misbehaved are marked
// "Failed, and was fixed:" with the cause.
//
// Only tests import this package.
package ctxsuite

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// Run runs every test of the suite as a subtest of t, named after what it
// translates, and in each, a subtest in a synctest bubble per kind of kinds
// that the test applies to. A test that applies to none of kinds is skipped.
func Run(t *testing.T, kinds ...Kind) {
	s := &suite{kinds: kinds}
	for _, test := range []struct {
		name string
		f    func(t *testing.T)
	}{
		{"ParentFinishesChild", s.testParentFinishesChild},
		{"LibraryFinishesChild", s.testLibraryFinishesChild},
		{"ChildFinishesFirst", s.testChildFinishesFirst},
		{"CancelRemoves", s.testCancelRemoves},
		{"CustomContextGoroutines", s.testCustomContextGoroutines},
		{"WithCancel", s.testWithCancel},
		{"Deadline", s.testDeadline},
		{"Timeout", s.testTimeout},
		{"InvalidDerivedFail", s.testInvalidDerivedFail},
		{"CanceledTimeout", s.testCanceledTimeout},
		{"Values", s.testValues},
		{"PprofLabels", s.testPprofLabels},
		{"String", s.testString},
		{"Allocs", s.testAllocs},
		{"SimultaneousCancels", s.testSimultaneousCancels},
		{"InterlockedCancels", s.testInterlockedCancels},
		{"LayersCancel", s.testLayersCancel},
		{"LayersTimeout", s.testLayersTimeout},
		{"WithCancelCanceledParent", s.testWithCancelCanceledParent},
		{"WithCancelSimultaneouslyCanceledParent", s.testWithCancelSimultaneouslyCanceledParent},
		{"DeadlineExceededSupportsTimeout", s.testDeadlineExceededSupportsTimeout},
		{"Cause", s.testCause},
		{"CauseRace", s.testCauseRace},
		{"WithoutCancel", s.testWithoutCancel},
		{"CustomContextPropagation", s.testCustomContextPropagation},
		{"CustomContextCause", s.testCustomContextCause},
		{"AfterFuncCalledAfterCancel", s.testAfterFuncCalledAfterCancel},
		{"AfterFuncCalledAfterTimeout", s.testAfterFuncCalledAfterTimeout},
		{"AfterFuncCalledImmediately", s.testAfterFuncCalledImmediately},
		{"AfterFuncNotCalledAfterStop", s.testAfterFuncNotCalledAfterStop},
		{"AfterFuncCalledAsynchronously", s.testAfterFuncCalledAsynchronously},
		{"CustomContextAfterFunc", s.testCustomContextAfterFunc},
		{"CustomContextAfterFuncUnregister", s.testCustomContextAfterFuncUnregister},
		{"ErrDoneRace", s.testErrDoneRace},
		{"WithDeadlineCause", s.testWithDeadlineCause},
		{"ConcurrentUse", s.testConcurrentUse},
		{"ExoticParents", s.testExoticParents},
		{"ExampleWithCancel", s.testExampleWithCancel},
		{"ExampleWithDeadline", s.testExampleWithDeadline},
		{"ExampleWithValue", s.testExampleWithValue},
		{"ExampleAfterFuncCond", s.testExampleAfterFuncCond},
		{"ExampleAfterFuncMerge", s.testExampleAfterFuncMerge},
	} {
		t.Run(test.name, test.f)
	}
}

// A suite runs its tests on its kinds.
type suite struct {
	kinds []Kind
}

const (
	ctxShort    = time.Millisecond // a deadline that fires (in a synctest bubble's fake time)
	ctxVeryLong = 1000 * time.Hour // a deadline that never fires during a test
)

// A Kind is one way to obtain a context from the library.
type Kind struct {
	name string
	// open obtains the library's context derived from parent; d is its own
	// deadline for the kinds that have one. open hands over a context that
	// stays as the library made it until libCtx.close; its ctx is nil if the
	// library handed none out (a task does not start once its nursery's
	// context is done).
	open     func(parent context.Context, d time.Duration) *libCtx
	cancels  bool // the library can cancel the context itself (libCtx.cancel)
	task     bool // a task's context: none is handed out once the parent is done
	deadline bool // the context has its own deadline, d from now
	detached bool // the context ignores its parent's cancellation and deadline (Shield)
}

// A libCtx is a context the library handed out, held open for the test.
type libCtx struct {
	ctx     context.Context   // nil if the library handed none out
	cancel  func(cause error) // the library's own cancellation (Nursery.Cancel, Task.Cancel), or nil
	release func() error
	once    sync.Once
	err     error
}

// close ends the scope that handed the context out (the task returns, the
// nursery is waited for) and returns the scope's error.
func (h *libCtx) close() error {
	h.once.Do(func() { h.err = h.release() })
	return h.err
}

// parked holds a library callback's context for the test: the callback hands
// its context over and blocks until the test releases it.
type parked struct {
	got     chan context.Context
	release chan struct{}
}

func newParked() *parked {
	return &parked{got: make(chan context.Context), release: make(chan struct{})}
}

// hold is what the library's callback calls with its context.
func (p *parked) hold(ctx context.Context) {
	p.got <- ctx
	<-p.release
}

// run runs scope, which returns once the callback has, on a goroutine of its
// own, and returns when the callback has handed its context over or scope
// has returned without calling it. If scope panics, the panic goes on in
// run's caller, or in close's once the context was handed over.
func (p *parked) run(scope func() error, cancel func(error)) *libCtx {
	type result struct {
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		r.panicked = "runtime.Goexit or panic(nil)"
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.panicked = v
				}
			}()
			r.err = scope()
			r.panicked = nil
		}()
	}()
	finish := func(r result) error {
		if r.panicked != nil {
			panic(r.panicked)
		}
		return r.err
	}
	select {
	case ctx := <-p.got:
		return &libCtx{ctx: ctx, cancel: cancel, release: func() error {
			close(p.release)
			return finish(<-done)
		}}
	case r := <-done:
		err := finish(r)
		return &libCtx{release: func() error { return err }}
	}
}

// NurseryKinds are a nursery's context and its tasks' contexts, for
// nurseries made with opts; names start with prefix.
func NurseryKinds(prefix string, opts ...nursery.Option) []Kind {
	noOpts := func(time.Duration) []nursery.TaskOption { return nil }
	timeout := func(d time.Duration) []nursery.TaskOption { return []nursery.TaskOption{nursery.Timeout(d)} }
	goKind := func(name string, topts func(time.Duration) []nursery.TaskOption, deadline bool) Kind {
		return Kind{name: prefix + name, cancels: true, task: true, deadline: deadline,
			open: func(parent context.Context, d time.Duration) *libCtx {
				n := nursery.New(parent, opts...)
				p := newParked()
				n.Go(func(ctx context.Context) error { p.hold(ctx); return nil }, topts(d)...)
				return p.run(n.Wait, n.Cancel)
			}}
	}
	spawnKind := func(name string, topts func(time.Duration) []nursery.TaskOption, deadline bool) Kind {
		return Kind{name: prefix + name, cancels: true, task: true, deadline: deadline,
			open: func(parent context.Context, d time.Duration) *libCtx {
				n := nursery.New(parent, opts...)
				p := newParked()
				task := nursery.Spawn(n, func(ctx context.Context) (int, error) { p.hold(ctx); return 0, nil }, topts(d)...)
				return p.run(n.Wait, task.Cancel)
			}}
	}
	return []Kind{
		{name: prefix + "Nursery.Context", cancels: true, open: func(parent context.Context, _ time.Duration) *libCtx {
			n := nursery.New(parent, opts...)
			return &libCtx{ctx: n.Context(), cancel: n.Cancel, release: n.Wait}
		}},
		goKind("Go", noOpts, false),
		goKind("Go+Timeout", timeout, true),
		spawnKind("Spawn", noOpts, false),
		spawnKind("Spawn+Timeout", timeout, true),
		{name: prefix + "Start", cancels: true, task: true, open: func(parent context.Context, _ time.Duration) *libCtx {
			n := nursery.New(parent, opts...)
			p := newParked()
			return p.run(func() error {
				_, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
					ready(0)
					p.hold(ctx)
					return nil
				})
				return errors.Join(err, n.Wait())
			}, n.Cancel)
		}},
	}
}

// ScopeKinds are the deadline scopes: fn's context, d from now.
func ScopeKinds() []Kind {
	return []Kind{
		{name: "FailAfter", deadline: true, open: func(parent context.Context, d time.Duration) *libCtx {
			p := newParked()
			return p.run(func() error {
				return nursery.FailAfter(parent, d, func(ctx context.Context) error { p.hold(ctx); return nil })
			}, nil)
		}},
		{name: "MoveOnAfter", deadline: true, open: func(parent context.Context, d time.Duration) *libCtx {
			p := newParked()
			return p.run(func() error {
				_, err := nursery.MoveOnAfter(parent, d, func(ctx context.Context) error { p.hold(ctx); return nil })
				return err
			}, nil)
		}},
		{name: "Shield", deadline: true, detached: true, open: func(parent context.Context, d time.Duration) *libCtx {
			p := newParked()
			return p.run(func() error {
				return nursery.Shield(parent, d, func(ctx context.Context) error { p.hold(ctx); return nil })
			}, nil)
		}},
	}
}

// forKinds runs f, in a synctest bubble, as a subtest for each kind that
// applies holds for (nil: every kind), and skips the test if there is none.
func (s *suite) forKinds(t *testing.T, applies func(Kind) bool, f func(t *testing.T, k Kind)) {
	t.Helper()
	ran := false
	for _, k := range s.kinds {
		if applies != nil && !applies(k) {
			continue
		}
		ran = true
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { f(t, k) })
		})
	}
	if !ran {
		t.Skip("no context of the kinds under test applies")
	}
}

// Which kinds a test applies to.
func kindAttached(k Kind) bool    { return !k.detached }
func kindCancels(k Kind) bool     { return k.cancels }
func kindHasDeadline(k Kind) bool { return k.deadline }

// open obtains k's context from parent, to be closed when the test ends; it
// requires that the library handed one out.
func open(t *testing.T, k Kind, parent context.Context) *libCtx {
	t.Helper()
	return openFor(t, k, parent, ctxVeryLong)
}

// openFor is open with d as the context's own deadline.
func openFor(t *testing.T, k Kind, parent context.Context, d time.Duration) *libCtx {
	t.Helper()
	h := k.open(parent, d)
	t.Cleanup(func() { _ = h.close() })
	require.NotNil(t, h.ctx, "%s handed out no context", k.name)
	return h
}

// openCancelable opens k's context under a cancelable parent and returns the
// way to cancel it with a cause: the library's own if it has one, else the
// parent's.
func openCancelable(t *testing.T, k Kind) (*libCtx, func(cause error)) {
	t.Helper()
	parent, cancelParent := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancelParent(nil) })
	h := open(t, k, parent)
	if h.cancel != nil {
		return h, h.cancel
	}
	require.False(t, k.detached, "nothing cancels %s", k.name)
	return h, cancelParent
}

// IsDone reports whether ctx's Done channel is closed now.
func IsDone(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// requireDone asserts that ctx is done, now, with err.
func requireDone(t *testing.T, ctx context.Context, err error, name string) {
	t.Helper()
	assert.True(t, IsDone(ctx), "<-%s.Done() blocked, but shouldn't have", name)
	assert.Equal(t, err, ctx.Err(), "%s.Err()", name)
}

// requireLive asserts that ctx is not done.
func requireLive(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	assert.False(t, IsDone(ctx), "<-%s.Done() did not block", name)
	assert.NoError(t, ctx.Err(), "%s.Err()", name)
}

// otherContext is a Context that's not one of the types defined in package
// context (as in x_test.go).
type otherContext struct {
	context.Context
}

// myDoneCtx hides its parent's Done channel (as in context_test.go): the
// context package must start a goroutine for a child of it.
type myDoneCtx struct {
	context.Context
}

func (d *myDoneCtx) Done() <-chan struct{} { return make(chan struct{}) }

// propagators counts the goroutines that package context started to carry a
// parent's cancellation to a child it could not register with.
func propagators() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return bytes.Count(buf, []byte("context.(*cancelCtx).propagateCancel.func"))
}
