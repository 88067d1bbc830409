// Package newbie exercises natsexec from its README and package docs alone:
// a worker and a pool over an embedded NATS server configured with the
// permissions the README lists.
package newbie

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	subprocess.Main() // harmless here: no subprocess.Pool, but the docs' habit
	goleak.VerifyTestMain(m)
}

var ErrBadWord = subprocess.RegisterError("newbie.nats.ErrBadWord", errors.New("bad word"))

var upper = subprocess.Register("newbie.nats.upper", func(ctx context.Context, s string) (string, error) {
	if strings.Contains(s, "darn") {
		return "", fmt.Errorf("upper %q: %w", s, ErrBadWord)
	}
	return strings.ToUpper(s), nil
})

// blowup returns a result or an error of the size asked for.
var blowup = subprocess.Register("newbie.nats.blowup", func(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("%s: %w", strings.Repeat("x", -n), ErrBadWord)
	}
	return make([]byte, n), nil
})

var (
	causeMu   sync.Mutex
	seenCause error
)

var waitCancel = subprocess.Register("newbie.nats.waitCancel", func(ctx context.Context, _ int) (int, error) {
	<-ctx.Done()
	causeMu.Lock()
	seenCause = context.Cause(ctx)
	causeMu.Unlock()
	return 0, context.Cause(ctx)
})

const maxPayload = 64 << 10

func startServer(t *testing.T) *server.Server {
	t.Helper()
	perm := func(pub, sub []string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: sub},
		}
	}
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       -1,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: maxPayload,
		Users: []*server.User{
			{Username: "worker", Password: "wp", Permissions: perm(
				[]string{"nursery.hb", "_INBOX.>"}, []string{"nursery.w.*", "nursery.ping"})},
			{Username: "pool", Password: "pp", Permissions: perm(
				[]string{"nursery.w.*", "nursery.ping"}, []string{"nursery.hb", "_INBOX.>"})},
			{Username: "other", Password: "op", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Deny: []string{"nursery.>", "_INBOX.>"}},
				Subscribe: &server.SubjectPermission{Deny: []string{"nursery.>", "_INBOX.>"}},
			}},
		},
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(5*time.Second))
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connect(t *testing.T, s *server.Server, user, pass string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, pass), nats.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// startWorker runs Serve in this process (the docs: "A worker is any process
// of the program that calls Serve").
func startWorker(t *testing.T, s *server.Server) {
	t.Helper()
	nc := connect(t, s, "worker", "wp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- natsexec.Serve(ctx, nc, natsexec.WorkerName("w1"), natsexec.Concurrency(4)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return")
		}
	})
}

func newPool(t *testing.T, nc *nats.Conn, opts ...natsexec.PoolOption) *natsexec.Pool {
	t.Helper()
	p, err := natsexec.NewPool(nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func TestCallsWithPermissions(t *testing.T) {
	s := startServer(t)
	startWorker(t, s)
	pool := newPool(t, connect(t, s, "pool", "pp"))

	ctx := context.Background()
	words := []string{"alpha", "beta", "gamma", "delta", "eps"}
	var tasks []*nursery.Task[string]
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		for _, w := range words {
			tasks = append(tasks, upper.Spawn(n, pool, w))
		}
		return nil
	})
	require.NoError(t, err)
	for i, tk := range tasks {
		v, err := tk.Wait()
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(words[i]), v)
	}

	// Errors and sentinels, as from a subprocess.Pool.
	_, err = upper.Call(ctx, pool, "oh darn")
	assert.ErrorIs(t, err, ErrBadWord)
	var re *subprocess.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, `upper "oh darn": bad word`, re.Message)

	// Unknown function.
	err = pool.Invoke(ctx, "newbie.nats.nope", 1, nil)
	assert.ErrorIs(t, err, subprocess.ErrUnknownFunc)
}

