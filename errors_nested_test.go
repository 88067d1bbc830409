package nursery_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// A default-mode nested nursery re-panics inside a task of a PanicsAsErrors
// nursery: the outer returns it as the failure of its own task, and the
// message still names where the panic happened.
func TestNestedPanicIntoPanicsAsErrors(t *testing.T) {
	t.Parallel()
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(inner *nursery.Nursery) error {
				inner.Go(func(context.Context) error { panic("deep") }, nursery.Name("leaf"))
				return nil
			}, nursery.WithName("inner"))
		}, nursery.Name("mid"))
		return nil
	}, nursery.WithName("outer"), nursery.PanicsAsErrors(), nursery.CollectErrors())
	var te *nursery.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "outer", te.Nursery)
	assert.Equal(t, "mid", te.Task)
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "leaf", pe.Task)
	assert.True(t, strings.HasPrefix(err.Error(), `outer: mid: panic in task "leaf" of nursery "inner": deep`), "%q", err)
}

// Three levels of default-mode nurseries: each adds its further failures
// to the count, and none renames the panic.
func TestNestedPanicCountsAddUp(t *testing.T) {
	t.Parallel()
	errOther := errors.New("other")
	r, panicked := catchPanic(func() {
		_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(context.Context) error { return errOther }, nursery.Name("sib1"))
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(mid *nursery.Nursery) error {
					mid.Go(func(context.Context) error { return errOther }, nursery.Name("sib2"))
					mid.Go(func(ctx context.Context) error {
						return nursery.Run(ctx, func(leaf *nursery.Nursery) error {
							leaf.Go(func(ctx context.Context) error {
								<-ctx.Done()
								panic("deep")
							}, nursery.Name("p"))
							return errOther // fails the leaf nursery, then the panic
						}, nursery.WithName("leaf"))
					}, nursery.Name("m"))
					return nil
				}, nursery.WithName("mid"), nursery.CollectErrors())
			}, nursery.Name("o"))
			return nil
		}, nursery.WithName("outer"), nursery.CollectErrors())
	})
	require.True(t, panicked)
	pe, ok := r.(*nursery.PanicError)
	require.True(t, ok, "%T %v", r, r)
	assert.Equal(t, "p", pe.Task)
	// leaf: the body's error; mid: sib2; outer: sib1.
	assert.True(t, strings.HasPrefix(pe.Error(), `panic in task "p" of nursery "leaf": deep [and 3 further failures collected]`), "%q", pe.Error())
}

// A nested Run whose body passes the outer failure on adds nothing to the
// outer report; one whose body wraps it fails on its own.
func TestNestedRunBodyPassesOuterCause(t *testing.T) {
	t.Parallel()
	errX := errors.New("x")
	for _, wrap := range []bool{false, true} {
		t.Run(map[bool]string{false: "as is", true: "wrapped"}[wrap], func(t *testing.T) {
			t.Parallel()
			err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				a := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errX }, nursery.Name("a"))
				n.Go(func(ctx context.Context) error {
					return nursery.Run(ctx, func(inner *nursery.Nursery) error {
						<-a.Done()
						<-inner.Context().Done()
						if wrap {
							return errors.Join(errors.New("inner body"), context.Cause(inner.Context()))
						}
						return context.Cause(inner.Context())
					}, nursery.WithName("inner"))
				}, nursery.Name("b"))
				return nil
			})
			if !wrap {
				assert.Equal(t, "a: x", err.Error())
				return
			}
			// The cause the inner body passed on, joined with its own
			// failure, is the outer's own failure: reported once.
			assert.Equal(t, "a: x\nb: inner: inner body", err.Error())
		})
	}
}

// PanicsAsErrors with CollectErrors: a task failure and a panic, the body
// returning both as it got them from Task.Wait, each reported once; a
// Goexit in the body discards Run's result but does not hang or panic.
func TestPanicsAsErrorsCollectErrorsBody(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		f := nursery.Spawn(n, func(context.Context) (int, error) { return 0, errBoom }, nursery.Name("f"))
		p := nursery.Spawn(n, func(context.Context) (int, error) { panic("bang") }, nursery.Name("p"))
		_, ferr := f.Wait()
		_, perr := p.Wait()
		if ferr != nil {
			return ferr
		}
		return perr
	}, nursery.PanicsAsErrors(), nursery.CollectErrors())
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, 1, strings.Count(err.Error(), "boom"))
	assert.Equal(t, 1, strings.Count(err.Error(), "bang"))
	assert.Len(t, taskErrors(t, err), 2)

	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(context.Context) error { panic("bang") })
			n.Go(func(context.Context) error { return errBoom })
			runtime.Goexit()
			return nil
		}, nursery.PanicsAsErrors(), nursery.CollectErrors())
	}()
	assert.Nil(t, <-done)
}

// A nested nursery interrupted by the outer one's own failure reports its
// real failure joined with that cancellation; the outer reports the real
// failure and its own failure once each (found by FuzzTree: the outer's
// failure came back a second time inside the nested error).
func TestNestedErrorWithOuterCauseReportedOnce(t *testing.T) {
	t.Parallel()
	errA, errB := errors.New("a"), errors.New("b")
	for range 200 {
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			innerStarted := make(chan struct{}, 2)
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(func(ctx context.Context) error {
						innerStarted <- struct{}{}
						<-ctx.Done() // the outer's failure cancels it
						return errB  // ... and it fails on its own too
					})
					inner.Go(func(ctx context.Context) error {
						innerStarted <- struct{}{}
						<-ctx.Done()
						return context.Cause(ctx) // passes errA on
					})
					return nil
				})
			})
			n.Go(func(context.Context) error {
				<-innerStarted
				<-innerStarted
				return errA
			})
			return nil
		})
		require.ErrorIs(t, err, errA)
		require.ErrorIs(t, err, errB)
		require.Len(t, leaves(err), 2, "each failure once: %q", err)
	}
}
