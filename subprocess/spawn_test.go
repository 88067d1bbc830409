//go:build linux

package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

// TestSpawnPanicCancelsSiblingsAsCancellation checks that a panic in one
// worker call is one panic: the siblings it cancels end as cancellations,
// not as re-raised copies of the same panic, and the panic is reported
// under the task's own name.
func TestSpawnPanicCancelsSiblingsAsCancellation(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2))

	var tasks []*nursery.Task[struct{}]
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for i := range 5 {
			tasks = append(tasks, block.Spawn(n, p, struct{}{}, nursery.Name(fmt.Sprintf("job-%d", i))))
		}
		waitInFlight(t, p, 5)
		panicky.Spawn(n, p, "boom", nursery.Name("job-5"))
		return nil
	}, nursery.PanicsAsErrors())

	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Equal(t, "job-5", pe.Task, "the task's name, not the function's")
	assert.Equal(t, 1, countPanics(err), "one panic, reported once: %v", err)
	for i, task := range tasks {
		_, err := task.Wait()
		assert.ErrorIs(t, err, context.Canceled, "job-%d", i)
		assert.False(t, errors.As(err, new(*nursery.PanicError)), "job-%d ended as a panic: %v", i, err)
	}
}

// countPanics counts the *nursery.PanicError values in an error tree.
func countPanics(err error) int {
	n := 0
	if _, ok := err.(*nursery.PanicError); ok {
		n++
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			n += countPanics(e)
		}
	case interface{ Unwrap() error }:
		if _, ok := err.(*nursery.PanicError); !ok {
			n += countPanics(u.Unwrap())
		}
	}
	return n
}
