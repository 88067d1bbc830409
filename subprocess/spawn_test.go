//go:build linux

package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

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

// TestFarDeadlineReachesWorker checks that a deadline past the year 2262,
// beyond what Unix nanoseconds hold, reaches the worker unchanged instead
// of wrapping around into the past.
func TestFarDeadlineReachesWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx, cancel := context.WithTimeout(t.Context(), math.MaxInt64)
	defer cancel()
	want, _ := ctx.Deadline()
	got, err := deadline.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	assert.True(t, want.Equal(got), "deadline %v, want %v", got, want)

	far := time.Date(9999, 1, 2, 3, 4, 5, 6, time.UTC)
	ctx, cancel = context.WithDeadline(t.Context(), far)
	defer cancel()
	got, err = deadline.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	assert.True(t, far.Equal(got), "deadline %v, want %v", got, far)
}

// TestLongFunctionName checks that a name too long for the frame header is
// refused before anything is sent, and the worker keeps serving.
func TestLongFunctionName(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	long := strings.Repeat("n", 1<<16)
	assert.PanicsWithValue(t, "subprocess: Register with a name of 65536 bytes; the limit is 65535", func() {
		subprocess.Register(long, func(context.Context, int) (int, error) { return 0, nil })
	})
	err := p.Invoke(t.Context(), long+"xyz", 1, nil)
	assert.EqualError(t, err, "subprocess: function name of 65539 bytes is longer than the 65535 bytes a call can carry")
	// The longest name that fits travels intact: the worker says it does not know it.
	err = p.Invoke(t.Context(), long[:65535], 1, nil)
	assert.ErrorIs(t, err, subprocess.ErrUnknownFunc)
	s, err := echo.Call(t.Context(), p, "still serving")
	require.NoError(t, err)
	assert.Equal(t, "still serving", s)
}

// TestWorkerLimitNotInherited checks that the worker's share of the cores
// does not leak into the environment of the programs its functions start.
func TestWorkerLimitNotInherited(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(2*runtime.GOMAXPROCS(0)))
	n, err := gomaxprocs.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the worker has its share")

	env, err := childEnv.Call(t.Context(), p, struct{}{})
	require.NoError(t, err)
	want, set := os.LookupEnv("GOMAXPROCS")
	for line := range strings.Lines(env) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "GOMAXPROCS="); ok {
			assert.True(t, set, "a child of the worker inherited GOMAXPROCS=%s", v)
			assert.Equal(t, want, v)
		}
		assert.False(t, strings.HasPrefix(line, "NURSERY_SUBPROCESS"), "a child of the worker inherited %s", line)
	}
}
