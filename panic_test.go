package nursery_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

var _ error = (*nursery.PanicError)(nil)

//go:noinline
func panickyHelper(v any) { panic(v) }

func TestPanicRepanicsInWaitCaller(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	n.Go(func(context.Context) error {
		panickyHelper("boom-value")
		return nil
	}, nursery.Name("worker-3"))
	r, panicked := catchPanic(func() { _ = n.Wait() })
	require.True(t, panicked, "Wait must re-panic in its caller's goroutine")
	pe, ok := r.(*nursery.PanicError)
	require.True(t, ok, "Wait must re-panic with a *PanicError, got %T", r)
	assert.Equal(t, "boom-value", pe.Value)
	assert.Equal(t, "worker-3", pe.Task)
	assert.Contains(t, string(pe.Stack), "panickyHelper", "Stack must be the panicking goroutine's stack")
	assert.Contains(t, pe.Error(), "boom-value")
	assert.Contains(t, pe.Error(), "worker-3", "the task's name is shown in panics")
}

func TestPanicErrorUnwrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		value     any
		unwrapped error
	}{
		{name: "error value", value: errBoom, unwrapped: errBoom},
		{name: "typed error value", value: &codeError{code: 3}, unwrapped: &codeError{code: 3}},
		{name: "string value", value: "just a string"},
		{name: "int value", value: 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			direct := &nursery.PanicError{Value: tt.value}
			assert.Equal(t, tt.unwrapped, errors.Unwrap(direct))

			n := nursery.New(t.Context(), nursery.PanicsAsErrors())
			n.Go(func(context.Context) error { panic(tt.value) })
			err := n.Wait()
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.value, pe.Value)
			assert.NotEmpty(t, pe.Stack)
			if tt.unwrapped != nil {
				assert.ErrorIs(t, err, errors.Unwrap(direct))
				if ce, ok := tt.value.(*codeError); ok {
					var got *codeError
					require.ErrorAs(t, err, &got)
					assert.Same(t, ce, got)
				}
			}
		})
	}
}

// panicModes are the two ways a nursery can report a task's panic.
var panicModes = []struct {
	name string
	opts []nursery.Option
}{{name: "default"}, {name: "PanicsAsErrors", opts: []nursery.Option{nursery.PanicsAsErrors()}}}

func TestPanicCancelsSiblingsAtOnce(t *testing.T) {
	t.Parallel()
	for _, mode := range panicModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), mode.opts...)
			released := goUntilCancelled(n)
			n.Go(func(context.Context) error { panic("sibling-killer") })
			// Nobody is in Wait yet: the panic alone must cancel the sibling.
			mustFinish(t, "sibling cancellation by a panic before Wait", func(context.Context) { <-released }, nil)
			_, _ = catchPanic(func() { _ = n.Wait() })
		})
	}
}

func TestPanicsAsErrorsReportsEveryPanic(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.PanicsAsErrors())
	var started sync.WaitGroup
	gate := make(chan struct{})
	started.Add(4)
	for _, v := range []string{"p0", "p1", "p2"} {
		n.Go(func(context.Context) error {
			started.Done()
			<-gate // does not look at ctx: all three panic
			panic(v)
		})
	}
	n.Go(func(context.Context) error { started.Done(); <-gate; return errBoom })
	started.Wait()
	close(gate)
	var err error
	require.NotPanics(t, func() { err = n.Wait() }, "PanicsAsErrors: Wait returns instead of re-panicking")
	require.Error(t, err)
	assert.ErrorIs(t, err, errBoom)
	values := map[any]int{}
	for _, leaf := range leaves(err) {
		var pe *nursery.PanicError
		if errors.As(leaf, &pe) {
			values[pe.Value]++
		}
	}
	assert.Equal(t, map[any]int{"p0": 1, "p1": 1, "p2": 1}, values, "every panic must be present in Wait's error")
}

// In default mode the first panic is re-raised and its message says how
// many further failures were collected.
func TestDefaultModeFirstPanicCountsFurtherFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		panics  []string
		errs    []error
		further int
	}{
		{name: "one panic, three errors", panics: []string{"only"}, errs: []error{errBoom, errOther, errRefused}, further: 3},
		{name: "three panics, one error", panics: []string{"a", "b", "c"}, errs: []error{errBoom}, further: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			var started sync.WaitGroup
			gate := make(chan struct{})
			started.Add(len(tt.panics) + len(tt.errs))
			for _, v := range tt.panics {
				n.Go(func(context.Context) error { started.Done(); <-gate; panic(v) })
			}
			for _, e := range tt.errs {
				n.Go(func(context.Context) error { started.Done(); <-gate; return e })
			}
			started.Wait()
			close(gate)
			r, panicked := catchPanic(func() { _ = n.Wait() })
			require.True(t, panicked)
			err, ok := r.(error)
			require.True(t, ok, "re-panicked value %T must be an error holding the *PanicError", r)
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, tt.panics, pe.Value)
			msg := panicText(r)
			assert.Regexp(t, regexp.MustCompile(`\b3\b`), msg, "the message must say how many further failures were collected")
		})
	}
}

