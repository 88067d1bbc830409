package natsexec_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/natsexec"
)

// learnToken asks every worker for a heartbeat, as any client of the
// server may (without permissions), and returns the first token.
func learnToken(tb testing.TB, nc *nats.Conn) string {
	tb.Helper()
	var m *nats.Msg
	require.Eventually(tb, func() bool { // until a worker has subscribed
		var err error
		m, err = nc.Request(natsexec.DefaultPrefix+".ping", natsexec.Message(natsexec.ProtocolVersion, natsexec.KindPing, nil), 10*time.Second)
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "no worker answers pings")
	token, err := natsexec.HeartbeatToken(m.Data)
	require.NoError(tb, err)
	return token
}

// forge publishes forged heartbeats on the heartbeat subject, between two
// valid ones for a worker named marker, and waits until the pool has heard
// the second: it has then read the forged ones before it. The first, sent
// until the pool hears it, makes sure that the pool's subscription has
// reached the server (NewPool does not wait for it) before the forged
// ones are sent. The two differ by their interval, so that the pool's
// lease must be at most 3s.
func forge(tb testing.TB, nc *nats.Conn, pool *natsexec.Pool, marker string, msgs ...[]byte) {
	tb.Helper()
	heard := func(lease time.Duration) func() bool {
		return func() bool { _, l, ok := natsexec.WorkerInfo(pool, marker); return ok && l == lease }
	}
	require.Eventually(tb, func() bool {
		require.NoError(tb, nc.Publish(natsexec.DefaultPrefix+".hb", natsexec.ForgeHeartbeat(marker, marker, 1, 2*time.Second, false, nil)))
		return heard(6 * time.Second)()
	}, 20*time.Second, 10*time.Millisecond, "the pool never heard the marker")
	for _, m := range msgs {
		require.NoError(tb, nc.Publish(natsexec.DefaultPrefix+".hb", m))
	}
	require.NoError(tb, nc.Publish(natsexec.DefaultPrefix+".hb", natsexec.ForgeHeartbeat(marker, marker, 1, time.Second, false, nil)))
	require.NoError(tb, nc.Flush())
	require.Eventually(tb, heard(3*time.Second), 20*time.Second, time.Millisecond, "the pool never heard the marker again")
}

// TestForgedGoodbyeIgnored has a client that learnt a worker's token send
// a goodbye in its name: the pool keeps calling the worker.
func TestForgedGoodbyeIgnored(t *testing.T) {
	s := startServer(t, 0)
	// A long heartbeat: a goodbye believed would not be undone in time.
	serveInProcess(t, s.ClientURL(), natsexec.Heartbeat(time.Minute), natsexec.Concurrency(4))
	pool := newPool(t, s.ClientURL(), natsexec.Lease(200*time.Millisecond))
	_, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	hostile := connect(t, s.ClientURL())
	token := learnToken(t, hostile)
	forge(t, hostile, pool, "marker",
		natsexec.ForgeHeartbeat(token, "forger", 4, time.Second, true, nil),
		natsexec.ForgeHeartbeat(token, "forger", 4, time.Second, true, []byte("guessed secret")))

	_, _, ok := natsexec.WorkerInfo(pool, token)
	assert.True(t, ok, "the pool believed a forged goodbye")
	got, err := noop.Call(t.Context(), pool, 7)
	require.NoError(t, err)
	assert.Equal(t, 7, got)
}

// TestInvalidHeartbeatsIgnored forges heartbeats whose tokens are not one
// valid subject token, with a huge capacity to draw every call: the pool
// ignores them, and calls go to the honest worker.
func TestInvalidHeartbeatsIgnored(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(2))
	pool := newPool(t, s.ClientURL())
	_, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	bad := []string{"a b", "x.>", "*", "a.b", "", strings.Repeat("t", 65), "\x00", "ü"}
	var msgs [][]byte
	for _, token := range bad {
		msgs = append(msgs, natsexec.ForgeHeartbeat(token, "forger", 60000, time.Second, false, nil))
	}
	msgs = append(msgs, natsexec.ForgeHeartbeat("longname", strings.Repeat("n", 257), 60000, time.Second, false, nil))
	hostile := connect(t, s.ClientURL())
	forge(t, hostile, pool, "marker", msgs...)
	for _, token := range append(bad, "longname") {
		_, _, ok := natsexec.WorkerInfo(pool, token)
		assert.False(t, ok, "the pool took a heartbeat with token %q", token)
	}
	for i := range 20 {
		got, err := noop.Call(t.Context(), pool, i)
		require.NoError(t, err)
		assert.Equal(t, i, got)
	}
}

