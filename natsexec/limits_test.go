package natsexec_test

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

// bigRuns counts the calls of big and bigErr in this process.
var bigRuns atomic.Int64

var (
	// big returns n bytes.
	big = subprocess.Register("natsexectest.big", func(_ context.Context, n int) (string, error) {
		bigRuns.Add(1)
		return strings.Repeat("x", n), nil
	})
	// bigErr fails with an error of n bytes of text.
	bigErr = subprocess.Register("natsexectest.bigErr", func(_ context.Context, n int) (int, error) {
		bigRuns.Add(1)
		return 0, fmt.Errorf("%s: %w", strings.Repeat("y", n), fs.ErrNotExist)
	})
)

// smallPayload is the max_payload of the servers of the tests on limits.
const smallPayload = 64 << 10

func maxPayload(n int32) func(*server.Options) {
	return func(o *server.Options) { o.MaxPayload = n }
}

// TestTooLarge sends inputs, results and errors above the server's
// max_payload: each call fails at once with ErrTooLarge, naming the size
// and the limit, and runs at most once although its function is
// Idempotent; the worker stays healthy.
func TestTooLarge(t *testing.T) {
	s := startServer(t, 0, maxPayload(smallPayload))
	serveInProcess(t, s.ClientURL())
	// A lease far longer than the test: a reply that never comes would
	// show as a timeout of the test, or as a *WorkerLostError.
	pool := newPool(t, s.ClientURL(), natsexec.Lease(time.Minute), natsexec.Idempotent(big.Name(), bigErr.Name()))

	t.Run("result", func(t *testing.T) {
		bigRuns.Store(0)
		_, err := big.Call(t.Context(), pool, 2*smallPayload)
		require.ErrorIs(t, err, natsexec.ErrTooLarge)
		var re *subprocess.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Regexp(t, `the result, 13\d{4} bytes, is above the NATS server's max_payload of 65536 bytes`, err.Error())
		assert.Equal(t, int64(1), bigRuns.Load(), "runs")
	})
	t.Run("error text", func(t *testing.T) {
		bigRuns.Store(0)
		_, err := bigErr.Call(t.Context(), pool, 2*smallPayload)
		require.ErrorIs(t, err, natsexec.ErrTooLarge)
		assert.ErrorIs(t, err, fs.ErrNotExist, "the function's sentinels are kept")
		assert.Regexp(t, `^y+\.\.\. \[cut short by natsexec: the error, 13\d{4} bytes, is above the NATS server's max_payload of 65536 bytes\]$`, err.Error())
		assert.Equal(t, int64(1), bigRuns.Load(), "runs")
		assert.True(t, strings.HasPrefix(err.Error(), strings.Repeat("y", 1024)+"..."), "the text's start is kept")
	})
	t.Run("input", func(t *testing.T) {
		bigRuns.Store(0)
		_, err := big.Call(t.Context(), pool, 0) // warm up the input's type
		require.NoError(t, err)
		err = pool.Invoke(t.Context(), big.Name(), strings.Repeat("z", 2*smallPayload), new(string))
		require.ErrorIs(t, err, natsexec.ErrTooLarge)
		assert.Regexp(t, `the input, 13\d{4} bytes, is above the NATS server's max_payload of 65536 bytes`, err.Error())
		assert.ErrorIs(t, err, nats.ErrMaxPayload)
		assert.Equal(t, int64(1), bigRuns.Load(), "runs")
	})
	t.Run("just fits", func(t *testing.T) {
		out, err := big.Call(t.Context(), pool, smallPayload-1024)
		require.NoError(t, err)
		assert.Len(t, out, smallPayload-1024)
	})
}

// TestTooLargeTinyPayload sets max_payload so low that even an error cut
// short does not fit: the call still fails at once with ErrTooLarge.
func TestTooLargeTinyPayload(t *testing.T) {
	s := startServer(t, 0, maxPayload(1024))
	serveInProcess(t, s.ClientURL())
	pool := newPool(t, s.ClientURL(), natsexec.Lease(time.Minute))
	bigRuns.Store(0)
	_, err := bigErr.Call(t.Context(), pool, 2000)
	require.ErrorIs(t, err, natsexec.ErrTooLarge)
	assert.Equal(t, int64(1), bigRuns.Load(), "runs")
	_, err = big.Call(t.Context(), pool, 1100)
	require.ErrorIs(t, err, natsexec.ErrTooLarge)
}
