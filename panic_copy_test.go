package nursery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// A nursery never changes a *PanicError that another nursery (or anyone)
// raised: it reports a copy.
func TestNestedPanicErrorIsNotRewritten(t *testing.T) {
	t.Parallel()
	errOther := errors.New("other")
	var inner *nursery.Nursery
	r, panicked := catchPanic(func() {
		_ = nursery.Run(t.Context(), func(outer *nursery.Nursery) error {
			outer.Go(func(ctx context.Context) error {
				inner = nursery.New(ctx, nursery.WithName("inner"))
				inner.Go(func(context.Context) error { return errOther })
				inner.Go(func(ctx context.Context) error {
					<-ctx.Done()
					panic("boom")
				})
				return inner.Wait()
			}, nursery.Name("t1"))
			return nil
		}, nursery.WithName("outer"))
	})
	require.True(t, panicked)
	pe, ok := r.(*nursery.PanicError)
	require.True(t, ok)
	msg := pe.Error()
	assert.NotContains(t, msg, `task "t1" of nursery "inner"`)
	assert.Contains(t, msg, `panic of nursery "inner": boom [and 1 further failure collected]`)

	// The inner nursery still re-panics the value it made, unchanged.
	r2, panicked := catchPanic(func() { _ = inner.Wait() })
	require.True(t, panicked)
	pe2, ok := r2.(*nursery.PanicError)
	require.True(t, ok)
	assert.Empty(t, pe2.Task)
	assert.True(t, strings.HasPrefix(pe2.Error(), `panic of nursery "inner": boom [and 1 further failure collected]`), "%q", pe2.Error())
}

// A *PanicError re-raised in a task with no task name (as a subprocess call
// does for a remote panic) is reported with the task's name, on a copy.
func TestReraisedPanicErrorGetsTaskName(t *testing.T) {
	t.Parallel()
	remote := &nursery.PanicError{Value: "remote", Stack: []byte("remote stack")}
	for _, panicsAsErrors := range []bool{false, true} {
		t.Run(fmt.Sprint("PanicsAsErrors=", panicsAsErrors), func(t *testing.T) {
			t.Parallel()
			var opts []nursery.Option
			if panicsAsErrors {
				opts = append(opts, nursery.PanicsAsErrors())
			}
			var got any
			r, panicked := catchPanic(func() {
				got = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					n.Go(func(context.Context) error { panic(remote) }, nursery.Name("call"))
					return nil
				}, opts...)
			})
			if panicked {
				got = r
			}
			err, ok := got.(error)
			require.True(t, ok, "%v", got)
			var pe *nursery.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "call", pe.Task)
			assert.Equal(t, "remote", pe.Value)
			assert.Equal(t, "remote stack", string(pe.Stack))
			assert.Empty(t, remote.Task, "the re-raised value must not change")
		})
	}
}