// TestHeartbeatClamped forges a heartbeat claiming a huge capacity and a
// huge interval: the pool clamps both, so that the worker's lease stays
// within three minutes.
func TestHeartbeatClamped(t *testing.T) {
	s := startServer(t, 0)
	pool := newPool(t, s.ClientURL())
	hostile := connect(t, s.ClientURL())
	forge(t, hostile, pool, "marker",
		natsexec.ForgeHeartbeat("huge", "forger", 1<<62, 10*time.Hour, false, nil))
	capacity, lease, ok := natsexec.WorkerInfo(pool, "huge")
	require.True(t, ok)
	assert.Equal(t, 1<<16, capacity)
	assert.Equal(t, 3*time.Minute, lease)
}

// TestProtocolMismatch has a pool meet a worker of the unversioned
// protocol, and a worker meet calls of a later version: both fail
// clearly.
func TestProtocolMismatch(t *testing.T) {
	s := startServer(t, 0)
	t.Run("old worker", func(t *testing.T) {
		old := connect(t, s.ClientURL())
		hb := natsexec.HeartbeatV0("oldtoken", "old-worker", 4)
		sub, err := old.Subscribe(natsexec.DefaultPrefix+".ping", func(m *nats.Msg) { old.Publish(m.Reply, hb) })
		require.NoError(t, err)
		defer sub.Unsubscribe()
		require.NoError(t, old.Flush())
		pool := newPool(t, s.ClientURL(), natsexec.Lease(200*time.Millisecond))
		_, err = noop.Call(t.Context(), pool, 1)
		require.ErrorIs(t, err, natsexec.ErrNoWorkers)
		require.ErrorIs(t, err, natsexec.ErrProtocolMismatch)
		assert.ErrorContains(t, err, fmt.Sprintf("worker old-worker speaks protocol version 0, this pool version %d", natsexec.ProtocolVersion))
	})
	serveInProcess(t, s.ClientURL())
	for _, c := range []struct {
		name    string
		version int
	}{
		{"newer call", natsexec.ProtocolVersion + 1},
		// Version 1 had reply subjects without a nonce.
		{"older call", natsexec.ProtocolVersion - 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			nc := connect(t, s.ClientURL())
			token := learnToken(t, nc)
			inbox := nc.NewInbox()
			reply, err := nc.SubscribeSync(inbox + ".1")
			require.NoError(t, err)
			call := natsexec.Message(c.version, natsexec.KindCall, natsexec.CallMsg(noop.Name(), 1)[2:])
			require.NoError(t, nc.PublishRequest(natsexec.DefaultPrefix+".w."+token, inbox+".1", call))
			m, err := reply.NextMsg(20 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, []byte{natsexec.ProtoByte, natsexec.KindMismatch}, m.Data)
		})
	}
	t.Run("newer worker's reply", func(t *testing.T) {
		fake := connect(t, s.ClientURL())
		hb := natsexec.ForgeHeartbeat("newtoken", "new-worker", 1000, time.Second, false, nil)
		ping, err := fake.Subscribe(natsexec.DefaultPrefix+".ping", func(m *nats.Msg) { fake.Publish(m.Reply, hb) })
		require.NoError(t, err)
		defer ping.Unsubscribe()
		calls, err := fake.Subscribe(natsexec.DefaultPrefix+".w.newtoken", func(m *nats.Msg) {
			fake.Publish(m.Reply, natsexec.Message(natsexec.ProtocolVersion+1, natsexec.KindResult, []byte{0, 1, 2}))
		})
		require.NoError(t, err)
		defer calls.Unsubscribe()
		require.NoError(t, fake.Flush())
		pool := newPool(t, s.ClientURL(), natsexec.Idempotent(noop.Name()))
		require.Eventually(t, func() bool { _, _, ok := natsexec.WorkerInfo(pool, "newtoken"); return ok }, 20*time.Second, time.Millisecond)
		_, err = noop.Call(t.Context(), pool, 1)
		require.ErrorIs(t, err, natsexec.ErrProtocolMismatch)
		assert.ErrorContains(t, err, fmt.Sprintf("worker new-worker speaks protocol version %d, this pool version %d", natsexec.ProtocolVersion+1, natsexec.ProtocolVersion))
	})
}