// "An input, result or error above the NATS server's max_payload fails the
// call at once with an error matching ErrTooLarge, and is never retried; an
// error too large arrives cut short, keeping its sentinels."
func TestTooLarge(t *testing.T) {
	s := startServer(t)
	startWorker(t, s)
	pool := newPool(t, connect(t, s, "pool", "pp"))
	ctx := context.Background()

	// Warm up so that the worker is known.
	_, err := upper.Call(ctx, pool, "x")
	require.NoError(t, err)

	start := time.Now()
	_, err = upper.Call(ctx, pool, strings.Repeat("a", 2*maxPayload))
	assert.ErrorIs(t, err, natsexec.ErrTooLarge, "input too large: %v", err)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "fails at once")

	// Just under the limit by raw size, but gob adds framing: still OK or
	// ErrTooLarge, never anything else.
	_, err = upper.Call(ctx, pool, strings.Repeat("a", maxPayload-200))
	t.Logf("input of max_payload-200 bytes: %v", err)
	if err != nil {
		assert.ErrorIs(t, err, natsexec.ErrTooLarge)
	}
	// A result just under max_payload.
	_, err = blowup.Call(ctx, pool, maxPayload-200)
	t.Logf("result of max_payload-200 bytes: %v", err)
	if err != nil {
		assert.ErrorIs(t, err, natsexec.ErrTooLarge)
	}

	_, err = blowup.Call(ctx, pool, 2*maxPayload)
	assert.ErrorIs(t, err, natsexec.ErrTooLarge, "result too large: %v", err)
	t.Logf("result too large: %v", err)

	_, err = blowup.Call(ctx, pool, -2*maxPayload)
	assert.ErrorIs(t, err, natsexec.ErrTooLarge, "error too large: %v", err)
	assert.ErrorIs(t, err, ErrBadWord, "keeps its sentinels")
	if err != nil {
		// README: "an error too large arrives cut short (its first KiB, its sentinels kept)"
		assert.Less(t, len(err.Error()), 4<<10, "cut to about a KiB")
		t.Logf("error too large: %d bytes, ends %q", len(err.Error()), err.Error()[max(0, len(err.Error())-150):])
	}

	// The pool still works.
	v, err := upper.Call(ctx, pool, "ok")
	require.NoError(t, err)
	assert.Equal(t, "OK", v)
}

// "the function's context is cancelled with the caller's cause, and the call
// returns that cause once the worker has replied"
func TestCancelCause(t *testing.T) {
	s := startServer(t)
	startWorker(t, s)
	pool := newPool(t, connect(t, s, "pool", "pp"))
	cause := errors.New("caller lost interest")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(200*time.Millisecond, func() { cancel(cause) })
	_, err := waitCancel.Call(ctx, pool, 0)
	assert.ErrorIs(t, err, cause)
	causeMu.Lock()
	got := seenCause
	causeMu.Unlock()
	require.Error(t, got, "the worker's function saw a cancellation")
	assert.Equal(t, cause.Error(), got.Error(), "worker-side cause has the caller's text")
}

// An outsider with the "anyone else" permissions cannot run a function.
func TestOutsiderCannotCall(t *testing.T) {
	s := startServer(t)
	startWorker(t, s)
	nc := connect(t, s, "other", "op")
	pool := newPool(t, nc, natsexec.Lease(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := upper.Call(ctx, pool, "hello")
	require.Error(t, err)
	t.Logf("outsider: %v", err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "fails on its own, not by our timeout")
	assert.ErrorIs(t, err, natsexec.ErrNoWorkers)
}

var stubborn = subprocess.Register("newbie.nats.stubborn", func(ctx context.Context, ms int) (string, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "finished", nil
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
})

var remaining = subprocess.Register("newbie.nats.remaining", func(ctx context.Context, _ int) (time.Duration, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return -1, nil
	}
	return time.Until(d), nil
})

// "When ctx is done, Serve stops taking calls, lets the running calls finish
// for up to ShutdownGrace, then cancels their contexts with ErrWorkerStopped
// as the cause"; the error of a call that returns it matches it.
func TestWorkerShutdown(t *testing.T) {
	s := startServer(t)
	nc := connect(t, s, "worker", "wp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- natsexec.Serve(ctx, nc, natsexec.WorkerName("short"), natsexec.ShutdownGrace(300*time.Millisecond))
	}()
	pool := newPool(t, connect(t, s, "pool", "pp"))

	var wg sync.WaitGroup
	var quickV, slowV string
	var quickErr, slowErr error
	wg.Go(func() { quickV, quickErr = stubborn.Call(context.Background(), pool, 100) })
	wg.Go(func() { slowV, slowErr = stubborn.Call(context.Background(), pool, 30000) })
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	wg.Wait()
	assert.NoError(t, quickErr)
	assert.Equal(t, "finished", quickV)
	assert.ErrorIs(t, slowErr, natsexec.ErrWorkerStopped, "slow call: %q %v", slowV, slowErr)

	// The deadline travels as time left.
	startWorker(t, s)
	dctx, dcancel := context.WithTimeout(context.Background(), time.Hour)
	defer dcancel()
	left, err := remaining.Call(dctx, pool, 0)
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), left.Seconds(), 5)
}

var boom = subprocess.Register("newbie.nats.boom", func(ctx context.Context, s string) (int, error) {
	panic("boom: " + s)
})

