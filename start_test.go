package nursery_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

// The typical use: start a server, get its bound address, start a client.
func TestStartServerThenClient(t *testing.T) {
	t.Parallel()
	err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		addr, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			ready(ln.Addr().String())
			go func() { <-ctx.Done(); _ = ln.Close() }()
			for {
				conn, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return err
				}
				_, _ = conn.Write([]byte("hello\n"))
				_ = conn.Close()
			}
		}, nursery.Name("server"))
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(n.Context(), "tcp", addr)
		if err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		_ = conn.Close()
		if err != nil {
			return err
		}
		if line != "hello\n" {
			return errors.New("unexpected greeting " + line)
		}
		n.Cancel(errStop) // done: stop the server
		return nil
	})
	require.NoError(t, err)
}

func TestStartBlocksUntilReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		gate := make(chan struct{})
		var after atomic.Bool
		var v int
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			v, err = nursery.Start(n, func(ctx context.Context, ready func(int)) error {
				<-gate
				ready(5)
				<-ctx.Done()
				after.Store(true)
				return ctx.Err()
			})
		}()
		synctest.Wait()
		require.False(t, isClosed(done), "Start returned before ready was called")
		close(gate)
		<-done
		require.NoError(t, err)
		assert.Equal(t, 5, v)
		synctest.Wait()
		assert.False(t, after.Load(), "the task must keep running after ready")
		n.Cancel(nil)
		require.NoError(t, n.Wait())
		assert.True(t, after.Load(), "Wait must wait for the started task")
	})
}

// An error before ready is Start's alone: the nursery does not fail.
func TestStartErrorBeforeReady(t *testing.T) {
	t.Parallel()
	errInit := errors.New("bind failed")
	tests := []struct {
		name  string
		fn    func(ctx context.Context, ready func(int)) error
		check func(t *testing.T, err error)
	}{
		{
			name: "returns an error",
			fn:   func(context.Context, func(int)) error { return errInit },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, errInit)
			},
		},
		{
			name: "returns nil without calling ready",
			fn:   func(context.Context, func(int)) error { return nil },
			check: func(t *testing.T, err error) {
				assert.Error(t, err, "Start must report that fn returned without calling ready")
			},
		},
		{
			name: "returns a cancellation of its own",
			fn:   func(context.Context, func(int)) error { return context.Canceled },
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, context.Canceled)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := nursery.New(t.Context())
			started := make(chan struct{})
			sibling := nursery.Spawn(n, func(ctx context.Context) (int, error) {
				close(started)
				<-ctx.Done()
				return 0, ctx.Err()
			})
			<-started
			v, err := nursery.Start(n, tt.fn)
			assert.Zero(t, v)
			tt.check(t, err)
			assert.NoError(t, n.Context().Err(), "an error before ready must not cancel the nursery")
			assert.False(t, isClosed(sibling.Done()), "an error before ready cancelled a sibling")
			n.Cancel(nil)
			assert.NoError(t, n.Wait(), "an error before ready must not fail the nursery")
		})
	}
}

func TestStartPanicBeforeReady(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	r, panicked := catchPanic(func() {
		_, _ = nursery.Start(n, func(context.Context, func(int)) error { panic("init exploded") })
	})
	require.True(t, panicked, "a panic before ready must be re-panicked by Start")
	var pe *nursery.PanicError
	if err, ok := r.(error); ok && errors.As(err, &pe) {
		assert.Equal(t, "init exploded", pe.Value)
	} else {
		assert.Equal(t, "init exploded", r)
	}
	assert.NoError(t, n.Context().Err(), "a panic before ready must not cancel the nursery")
	var err error
	assert.NotPanics(t, func() { err = n.Wait() }, "a panic before ready is Start's alone")
	assert.NoError(t, err)
}

