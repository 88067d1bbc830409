package nursery_test

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// sleepThen returns a function that sleeps d (fake time under synctest),
// honouring cancellation, then returns v.
func sleepThen[T any](d time.Duration, v T, err error) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		select {
		case <-time.After(d):
			return v, err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

func hasIndex(text string, i int) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(string(rune('0'+i))) + `\b`).MatchString(text)
}

func TestGatherOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The last input finishes first: results are still in input order.
		got, err := nursery.Gather(t.Context(),
			sleepThen(4*time.Second, "a", nil),
			sleepThen(3*time.Second, "b", nil),
			sleepThen(2*time.Second, "c", nil),
			sleepThen(1*time.Second, "d", nil),
		)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c", "d"}, got)
	})
}

func TestGatherEmpty(t *testing.T) {
	t.Parallel()
	got, err := nursery.Gather[int](t.Context())
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestGatherFailureCancelsRestAndNamesIndex(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var finished, cancelled atomic.Int32
		fns := make([]func(context.Context) (int, error), 6)
		for i := range fns {
			fns[i] = func(ctx context.Context) (int, error) {
				defer finished.Add(1)
				if i == 3 {
					time.Sleep(time.Second)
					return 0, errBoom
				}
				select {
				case <-time.After(time.Hour):
					return i, nil
				case <-ctx.Done():
					cancelled.Add(1)
					time.Sleep(time.Millisecond) // Gather must wait for this
					return 0, ctx.Err()
				}
			}
		}
		start := time.Now()
		_, err := nursery.Gather(t.Context(), fns...)
		require.ErrorIs(t, err, errBoom)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.True(t, hasIndex(err.Error(), 3), "the error %q must name the failed input's index 3", err)
		assert.Equal(t, int32(6), finished.Load(), "Gather returned before every function returned")
		assert.Equal(t, int32(5), cancelled.Load(), "the first failure must cancel the rest")
		assert.Equal(t, time.Second+time.Millisecond, time.Since(start))
	})
}

func TestGatherPanicPropagates(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var finished atomic.Bool
		started := make(chan struct{})
		r, panicked := catchPanic(func() {
			_, _ = nursery.Gather(t.Context(),
				func(ctx context.Context) (int, error) {
					close(started)
					<-ctx.Done()
					time.Sleep(time.Millisecond)
					finished.Store(true)
					return 0, ctx.Err()
				},
				func(context.Context) (int, error) { <-started; panic("gather-panic") },
			)
		})
		require.True(t, panicked, "a panic in a gathered function must not be swallowed")
		assert.True(t, finished.Load(), "Gather must cancel and wait for the others before re-panicking")
		var pe *nursery.PanicError
		if err, ok := r.(error); ok && errors.As(err, &pe) {
			assert.Equal(t, "gather-panic", pe.Value)
		} else {
			assert.Equal(t, "gather-panic", r)
		}
	})
}

func TestMapOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := []int{5, 4, 3, 2, 1}
		got, err := nursery.Map(t.Context(), in, func(ctx context.Context, x int) (int, error) {
			time.Sleep(time.Duration(x) * time.Second)
			return x * 10, nil
		})
		require.NoError(t, err)
		assert.Equal(t, []int{50, 40, 30, 20, 10}, got)
	})
}

func TestMapEmpty(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	got, err := nursery.Map(t.Context(), []string(nil), func(context.Context, string) (int, error) {
		calls.Add(1)
		return 0, nil
	})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, calls.Load())
}

func TestMapFailFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var finished, cancelled atomic.Int32
		in := []int{10, 20, 30, 40}
		_, err := nursery.Map(t.Context(), in, func(ctx context.Context, x int) (int, error) {
			defer finished.Add(1)
			if x == 30 {
				time.Sleep(time.Second)
				return 0, &codeError{code: 2}
			}
			select {
			case <-time.After(time.Hour):
				return x, nil
			case <-ctx.Done():
				cancelled.Add(1)
				return 0, ctx.Err()
			}
		})
		var ce *codeError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, 2, ce.code)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.True(t, hasIndex(err.Error(), 2), "the error %q must name the failed input's index 2", err)
		assert.Equal(t, int32(4), finished.Load(), "Map returned before every function returned")
		assert.Equal(t, int32(3), cancelled.Load())
	})
}

// With CollectErrors, Map runs every input, fills the results that
// succeeded, and joins all errors.
func TestMapCollectErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		in := []int{0, 1, 2, 3, 4, 5}
		var calls atomic.Int32
		got, err := nursery.Map(t.Context(), in, func(ctx context.Context, x int) (int, error) {
			calls.Add(1)
			time.Sleep(time.Millisecond)
			if x%2 == 1 {
				return -1, &codeError{code: x}
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return x*10 + 1, nil
		}, nursery.CollectErrors())
		require.Error(t, err)
		assert.Equal(t, int32(len(in)), calls.Load(), "CollectErrors: every input must run")
		require.Len(t, got, len(in))
		for _, i := range []int{0, 2, 4} {
			assert.Equal(t, i*10+1, got[i], "result %d must be filled", i)
		}
		codes := map[int]bool{}
		for _, leaf := range leaves(err) {
			if c, ok := leaf.(*codeError); ok {
				codes[c.code] = true
			}
		}
		assert.Equal(t, map[int]bool{1: true, 3: true, 5: true}, codes)
		for _, i := range []int{1, 3, 5} {
			assert.True(t, hasIndex(err.Error(), i), "the error %q must name index %d", err, i)
		}
		assert.NotErrorIs(t, err, context.Canceled)
	})
}

func TestMapWithLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g gauge
		in := make([]int, 20)
		for i := range in {
			in[i] = i
		}
		got, err := nursery.Map(t.Context(), in, func(ctx context.Context, x int) (int, error) {
			g.enter()
			defer g.exit()
			time.Sleep(time.Second)
			return x + 1, nil
		}, nursery.WithLimit(3))
		require.NoError(t, err)
		for i := range in {
			assert.Equal(t, i+1, got[i])
		}
		assert.Equal(t, int64(3), g.max.Load(), "WithLimit(3): at most (and here exactly) 3 at once")
	})
}

func TestFirst(t *testing.T) {
	errA := errors.New("a failed")
	errB := errors.New("b failed")
	tests := []struct {
		name     string
		fns      []func(context.Context) (string, error)
		want     string
		wantErrs []error
		elapsed  time.Duration
	}{
		{
			name: "first success wins and cancels the rest",
			fns: []func(context.Context) (string, error){
				sleepThen(3*time.Second, "slow", nil),
				sleepThen(1*time.Second, "fast", nil),
				sleepThen(0, "", errA),
			},
			want:    "fast",
			elapsed: time.Second,
		},
		{
			name: "success after failures",
			fns: []func(context.Context) (string, error){
				sleepThen(1*time.Second, "", errA),
				sleepThen(2*time.Second, "late", nil),
				sleepThen(time.Hour, "never", nil),
			},
			want:    "late",
			elapsed: 2 * time.Second,
		},
		{
			name: "waits for a function that ignores cancellation",
			fns: []func(context.Context) (string, error){
				sleepThen(time.Second, "fast", nil),
				func(context.Context) (string, error) { time.Sleep(5 * time.Second); return "stubborn", nil },
			},
			want:    "fast",
			elapsed: 5 * time.Second,
		},
		{
			name: "all fail: errors joined",
			fns: []func(context.Context) (string, error){
				sleepThen(2*time.Second, "", errA),
				sleepThen(1*time.Second, "", errB),
			},
			wantErrs: []error{errA, errB},
			elapsed:  2 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				got, err := nursery.First(t.Context(), tt.fns...)
				assert.Equal(t, tt.elapsed, time.Since(start))
				if tt.wantErrs == nil {
					require.NoError(t, err)
					assert.Equal(t, tt.want, got)
					return
				}
				assert.Zero(t, got)
				for _, w := range tt.wantErrs {
					assert.ErrorIs(t, err, w)
				}
			})
		})
	}
}

func TestFirstCancelsLosers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cancelled atomic.Int32
		loser := func(ctx context.Context) (int, error) {
			<-ctx.Done()
			cancelled.Add(1)
			return 0, ctx.Err()
		}
		got, err := nursery.First(t.Context(), loser, sleepThen(time.Second, 7, nil), loser)
		require.NoError(t, err)
		assert.Equal(t, 7, got)
		assert.Equal(t, int32(2), cancelled.Load(), "First must cancel the rest and wait for them")
	})
}

func TestFirstNoFunctions(t *testing.T) {
	t.Parallel()
	got, err := nursery.First[int](t.Context())
	require.Error(t, err)
	assert.Zero(t, got)
}

func TestAsCompletedOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		durations := []time.Duration{3 * time.Second, 1 * time.Second, 4 * time.Second, 2 * time.Second}
		tasks := make([]*nursery.Task[int], len(durations))
		for i, d := range durations {
			tasks[i] = nursery.Spawn(n, func(context.Context) (int, error) {
				time.Sleep(d)
				return i, nil
			})
		}
		var order []int
		for task := range nursery.AsCompleted(tasks...) {
			require.True(t, isClosed(task.Done()), "AsCompleted yielded an unfinished task")
			v, err := task.Wait()
			require.NoError(t, err)
			order = append(order, v)
		}
		assert.Equal(t, []int{1, 3, 0, 2}, order)
		require.NoError(t, n.Wait())
	})
}

func TestAsCompletedAlreadyFinishedFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context(), nursery.CollectErrors())
		gate := make(chan struct{})
		running := nursery.Spawn(n, func(context.Context) (string, error) { <-gate; return "running", nil })
		doneA := nursery.Spawn(n, func(context.Context) (string, error) { return "a", nil })
		doneB := nursery.Spawn(n, func(context.Context) (string, error) { return "b", errBoom })
		synctest.Wait()
		require.True(t, isClosed(doneA.Done()))
		require.True(t, isClosed(doneB.Done()))
		var got []*nursery.Task[string]
		for task := range nursery.AsCompleted(running, doneA, doneB) {
			got = append(got, task)
			if len(got) == 2 {
				close(gate)
			}
		}
		require.Len(t, got, 3)
		assert.ElementsMatch(t, []*nursery.Task[string]{doneA, doneB}, got[:2], "already finished tasks come first")
		assert.Same(t, running, got[2])
		assert.ErrorIs(t, n.Wait(), errBoom)
	})
}

func TestAsCompletedEarlyBreakAndEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for range nursery.AsCompleted[int]() {
			t.Fatal("AsCompleted with no tasks yielded")
		}
		n := nursery.New(t.Context())
		tasks := []*nursery.Task[int]{
			nursery.Spawn(n, sleepThen(2*time.Second, 2, nil)),
			nursery.Spawn(n, sleepThen(1*time.Second, 1, nil)),
			nursery.Spawn(n, sleepThen(3*time.Second, 3, nil)),
		}
		for task := range nursery.AsCompleted(tasks...) {
			assert.Same(t, tasks[1], task)
			break
		}
		require.NoError(t, n.Wait())
		// synctest.Test fails if AsCompleted left a goroutine blocked forever.
	})
}
