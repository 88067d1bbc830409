package nursery_test

// Go's own tests for package context, translated to the contexts this
// library hands out, are package internal/ctxsuite; see there. This file
// runs them on this package's contexts and adds tests of its own.

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/internal/ctxsuite"
)

// TestContextSuite runs the context suite on the nursery's and its tasks'
// contexts, outside debug mode and outside the live tree (this test binary
// does not link package nurserytree), and on the deadline scopes.
func TestContextSuite(t *testing.T) {
	ctxsuite.Run(t, append(ctxsuite.NurseryKinds(""), ctxsuite.ScopeKinds()...)...)
}

// TestContextSpawnStateIndependentOfObservation is no translation: it holds
// a Spawned task's context to what its doc promises, behaving "as one made
// with context.WithCancelCause". A standard context's state does not depend
// on whether anyone called its Done or Value: after the task has returned,
// a context the task looked at and one it did not must agree.
//
// Failed, and was fixed: taskContext.release cancels the inner context only if it was made, so after the task returns, a context the task looked at is Canceled and one it did not look at stays live (until the nursery's Wait).
func TestContextSpawnStateIndependentOfObservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := nursery.New(t.Context())
		defer func() { assert.NoError(t, n.Wait()) }()
		var looked, unlooked context.Context
		t1 := nursery.Spawn(n, func(ctx context.Context) (int, error) {
			looked = ctx
			_ = ctx.Done()
			return 0, nil
		})
		t2 := nursery.Spawn(n, func(ctx context.Context) (int, error) { unlooked = ctx; return 0, nil })
		_, _ = t1.Wait()
		_, _ = t2.Wait()
		// Both tasks have returned; the nursery is still open.
		assert.Equal(t, ctxsuite.IsDone(looked), ctxsuite.IsDone(unlooked), "Done of the task that looked and of the one that did not")
		assert.Equal(t, looked.Err() != nil, unlooked.Err() != nil, "Err of a task context that was looked at and one that was not, after both tasks returned")
	})
}

// ExampleAfterFunc_connection, with a nursery task's context and net.Pipe
// (a real TCP connection cannot run in a synctest bubble).
func TestContextExampleAfterFuncConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		readFromConn := func(ctx context.Context, conn net.Conn, b []byte) (n int, err error) {
			stopc := make(chan struct{})
			stop := context.AfterFunc(ctx, func() {
				_ = conn.SetReadDeadline(time.Now())
				close(stopc)
			})
			n, err = conn.Read(b)
			if !stop() {
				<-stopc
				_ = conn.SetReadDeadline(time.Time{})
				return n, ctx.Err()
			}
			return n, err
		}
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		err := nursery.FailAfter(t.Context(), time.Millisecond, func(ctx context.Context) error {
			_, err := readFromConn(ctx, c1, make([]byte, 1024))
			assert.Equal(t, context.DeadlineExceeded, err)
			return err
		})
		assert.ErrorIs(t, err, nursery.ErrTimeout)
	})
}