// TestImpersonatedCapacity has a client announce, in an honest worker's
// name, a capacity far above the worker's: the pool sends it more calls
// than it has room for, which it refuses, and every call still runs once,
// never more at a time than the worker's Concurrency.
func TestImpersonatedCapacity(t *testing.T) {
	resetGauge()
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(2), natsexec.Heartbeat(50*time.Millisecond))
	pool := newPool(t, s.ClientURL())
	_, err := gauged.Call(t.Context(), pool, time.Millisecond)
	require.NoError(t, err)
	hostile := connect(t, s.ClientURL())
	token := learnToken(t, hostile)

	stop := make(chan struct{})
	forging := make(chan struct{})
	go func() { // forge faster than the worker's heartbeats
		defer close(forging)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				hostile.Publish(natsexec.DefaultPrefix+".hb", natsexec.ForgeHeartbeat(token, "forger", 1<<16, 50*time.Millisecond, false, nil))
			}
		}
	}()
	const calls = 40
	err = nursery.Run(t.Context(), func(n *nursery.Nursery) error {
		for range calls {
			gauged.Spawn(n, pool, 5*time.Millisecond)
		}
		return nil
	})
	close(stop)
	<-forging
	require.NoError(t, err)
	assert.Equal(t, int64(1+calls), gauge.calls.Load(), "calls run")
	assert.LessOrEqual(t, gauge.peak.Load(), int64(2), "peak of calls running at once")
}

// TestRenewalNeedsNonce has a worker that swallows a call, and renewals of
// that call's lease by the worker's token and the call's id: with another
// nonce (as a call that a client sent with the pool's inbox and the same
// id would have), they do not keep the call alive, and it fails after its
// lease; with the call's own nonce, they do.
func TestRenewalNeedsNonce(t *testing.T) {
	s := startServer(t, 0)
	for _, c := range []struct {
		name  string
		right bool
	}{{"other nonce", false}, {"call's nonce", true}} {
		t.Run(c.name, func(t *testing.T) {
			const lease = 500 * time.Millisecond
			fake := connect(t, s.ClientURL())
			token := "swallower" + strconv.FormatBool(c.right)
			subjects := make(chan string, 1)
			sub, err := fake.Subscribe(natsexec.DefaultPrefix+".w."+token, func(m *nats.Msg) { subjects <- m.Reply })
			require.NoError(t, err)
			defer sub.Unsubscribe()
			require.NoError(t, fake.Flush())
			pool := newPool(t, s.ClientURL(), natsexec.Lease(lease))
			require.Eventually(t, func() bool { // until the pool has subscribed
				require.NoError(t, fake.Publish(natsexec.DefaultPrefix+".hb", natsexec.ForgeHeartbeat(token, token, 1, 10*time.Millisecond, false, nil)))
				_, _, ok := natsexec.WorkerInfo(pool, token)
				return ok
			}, 20*time.Second, 10*time.Millisecond)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { _, err := noop.Call(ctx, pool, 1); done <- err }()
			subject := <-subjects
			parts := strings.Split(subject, ".")
			require.GreaterOrEqual(t, len(parts), 3, subject)
			id, err := strconv.ParseUint(parts[len(parts)-2], 10, 64)
			require.NoError(t, err, subject)
			nonce := parts[len(parts)-1]
			if !c.right {
				nonce = "AAAAAAAAAAAAAAAAAAAAAA"
			}
			renewals := time.NewTicker(20 * time.Millisecond)
			defer renewals.Stop()
			control := time.NewTimer(4 * lease)
			defer control.Stop()
			for {
				select {
				case <-renewals.C:
					require.NoError(t, fake.Publish(natsexec.Inbox(pool)+".0", natsexec.RenewMsg(token, id, nonce)))
					continue
				case err := <-done:
					require.False(t, c.right, "the call ended although its lease was renewed: %v", err)
					var wl *natsexec.WorkerLostError
					require.ErrorAs(t, err, &wl)
					assert.Equal(t, token, wl.Worker)
				case <-control.C:
					require.True(t, c.right, "the call outlived four leases without renewals of its own")
					cancel()
					assert.ErrorIs(t, <-done, context.Canceled)
				}
				return
			}
		})
	}
}