// After ready, the task belongs to the nursery like any other.
func TestStartAfterReady(t *testing.T) {
	t.Parallel()
	errLater := errors.New("service crashed")
	t.Run("error fails the nursery", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		started := make(chan struct{})
		sibling := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			close(started)
			return 0, blockOnCtx(ctx)
		})
		<-started
		proceed := make(chan struct{})
		v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
			ready(9)
			<-proceed
			return errLater
		}, nursery.Name("svc"))
		require.NoError(t, err)
		assert.Equal(t, 9, v)
		close(proceed)
		_, serr := sibling.Wait()
		assert.ErrorIs(t, serr, context.Canceled, "a failure after ready must cancel siblings")
		werr := n.Wait()
		require.ErrorIs(t, werr, errLater)
		assert.Contains(t, werr.Error(), "svc: "+errLater.Error())
	})
	t.Run("panic reaches Wait", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.PanicsAsErrors())
		_, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
			ready(1)
			panic("service panic")
		}, nursery.Name("svc"))
		require.NoError(t, err)
		werr := n.Wait()
		var pe *nursery.PanicError
		require.ErrorAs(t, werr, &pe)
		assert.Equal(t, "service panic", pe.Value)
		assert.Equal(t, "svc", pe.Task)
	})
	t.Run("panic re-panics in default mode", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context())
		_, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
			ready(1)
			panic("service panic")
		})
		require.NoError(t, err)
		r, panicked := catchPanic(func() { _ = n.Wait() })
		require.True(t, panicked)
		var pe *nursery.PanicError
		require.ErrorAs(t, r.(error), &pe)
		assert.Equal(t, "service panic", pe.Value)
	})
}

func TestStartOnCancelledNursery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cancel func(n *nursery.Nursery, cancelParent func())
		cause  error
	}{
		{name: "nursery Cancel", cancel: func(n *nursery.Nursery, _ func()) { n.Cancel(errStop) }, cause: errStop},
		{name: "parent cancelled", cancel: func(_ *nursery.Nursery, cancelParent func()) { cancelParent() }, cause: errParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			n := nursery.New(parent)
			tt.cancel(n, func() { cancel(errParent) })
			var ran atomic.Bool
			v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
				ran.Store(true)
				ready(1)
				return nil
			})
			assert.Zero(t, v)
			require.ErrorIs(t, err, tt.cause)
			assert.False(t, ran.Load(), "Start on a cancelled nursery must not run fn")
			assert.NoError(t, n.Wait(), "Start's outcome on a cancelled nursery is Start's alone")
		})
	}
}

func TestStartReadyTwicePanics(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context())
	second := make(chan any, 1)
	v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
		ready(1)
		r, panicked := catchPanic(func() { ready(2) })
		if !panicked {
			r = nil
		}
		second <- r
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	r := <-second
	require.NotNil(t, r, "calling ready twice must panic")
	assert.True(t, strings.HasPrefix(panicText(r), "nursery: "), "panic %q must start with %q", panicText(r), "nursery: ")
	require.NoError(t, n.Wait())
}

// Services started with Start do not count toward the limit.
func TestStartServicesDoNotCountTowardLimit(t *testing.T) {
	t.Parallel()
	n := nursery.New(t.Context(), nursery.WithLimit(1))
	// Three services occupy no slot...
	for i := range 3 {
		v, err := nursery.Start(n, func(ctx context.Context, ready func(int)) error {
			ready(i)
			return blockOnCtx(ctx)
		})
		require.NoError(t, err)
		require.Equal(t, i, v)
	}
	// ...so a normal task still runs while they do.
	ran := make(chan struct{})
	mustFinish(t, "Go with only services running", func(context.Context) { n.Go(func(context.Context) error { close(ran); return nil }) }, nil)
	mustFinish(t, "a task while services hold no slot", func(context.Context) { <-ran }, nil)
	n.Cancel(nil)
	require.NoError(t, n.Wait())
}

func TestStartOnFullNurseryDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	t.Run("from outside", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.WithLimit(1))
		started := make(chan struct{})
		n.Go(func(ctx context.Context) error { close(started); return blockOnCtx(ctx) })
		<-started // the only slot is taken
		mustFinish(t, "Start on a full nursery", func(context.Context) {
			v, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
				ready("up")
				return blockOnCtx(ctx)
			})
			assert.NoError(t, err)
			assert.Equal(t, "up", v)
		}, nil)
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	})
	t.Run("from inside a task", func(t *testing.T) {
		t.Parallel()
		n := nursery.New(t.Context(), nursery.WithLimit(1))
		got := make(chan string, 1)
		n.Go(func(ctx context.Context) error {
			v, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
				ready("inner")
				return blockOnCtx(ctx)
			})
			got <- v
			return err
		})
		var inner string
		mustFinish(t, "Start from inside a task of a full nursery", func(context.Context) { inner = <-got }, nil)
		assert.Equal(t, "inner", inner)
		n.Cancel(nil)
		require.NoError(t, n.Wait())
	})
}