var deaf = subprocess.Register("newbie.nats.deaf", func(ctx context.Context, ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
})

// Panics, as from a subprocess.Pool; Close lets calls in flight finish; a
// call whose function ignores its context returns after CancelGrace.
func TestPanicCloseAndCancelGrace(t *testing.T) {
	s := startServer(t)
	startWorker(t, s)
	pool, err := natsexec.NewPool(connect(t, s, "pool", "pp"), natsexec.CancelGrace(200*time.Millisecond))
	require.NoError(t, err)

	_, err = boom.Call(context.Background(), pool, "x")
	var pe *nursery.PanicError
	require.ErrorAs(t, err, &pe, "err = %v", err)
	assert.Equal(t, "newbie.nats.boom", pe.Task)
	assert.Equal(t, "boom: x", fmt.Sprint(pe.Value))
	assert.Contains(t, string(pe.Stack), "newbie")

	cause := errors.New("enough")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	_, err = deaf.Call(ctx, pool, 1500)
	el := time.Since(start)
	assert.ErrorIs(t, err, cause)
	assert.Less(t, el, time.Second, "returns after CancelGrace, not when the deaf function ends")

	var wg sync.WaitGroup
	var v int
	var callErr error
	wg.Go(func() { v, callErr = deaf.Call(context.Background(), pool, 300) })
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, pool.Close())
	wg.Wait()
	assert.NoError(t, callErr)
	assert.Equal(t, 300, v)
	_, err = upper.Call(context.Background(), pool, "late")
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
	assert.NoError(t, pool.Close())
	time.Sleep(1500 * time.Millisecond) // let the deaf call end before the worker stops
}

// "A call without news for a Lease (its worker was killed, or cut off ...)
// fails with a *WorkerLostError naming the worker"; an Idempotent function
// is retried once on another worker.
func TestWorkerLost(t *testing.T) {
	s := startServer(t)
	wnc := connect(t, s, "worker", "wp")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- natsexec.Serve(ctx, wnc, natsexec.WorkerName("doomed")) }()
	pool := newPool(t, connect(t, s, "pool", "pp"), natsexec.Lease(time.Second))

	time.AfterFunc(300*time.Millisecond, wnc.Close) // cut the worker off
	start := time.Now()
	_, err := stubborn.Call(context.Background(), pool, 1500)
	el := time.Since(start)
	var wl *natsexec.WorkerLostError
	require.ErrorAs(t, err, &wl, "err = %v", err)
	assert.Equal(t, "doomed", wl.Worker)
	assert.Equal(t, "newbie.nats.stubborn", wl.Func)
	assert.Less(t, el, 4*time.Second)
	t.Logf("lost after %v: %v", el, err)
	select {
	case err := <-done:
		t.Logf("Serve on a closed conn returned: %v", err)
	case <-time.After(15 * time.Second):
		t.Error("Serve did not return after its conn was closed")
	}

	// No worker any more: ErrNoWorkers, a lease later.
	_, err = upper.Call(context.Background(), pool, "anyone?")
	assert.ErrorIs(t, err, natsexec.ErrNoWorkers)
}

var (
	slowActive sync.Mutex
	slowNow    int
)

var tracked = subprocess.Register("newbie.nats.tracked", func(ctx context.Context, ms int) (int, error) {
	slowActive.Lock()
	slowNow++
	slowActive.Unlock()
	defer func() {
		slowActive.Lock()
		slowNow--
		slowActive.Unlock()
	}()
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
})

// Serve's doc: "no call of the worker runs after Serve returns". Does that
// hold when Serve returns because its connection was closed?
func TestServeReturnsAfterCallsWhenConnCloses(t *testing.T) {
	s := startServer(t)
	wnc := connect(t, s, "worker", "wp")
	done := make(chan error, 1)
	go func() { done <- natsexec.Serve(context.Background(), wnc, natsexec.WorkerName("closing")) }()
	pool := newPool(t, connect(t, s, "pool", "pp"), natsexec.Lease(time.Second))

	callDone := make(chan error, 1)
	go func() { _, err := tracked.Call(context.Background(), pool, 2000); callDone <- err }()
	time.Sleep(300 * time.Millisecond)
	wnc.Close()
	var serveErr error
	select {
	case serveErr = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
	}
	slowActive.Lock()
	running := slowNow
	slowActive.Unlock()
	t.Logf("Serve returned %v with %d call(s) still running", serveErr, running)
	assert.Equal(t, 0, running, "a call of the worker still runs after Serve returned")
	<-callDone
	time.Sleep(2 * time.Second) // let the function end either way (goleak)
}
