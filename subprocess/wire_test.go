package subprocess_test

//lint:file-ignore U1000 the unexported fields of the checkType cases are only seen by reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

func TestWireErrorRoundTrip(t *testing.T) {
	t.Parallel()
	assert.Nil(t, subprocess.NewWireError(nil))

	tests := []struct {
		name    string
		err     error
		text    string
		is      []error
		isNot   []error
		panic   bool
		value   any // for panics; an error value is checked by text
		stacked bool
	}{
		{
			name:  "plain",
			err:   errors.New("plain"),
			text:  "plain",
			isNot: []error{errNotFound, io.EOF},
		},
		{
			name: "registered sentinel, wrapped",
			err:  fmt.Errorf("op: %w", errNotFound),
			text: "op: test: not found",
			is:   []error{errNotFound},
		},
		{
			name: "two standard sentinels",
			err:  errors.Join(fs.ErrNotExist, context.DeadlineExceeded),
			text: "file does not exist\ncontext deadline exceeded",
			is:   []error{fs.ErrNotExist, context.DeadlineExceeded},
		},
		{
			name:    "panic with a string",
			err:     &nursery.PanicError{Value: "boom", Stack: []byte("goroutine 7 [running]:"), Task: "t"},
			panic:   true,
			value:   "boom",
			stacked: true,
		},
		{
			name:  "panic with a number",
			err:   &nursery.PanicError{Value: 42},
			panic: true,
			value: "42",
		},
		{
			name:  "panic with a registered error",
			err:   &nursery.PanicError{Value: fmt.Errorf("x: %w", errNotFound)},
			panic: true,
			text:  "x: test: not found",
			is:    []error{errNotFound},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Through JSON, as another transport might carry it.
			b, err := json.Marshal(subprocess.NewWireError(tt.err))
			require.NoError(t, err)
			var w subprocess.WireError
			require.NoError(t, json.Unmarshal(b, &w))
			got := w.Err("fn")

			for _, target := range tt.is {
				assert.ErrorIs(t, got, target)
			}
			for _, target := range tt.isNot {
				assert.NotErrorIs(t, got, target)
			}
			if !tt.panic {
				var re *subprocess.RemoteError
				require.ErrorAs(t, got, &re)
				assert.Equal(t, "fn", re.Func)
				assert.EqualError(t, got, tt.text)
				return
			}
			pe, ok := got.(*nursery.PanicError)
			require.True(t, ok, "got %T", got)
			assert.Equal(t, "fn", pe.Task)
			if tt.value != nil {
				assert.Equal(t, tt.value, pe.Value)
			} else {
				var re *subprocess.RemoteError
				require.ErrorAs(t, pe.Value.(error), &re)
				assert.EqualError(t, re, tt.text)
			}
			if tt.stacked {
				assert.Equal(t, "goroutine 7 [running]:", string(pe.Stack))
			}
		})
	}
}

func TestRemoteErrorUnknownSentinel(t *testing.T) {
	t.Parallel()
	err := &subprocess.RemoteError{Message: "m", Sentinels: []string{"not.registered", "io.EOF"}}
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, []error{io.EOF}, err.Unwrap())
}

func TestCrashErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *subprocess.CrashError
		want string
	}{
		{"exit", &subprocess.CrashError{Func: "f", ExitCode: 3, Pid: 10, StderrTail: "a\nlast words\n\n"},
			"subprocess: worker 10 running f exited with code 3; stderr: last words"},
		{"signal", &subprocess.CrashError{Func: "f", ExitCode: -1, Signal: "killed", Pid: 10},
			`subprocess: worker 10 running f was killed by signal "killed"`},
		{"beside one", &subprocess.CrashError{Func: "f", ExitCode: 2, Pid: 10, Concurrent: 1},
			"subprocess: worker 10 running f beside 1 other call exited with code 2"},
		{"beside more", &subprocess.CrashError{Func: "f", ExitCode: 2, Pid: 10, Concurrent: 5},
			"subprocess: worker 10 running f beside 5 other calls exited with code 2"},
		{"killed by the pool", &subprocess.CrashError{Func: "f", ExitCode: -1, Signal: "terminated", Pid: 10, Reason: "g did not return"},
			`subprocess: worker 10 running f was killed by signal "terminated" (g did not return)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.EqualError(t, tt.err, tt.want)
		})
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	assert.Subset(t, subprocess.Names(), []string{"add", "echo", "panicky"})
	_, ok := subprocess.Lookup("no-such-function")
	assert.False(t, ok)

	h, ok := subprocess.Lookup("add")
	require.True(t, ok)
	assert.Equal(t, "add", h.Name())
	in := h.NewInput()
	require.IsType(t, &pair{}, in)
	*in.(*pair) = pair{3, 4}
	out, err := h.Call(t.Context(), in)
	require.NoError(t, err)
	assert.Equal(t, 7, out)

	_, err = h.Call(t.Context(), "wrong")
	assert.EqualError(t, err, "subprocess: add: input of type string, want *subprocess_test.pair")

	h, _ = subprocess.Lookup("panicky")
	in = h.NewInput()
	*in.(*string) = "boom"
	_, err = h.Call(t.Context(), in)
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "boom", pe.Value)
	assert.Equal(t, "panicky", pe.Task)
	assert.True(t, subprocess.NewWireError(err).Panicked)
}

type (
	noExported   struct{ x int }
	withChan     struct{ C chan int }
	nested       struct{ Inner []map[string]*withChan }
	unexportedFn struct {
		N  int
		fn func()
	}
	recursive struct {
		Next *recursive
		V    int
	}
)

func TestCheckType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  reflect.Type
		want string // "" if the type is fine
	}{
		{reflect.TypeFor[int](), ""},
		{reflect.TypeFor[struct{}](), ""},
		{reflect.TypeFor[pair](), ""},
		{reflect.TypeFor[*pair](), ""},
		{reflect.TypeFor[[]byte](), ""},
		{reflect.TypeFor[map[string][]pair](), ""},
		{reflect.TypeFor[time.Time](), ""},
		{reflect.TypeFor[box](), ""},
		{reflect.TypeFor[recursive](), ""},
		{reflect.TypeFor[unexportedFn](), ""},
		{reflect.TypeFor[any](), "interface {} is an interface type; use a concrete type"},
		{reflect.TypeFor[error](), "error is an interface type; use a concrete type"},
		{reflect.TypeFor[func()](), "func() has type func(), which gob cannot encode"},
		{reflect.TypeFor[chan int](), "chan int has type chan int, which gob cannot encode"},
		{reflect.TypeFor[noExported](), "subprocess_test.noExported: type subprocess_test.noExported has no exported fields, which gob cannot encode"},
		{reflect.TypeFor[withChan](), "field subprocess_test.withChan.C has type chan int, which gob does not send (it would arrive as nil)"},
		{reflect.TypeFor[nested](), "field subprocess_test.nested.Inner.C has type chan int, which gob does not send (it would arrive as nil)"},
		{reflect.TypeFor[hasFunc](), "field subprocess_test.hasFunc.Fn has type func(), which gob does not send (it would arrive as nil)"},
	}
	for _, tt := range tests {
		err := subprocess.CheckType(tt.typ)
		if tt.want == "" {
			assert.NoError(t, err, "%v", tt.typ)
		} else {
			assert.EqualError(t, err, tt.want, "%v", tt.typ)
		}
	}
}

// TestFramesAfterEncodeFailure checks that a value failing to encode midway
// (after gob wrote type descriptions for it) leaves the stream readable.
func TestFramesAfterEncodeFailure(t *testing.T) {
	t.Parallel()
	type inner struct{ A, B int }
	type outer struct {
		In inner
		V  any
	}
	b, errs := subprocess.WriteFrames(
		outer{In: inner{1, 2}, V: unregistered{1}}, // fails after describing outer and inner
		outer{In: inner{3, 4}, V: 5},
		pair{5, 6},
		outer{In: inner{7, 8}, V: 9},
	)
	require.Error(t, errs[0])
	for _, err := range errs[1:] {
		require.NoError(t, err)
	}
	var o1, o2 outer
	var p pair
	err := subprocess.ReadFrames(b, &o1, &p, &o2)
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, outer{In: inner{3, 4}, V: 5}, o1)
	assert.Equal(t, pair{5, 6}, p)
	assert.Equal(t, outer{In: inner{7, 8}, V: 9}, o2)
}

// FuzzFrame feeds the frame reader what a broken or hostile peer might
// send: it must return an error or frames, never panic, hang or allocate
// without bound. It also checks that what a frame writer writes reads back
// intact, whole or cut into pieces.
func FuzzFrame(f *testing.F) {
	good, _ := subprocess.WriteFrames("hello", pair{1, 2}, box{V: 3})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0, 0, 0, 10, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	pieces, _ := subprocess.WriteFrames(make([]byte, 600<<10), "after")
	f.Add(pieces[:1<<10])                  // the first piece, cut short
	f.Add(append(pieces[:0:0], pieces...)) // a frame in three pieces
	refused, _ := subprocess.WriteFrames(box{V: unregistered{1}}, "next")
	f.Add(refused)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Garbage gives an error at the end at the latest.
		var s string
		require.Error(t, subprocess.ReadFrames(b, &s))

		// What a writer writes reads back.
		for _, v := range [][]byte{b, bytes.Repeat(b, 1+(300<<10)/(len(b)+1))} {
			enc, errs := subprocess.WriteFrames(v, string(b))
			require.NoError(t, errors.Join(errs...))
			var got []byte
			var str string
			err := subprocess.ReadFrames(enc, &got, &str)
			require.ErrorIs(t, err, io.EOF)
			require.Equal(t, len(v), len(got))
			require.True(t, bytes.Equal(v, got))
			require.Equal(t, string(b), str)
		}
	})
}
