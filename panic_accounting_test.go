package nursery_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// A body that exits with runtime.Goexit (t.FailNow) never swallows a
// task's panic: the panic wins.
func TestRunBodyGoexitKeepsTaskPanic(t *testing.T) {
	t.Parallel()
	for _, panicsAsErrors := range []bool{false, true} {
		t.Run(fmt.Sprint("PanicsAsErrors=", panicsAsErrors), func(t *testing.T) {
			t.Parallel()
			var opts []nursery.Option
			if panicsAsErrors {
				opts = append(opts, nursery.PanicsAsErrors())
			}
			got := make(chan any, 1)
			go func() {
				defer func() { got <- recover() }()
				_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
					n.Go(func(context.Context) error { panic("boom") }, nursery.Name("p"))
					<-n.Context().Done()
					runtime.Goexit()
					return nil
				}, opts...)
			}()
			r := <-got
			if panicsAsErrors {
				// The panic is an error Run would return: Goexit
				// discards Run's result, as it does a task's error.
				assert.Nil(t, r)
				return
			}
			pe, ok := r.(*nursery.PanicError)
			require.True(t, ok, "a task's panic must survive the body's Goexit, got %v", r)
			assert.Equal(t, "boom", pe.Value)
			assert.Equal(t, "p", pe.Task)
		})
	}
	t.Run("no task panic: Goexit continues", func(t *testing.T) {
		t.Parallel()
		got := make(chan any, 1)
		go func() {
			defer func() { got <- recover() }()
			_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(waitDone)
				runtime.Goexit()
				return nil
			})
		}()
		assert.Nil(t, <-got)
	})
	t.Run("body panic wins over a task panic", func(t *testing.T) {
		t.Parallel()
		r, panicked := catchPanic(func() {
			_ = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
				n.Go(func(context.Context) error { panic("task") })
				<-n.Context().Done()
				panic("body")
			})
		})
		require.True(t, panicked)
		assert.Equal(t, "body", r)
	})
}
