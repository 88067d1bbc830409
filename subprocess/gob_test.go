//go:build linux

package subprocess_test

import (
	"bytes"
	"encoding/gob"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery/subprocess"
)

// TestTypeRegisteredOnlyInParent checks that an input holding a type the
// worker's gob registry lacks fails its call with an error naming the
// type, and that the worker lives on and serves the next calls, including
// ones whose types were described in the failed message.
func TestTypeRegisteredOnlyInParent(t *testing.T) {
	t.Parallel()
	gob.Register(parentOnly{}) // as a main would, after subprocess.Main
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	pid := subprocess.WorkerPids(p)[0]

	for range 2 {
		_, err := boxed.Call(ctx, p, box{V: parentOnly{X: 1}})
		require.Error(t, err)
		assert.ErrorContains(t, err, "subprocess: boxed: decoding the input in the worker: gob: name not registered for interface: ")
		assert.ErrorContains(t, err, "subprocess_test.parentOnly")
		assert.ErrorContains(t, err, "register the type with gob.Register during package initialization")

		s, err := boxed.Call(ctx, p, box{V: 42})
		require.NoError(t, err)
		assert.Equal(t, "42", s)
	}

	// Nested: the outer type is known, the inner one is not. The failed
	// decode skips the inner type's description, which the encoder
	// believes sent; the next call that sends that type directly must
	// still arrive.
	_, err := boxed.Call(ctx, p, box{V: box{V: parentOnly{X: 2}}})
	assert.ErrorContains(t, err, "name not registered for interface")
	x, err := direct.Call(ctx, p, parentOnly{X: 3})
	require.NoError(t, err)
	assert.Equal(t, 3, x)

	assert.Equal(t, []int{pid}, subprocess.WorkerPids(p), "the worker survived")
}

// TestTypeRegisteredOnlyInWorker checks the reverse: a result holding a
// type the parent's gob registry lacks fails its call only.
func TestTypeRegisteredOnlyInWorker(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	pid := subprocess.WorkerPids(p)[0]

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := returnsWorkerOnly.Call(ctx, p, 0)
			assert.ErrorContains(t, err, "subprocess: returnsWorkerOnly: decoding the result in the parent: gob: name not registered for interface: ")
			assert.ErrorContains(t, err, "subprocess_test.workerOnly")
		})
		wg.Go(func() {
			s, err := echo.Call(ctx, p, "fine")
			assert.NoError(t, err)
			assert.Equal(t, "fine", s)
		})
	}
	wg.Wait()
	assert.Equal(t, []int{pid}, subprocess.WorkerPids(p), "the worker survived")
}

// TestWorkerOfAnotherBuild checks that a worker whose registry differs
// from the parent's (as a worker binary built from another version of the
// program would) is refused at start-up with an error saying so.
func TestWorkerOfAnotherBuild(t *testing.T) {
	t.Parallel()
	_, err := subprocess.NewPool(t.Context(), subprocess.Workers(1), subprocess.Env(envMode+"=skew"))
	require.Error(t, err)
	assert.ErrorContains(t, err, "is another build of the program (")
	assert.ErrorContains(t, err, "its Go version, version-control revision, registered functions, their types or registered errors differ")
	assert.Regexp(t, `\(go[^,]*, (\d+) functions, \d+ errors, [0-9a-f]{16}; this process: go[^,]*, \d+ functions`, err.Error())
}

// TestUndecodableBothWaysUnderLoad sends large values that fail to decode
// in both directions at once, with good calls among them: each bad call
// fails alone, the good ones succeed, and nothing deadlocks although both
// pipes are full while each side asks the other for a new encoder.
func TestUndecodableBothWaysUnderLoad(t *testing.T) {
	t.Parallel()
	gob.Register(parentOnly{})
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	pid := subprocess.WorkerPids(p)[0]
	const pad = 2 << 20
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				_, err := returnsWorkerOnly.Call(ctx, p, pad)
				assert.ErrorContains(t, err, "decoding the result in the parent")
			}
		})
		wg.Go(func() {
			for range 3 {
				_, err := boxed.Call(ctx, p, box{V: parentOnly{X: 1, Pad: make([]byte, pad)}})
				assert.ErrorContains(t, err, "decoding the input in the worker")
			}
		})
		wg.Go(func() {
			for i := range 3 {
				b := make([]byte, pad)
				b[i] = byte(i + 1)
				out, err := bigEcho.Call(ctx, p, b)
				if assert.NoError(t, err) {
					assert.True(t, bytes.Equal(b, out))
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, []int{pid}, subprocess.WorkerPids(p), "the worker survived")
}
