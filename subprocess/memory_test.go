//go:build linux

package subprocess_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery/subprocess"
)

const bigSize = 64 << 20

// The memory tests do not run in parallel: they measure the heap of the
// whole test process, which other tests would disturb.

// TestLargeCallLeavesNoBuffers checks that a large input and result leave
// no large buffer behind, in the parent or in the worker.
func TestLargeCallLeavesNoBuffers(t *testing.T) {
	p := newPool(t, subprocess.Workers(1))
	ctx := t.Context()
	_, err := echo.Call(ctx, p, "warm up")
	require.NoError(t, err)
	idle := heapNow()
	workerIdle, err := heapAlloc.Call(ctx, p, struct{}{})
	require.NoError(t, err)

	in := make([]byte, bigSize)
	in[bigSize-1] = 7
	out, err := bigEcho.Call(ctx, p, in)
	require.NoError(t, err)
	require.Len(t, out, bigSize)
	assert.Equal(t, byte(7), out[bigSize-1])
	in, out = nil, nil

	after := heapNow()
	workerAfter, err := heapAlloc.Call(ctx, p, struct{}{})
	require.NoError(t, err)
	t.Logf("parent heap: idle %d KiB, after a %d MiB call %d KiB", idle>>10, bigSize>>20, after>>10)
	t.Logf("worker heap: idle %d KiB, after a %d MiB call %d KiB", workerIdle>>10, bigSize>>20, workerAfter>>10)
	const slack = 8 << 20 // the frame buffers that are kept, and noise
	assert.LessOrEqual(t, after, 2*idle+slack, "the parent kept large buffers")
	assert.LessOrEqual(t, workerAfter, 2*workerIdle+slack, "the worker kept large buffers")

	// The stream works on with new encoders.
	s, err := echo.Call(ctx, p, "after")
	require.NoError(t, err)
	assert.Equal(t, "after", s)
}

// TestRefusedInputLeavesNoBuffers checks that an input over the frame
// limit is refused before anything is sent and leaves no buffer behind.
func TestRefusedInputLeavesNoBuffers(t *testing.T) {
	const limit = 64 << 20 // 67108864
	p := newPool(t, subprocess.Workers(1), subprocess.FrameLimit(limit))
	ctx := t.Context()
	_, err := echo.Call(ctx, p, "warm up")
	require.NoError(t, err)
	idle := heapNow()
	frames := subprocess.FramesSent(p)

	_, err = bigEcho.Call(ctx, p, make([]byte, limit+1))
	assert.ErrorContains(t, err, "subprocess: bigEcho: cannot encode input of type []uint8: subprocess: value of more than 6710")
	assert.ErrorContains(t, err, " bytes exceeds the 67108864-byte frame limit")
	assert.Equal(t, frames, subprocess.FramesSent(p), "nothing was sent")

	after := heapNow()
	t.Logf("parent heap: idle %d KiB, after a refused %d MiB input %d KiB", idle>>10, limit>>20, after>>10)
	assert.LessOrEqual(t, after, 2*idle+8<<20, "the refused input's buffers were kept")
	s, err := echo.Call(ctx, p, "after")
	require.NoError(t, err)
	assert.Equal(t, "after", s)
}

// TestCancelNotQueuedBehindLargeInput checks that a cancel frame sent while
// a large input is being written goes out between its pieces, after at
// most the queue's worth of them, not after the whole input.
func TestCancelNotQueuedBehindLargeInput(t *testing.T) {
	t.Parallel()
	const n = 32 << 20
	at, frames, err := subprocess.CancelPosition(n)
	require.NoError(t, err)
	t.Logf("cancel was frame %d of %d", at, frames)
	assert.Greater(t, frames, 100, "the input went in pieces")
	assert.LessOrEqual(t, at, 8, "the cancel waited for more than the queue")
}

// TestCancelDuringLargeInput cancels a call while another call's large
// input is on its way to the same worker: both end properly and the
// worker serves on.
func TestCancelDuringLargeInput(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	ctx, cancel := context.WithCancel(t.Context())
	blocked := make(chan error, 1)
	go func() {
		_, err := block.Call(ctx, p, struct{}{})
		blocked <- err
	}()
	waitInFlight(t, p, 1)
	big := make(chan error, 1)
	go func() {
		_, err := bigEcho.Call(t.Context(), p, make([]byte, 32<<20))
		big <- err
	}()
	waitInFlight(t, p, 2)
	cancel()
	assert.ErrorIs(t, <-blocked, context.Canceled)
	assert.NoError(t, <-big)
	s, err := echo.Call(t.Context(), p, "after")
	require.NoError(t, err)
	assert.Equal(t, "after", s)
}

// TestCancelAbortsOwnLargeInput checks that a call cancelled while its own
// large input is being written stops sending it: the frame is aborted
// after a few pieces instead of being written whole.
func TestCancelAbortsOwnLargeInput(t *testing.T) {
	t.Parallel()
	sendErr, frames, aborted, err := subprocess.AbortedSend(32 << 20)
	require.NoError(t, err)
	assert.ErrorContains(t, sendErr, "subprocess: send cancelled")
	assert.True(t, aborted, "the last frame aborts the call's")
	assert.LessOrEqual(t, frames, 10, "frames written after the cancel")
}

// TestCancelledLargeInputCall cancels calls while their large inputs are
// being sent: each returns its context's cause, and the worker, which
// drops the aborted inputs, serves on.
func TestCancelledLargeInputCall(t *testing.T) {
	t.Parallel()
	p := newPool(t, subprocess.Workers(1))
	pid := subprocess.WorkerPids(p)[0]
	for i := range 4 {
		ctx, cancel := context.WithCancelCause(t.Context())
		cause := fmt.Errorf("test: cancel %d", i)
		res := make(chan error, 1)
		go func() {
			_, err := bigEcho.Call(ctx, p, make([]byte, 16<<20))
			res <- err
		}()
		waitInFlight(t, p, 1)
		cancel(cause)
		assert.Same(t, cause, <-res)
		waitInFlight(t, p, 0)
	}
	s, err := echo.Call(t.Context(), p, "after")
	require.NoError(t, err)
	assert.Equal(t, "after", s)
	assert.Equal(t, []int{pid}, subprocess.WorkerPids(p), "the worker survived")
}
