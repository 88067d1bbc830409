package nursery_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
)

// taskErrors lists the *TaskError of every failure in err.
func taskErrors(t *testing.T, err error) []*nursery.TaskError {
	t.Helper()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*nursery.TaskError
	for _, e := range errs {
		var te *nursery.TaskError
		require.ErrorAs(t, e, &te, "%q is no *TaskError", e)
		out = append(out, te)
	}
	return out
}

// Every task failure Wait reports that has a name or index is a *TaskError
// naming its nursery, task and input index, with the same text as ever.
func TestTaskError(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	fail := func(context.Context) error { return errBoom }
	failT := func(context.Context) (int, error) { return 0, errBoom }
	okT := func(context.Context) (int, error) { return 1, nil }
	tests := []struct {
		name string
		run  func(ctx context.Context) error
		want []nursery.TaskError
		text string
	}{
		{
			name: "named nursery and task",
			run: func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					n.Go(fail, nursery.Name("worker-3"))
					return nil
				}, nursery.WithName("outer"))
			},
			want: []nursery.TaskError{{Nursery: "outer", Task: "worker-3", Index: -1, Err: errBoom}},
			text: "outer: worker-3: boom",
		},
		{
			name: "every failure with CollectErrors",
			run: func(ctx context.Context) error {
				return nursery.Run(ctx, func(n *nursery.Nursery) error {
					a := nursery.Spawn(n, failT, nursery.Name("a"))
					<-a.Done()
					n.Go(fail, nursery.Name("b"))
					return nil
				}, nursery.CollectErrors(), nursery.WithName("s"))
			},
			want: []nursery.TaskError{
				{Nursery: "s", Task: "a", Index: -1, Err: errBoom},
				{Nursery: "s", Task: "b", Index: -1, Err: errBoom},
			},
			text: "s: a: boom\ns: b: boom",
		},
		{
			name: "Map",
			run: func(ctx context.Context) error {
				_, err := nursery.Map(ctx, []int{0, 1, 2}, func(_ context.Context, i int) (int, error) {
					if i == 2 {
						return 0, errBoom
					}
					return i, nil
				}, nursery.WithName("m"))
				return err
			},
			want: []nursery.TaskError{{Nursery: "m", Index: 2, Err: errBoom}},
			text: "m: index 2: boom",
		},
		{
			name: "Gather",
			run: func(ctx context.Context) error {
				_, err := nursery.Gather(ctx, okT, failT)
				return err
			},
			want: []nursery.TaskError{{Index: 1, Err: errBoom}},
			text: "index 1: boom",
		},
		{
			name: "First",
			run: func(ctx context.Context) error {
				_, err := nursery.First(ctx, failT, failT)
				return err
			},
			want: []nursery.TaskError{{Index: 0, Err: errBoom}, {Index: 1, Err: errBoom}},
			text: "index 0: boom\nindex 1: boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.run(t.Context())
			require.Error(t, err)
			assert.Equal(t, tt.text, err.Error())
			got := taskErrors(t, err)
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				assert.Equal(t, w, *got[i])
			}
		})
	}
}

// An unnamed task's failure in an unnamed nursery has nothing to name: Wait
// reports the very error the task returned, as errgroup does.
func TestTaskErrorNothingToName(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error { return errBoom })
		return nil
	})
	assert.Same(t, errBoom, err)
	var te *nursery.TaskError
	assert.False(t, errors.As(err, &te))
}

// A nested nursery's TaskError stays reachable inside the outer one's.
func TestTaskErrorNested(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			return nursery.Run(ctx, func(inner *nursery.Nursery) error {
				inner.Go(func(context.Context) error { return errBoom }, nursery.Name("leaf"))
				return nil
			}, nursery.WithName("inner"))
		}, nursery.Name("mid"))
		return nil
	}, nursery.WithName("outer"))
	require.EqualError(t, err, "outer: mid: inner: leaf: boom")
	var outer *nursery.TaskError
	require.ErrorAs(t, err, &outer)
	assert.Equal(t, "outer", outer.Nursery)
	assert.Equal(t, "mid", outer.Task)
	var inner *nursery.TaskError
	require.ErrorAs(t, outer.Err, &inner)
	assert.Equal(t, "inner", inner.Nursery)
	assert.Equal(t, "leaf", inner.Task)
	assert.ErrorIs(t, err, errBoom)
}

// With PanicsAsErrors a panic is a *TaskError too; its text does not repeat
// the task's name, which the *PanicError already gives.
func TestTaskErrorPanic(t *testing.T) {
	t.Parallel()
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error { panic("boom") }, nursery.Name("p"))
		return nil
	}, nursery.WithName("s"), nursery.PanicsAsErrors())
	var te *nursery.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "s", te.Nursery)
	assert.Equal(t, "p", te.Task)
	var pe *nursery.PanicError
	require.ErrorAs(t, te.Err, &pe)
	assert.Regexp(t, `^s: panic in task "p": boom\n`, err.Error())
}

// In debug mode, a Map input whose function ran a nested nursery keeps its
// index, and the text names the nested task's path.
func TestTaskErrorDebugMapNested(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	_, err := nursery.Map(t.Context(), []int{0, 1}, func(ctx context.Context, i int) (int, error) {
		if i == 0 {
			return 0, nil
		}
		return 0, nursery.Run(ctx, func(inner *nursery.Nursery) error {
			inner.Go(func(context.Context) error { return errBoom }, nursery.Name("leaf"))
			return nil
		}, nurserydebug.On(), nursery.WithName("inner"))
	}, nurserydebug.On(), nursery.WithName("m"))
	require.ErrorIs(t, err, errBoom)
	var te *nursery.TaskError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, te.Index)
	assert.Regexp(t, `^index 1: .*inner/leaf \[.*\]: boom$`, err.Error())
}

// A TaskError made by hand prints what it has.
func TestTaskErrorText(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		err  nursery.TaskError
		want string
	}{
		{nursery.TaskError{Nursery: "n", Task: "t", Index: -1, Err: errBoom}, "n: t: boom"},
		{nursery.TaskError{Task: "t", Index: 3, Err: errBoom}, "t: index 3: boom"},
		{nursery.TaskError{Index: 0, Err: errBoom}, "index 0: boom"},
		{nursery.TaskError{Nursery: "n", Index: -1}, "n"},
		{nursery.TaskError{Index: -1, Err: errBoom}, "boom"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.err.Error())
		assert.Equal(t, tt.err.Err, errors.Unwrap(&tt.err))
	}
}
