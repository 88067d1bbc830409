package nursery_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestNamesInErrors(t *testing.T) {
	t.Parallel()
	t.Run("nursery and task", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.WithName("outer"))
		n.Go(func(context.Context) error { return errRefused }, nursery.Name("worker-3"))
		err := n.Wait()
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), "outer: worker-3: connection refused")
	})
	t.Run("nested nurseries", func(t *testing.T) {
		t.Parallel()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			n.Go(func(ctx context.Context) error {
				return nursery.Run(ctx, func(inner *nursery.Nursery) error {
					inner.Go(func(context.Context) error { return &codeError{code: 1} }, nursery.Name("db"))
					return nil
				}, nursery.WithName("inner"))
			}, nursery.Name("worker-3"))
			return nil
		}, nursery.WithName("outer"))
		require.Error(t, err)
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 1, ce.code)
		assert.Contains(t, err.Error(), "outer: worker-3: inner: db: "+ce.Error())
	})
	t.Run("task name only", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		n.Go(func(context.Context) error { return errRefused }, nursery.Name("worker-3"))
		err := n.Wait()
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), "worker-3: connection refused")
	})
	t.Run("Task.Name", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		task := nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil }, nursery.Name("worker-3"))
		assert.Equal(t, "worker-3", task.Name())
		require.NoError(t, n.Wait())
	})
}