// runtime.Goexit in a task counts as a failure, cancels siblings, and does
// not deadlock Wait.
func TestGoexitIsAFailure(t *testing.T) {
	t.Parallel()
	for _, mode := range panicModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), mode.opts...)
			released := goUntilCancelled(n)
			exiter := nursery.Spawn(n, func(context.Context) (int, error) {
				runtime.Goexit()
				return 1, nil
			})
			mustFinish(t, "sibling cancellation by Goexit", func(context.Context) { <-released }, nil)
			mustFinish(t, "Wait after Goexit", func(context.Context) {
				_, terr := exiter.Wait()
				assert.Error(t, terr, "Task.Wait of a task that called Goexit")
				err := n.Wait()
				require.Error(t, err, "Goexit counts as a failure")
				assert.Contains(t, strings.ToLower(err.Error()), "goexit", "Wait's error must say the task called runtime.Goexit")
				assert.NotErrorIs(t, err, context.Canceled)
			}, nil)
		})
	}
}

func TestPanicNilValue(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.PanicsAsErrors())
	n.Go(func(context.Context) error { panic(nil) }) //nolint:govet // deliberately panic(nil)
	err := n.Wait()
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	var pne *runtime.PanicNilError
	assert.ErrorAs(t, err, &pne, "panic(nil) is a *runtime.PanicNilError since Go 1.21")
}

func TestPanicInNestedNursery(t *testing.T) {
	t.Parallel()
	r, panicked := catchPanic(func() {
		_ = nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				inner := nursery.New(ctx)
				inner.Go(func(context.Context) error { panickyHelper("deep"); return nil }, nursery.Name("leaf"))
				return inner.Wait()
			}, nursery.Name("mid"))
			return nil
		})
	})
	require.True(t, panicked, "a nested panic must reach the outer Wait's caller")
	err, ok := r.(error)
	require.True(t, ok)
	// Find the innermost *PanicError: it holds the original value and stack.
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	for {
		inner, ok := pe.Value.(*nursery.PanicError)
		if !ok {
			break
		}
		pe = inner
	}
	assert.Equal(t, "deep", pe.Value)
	assert.Equal(t, "leaf", pe.Task)
	assert.Contains(t, string(pe.Stack), "panickyHelper")
}

// A panic does not crash sibling tasks' goroutines or the program.
func TestPanicDoesNotCrashSiblings(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.PanicsAsErrors(), nursery.CollectErrors())
	results := make(chan int, 10)
	var started sync.WaitGroup
	started.Add(10)
	gate := make(chan struct{})
	for i := range 10 {
		n.Go(func(context.Context) error {
			started.Done()
			<-gate
			if i%3 == 0 {
				panic(i)
			}
			results <- i
			return nil
		})
	}
	started.Wait()
	close(gate)
	err := n.Wait()
	close(results)
	var got []int
	for v := range results {
		got = append(got, v)
	}
	assert.ElementsMatch(t, []int{1, 2, 4, 5, 7, 8}, got)
	values := map[any]bool{}
	for _, leaf := range leaves(err) {
		var pe *nursery.PanicError
		if errors.As(leaf, &pe) {
			values[pe.Value] = true
		}
	}
	assert.Equal(t, map[any]bool{0: true, 3: true, 6: true, 9: true}, values)
}

// WithName and Name are shown in panics too.
func TestPanicMessageNamesNurseryAndTask(t *testing.T) {
	t.Parallel()
	for _, mode := range panicModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context(), append(mode.opts, nursery.WithName("outer"))...)
			n.Go(func(context.Context) error { panic("kaboom") }, nursery.Name("worker-7"))
			var msg string
			r, panicked := catchPanic(func() {
				if err := n.Wait(); err != nil {
					msg = err.Error()
				}
			})
			if panicked {
				msg = panicText(r)
			}
			require.NotEmpty(t, msg, "the panic must surface")
			assert.Contains(t, msg, "outer")
			assert.Contains(t, msg, "worker-7")
			assert.Contains(t, msg, "kaboom")
		})
	}
}
