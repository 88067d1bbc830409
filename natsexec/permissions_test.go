package natsexec_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/natsexec"
)

// The permissions that README.md and doc.go give for the default prefix.
var (
	workerPermissions = &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"nursery.hb", "_INBOX.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"nursery.w.*", "nursery.ping"}},
	}
	poolPermissions = &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"nursery.w.*", "nursery.ping"}},
		Subscribe: &server.SubjectPermission{Allow: []string{"nursery.hb", "_INBOX.>"}},
	}
	// An outsider may do anything else on the server.
	outsiderPermissions = &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"nursery.>", "_INBOX.>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"nursery.>", "_INBOX.>"}},
	}
)

func withUsers(o *server.Options) {
	o.Users = []*server.User{
		{Username: "worker", Password: "wpass", Permissions: workerPermissions},
		{Username: "pool", Password: "ppass", Permissions: poolPermissions},
		{Username: "outsider", Password: "opass", Permissions: outsiderPermissions},
	}
}

// asyncErrors collects the asynchronous errors of a connection, such as
// the server's permission violations.
type asyncErrors struct {
	mu   sync.Mutex
	errs []error
}

func (a *asyncErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

func (a *asyncErrors) violations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v []string
	for _, err := range a.errs {
		if strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			v = append(v, err.Error())
		}
	}
	return v
}

func connectAs(tb testing.TB, url, user, pass string) (*nats.Conn, *asyncErrors) {
	tb.Helper()
	errs := &asyncErrors{}
	nc, err := nats.Connect(url, nats.UserInfo(user, pass), nats.ErrorHandler(errs.handler),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	return nc, errs
}

// TestPermissions runs a worker and a pool with the subject permissions
// the documentation gives, beside an outsider who may use the server for
// anything else: the outsider cannot learn tokens, receive calls, run a
// function, or forge heartbeats, goodbyes or replies, and the pool's
// calls are unaffected; the worker and the pool need no more permissions.
func TestPermissions(t *testing.T) {
	resetGauge()
	s := startServer(t, 0, withUsers)
	url := s.ClientURL()

	wnc, werrs := connectAs(t, url, "worker", "wpass")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- natsexec.Serve(ctx, wnc, natsexec.Concurrency(4)) }()
	t.Cleanup(func() { stop(); <-served })

	pnc, perrs := connectAs(t, url, "pool", "ppass")
	pool, err := natsexec.NewPool(pnc, natsexec.Lease(500*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, pool.Close()) })
	_, err = gauged.Call(t.Context(), pool, time.Millisecond)
	require.NoError(t, err)
	tokens := natsexec.WorkerTokens(pool)
	require.Len(t, tokens, 1)
	token := tokens[0] // as if the outsider had learnt it somehow

	onc, oerrs := connectAs(t, url, "outsider", "opass")
	received := make(chan string, 100)
	attempts := 0
	for _, subj := range []string{"nursery.hb", "nursery.w.>", "nursery.w." + token, "nursery.ping", "_INBOX.>", ">"} {
		_, err := onc.Subscribe(subj, func(m *nats.Msg) { received <- m.Subject })
		require.NoError(t, err)
		if subj != ">" {
			attempts++ // the server refuses the subscription
		}
	}
	forged := []struct {
		subject, reply string
		data           []byte
	}{
		{"nursery.ping", "outsider.inbox", natsexec.Message(natsexec.ProtocolVersion, natsexec.KindPing, nil)},
		{"nursery.w." + token, "outsider.inbox.1", natsexec.CallMsg(gauged.Name(), time.Millisecond)},
		{"nursery.hb", "", natsexec.ForgeHeartbeat("outsider", "outsider", 1<<16, time.Minute, false, nil)},
		{"nursery.hb", "", natsexec.ForgeHeartbeat("bad token", "outsider", 1<<16, time.Minute, false, nil)},
		{"nursery.hb", "", natsexec.ForgeHeartbeat(token, "outsider", 1, time.Minute, true, nil)},
		{natsexec.Inbox(pool) + ".0", "", natsexec.ForgeHeartbeat("outsider", "outsider", 1<<16, time.Minute, false, nil)},
		{natsexec.Inbox(pool) + ".2", "", natsexec.Message(natsexec.ProtocolVersion, natsexec.KindResult, []byte{0})},
	}
	for _, f := range forged {
		require.NoError(t, onc.PublishMsg(&nats.Msg{Subject: f.subject, Reply: f.reply, Data: f.data}))
		attempts++
	}
	require.NoError(t, onc.Flush())
	require.Eventually(t, func() bool { return len(oerrs.violations()) >= attempts }, 20*time.Second, time.Millisecond,
		"violations: %v", oerrs.violations())

	// The pool's calls run on the honest worker only, once each.
	const calls = 20
	for range calls {
		_, err := gauged.Call(t.Context(), pool, time.Millisecond)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1+calls), gauge.calls.Load(), "calls run")
	assert.Equal(t, []string{token}, natsexec.WorkerTokens(pool))
	// Heartbeats and renewals went on meanwhile: the outsider saw none
	// of them, nor any call or reply, on its permitted ">".
	require.NoError(t, onc.Publish("outsider.check", nil))
	require.NoError(t, onc.Flush())
	assert.Equal(t, "outsider.check", <-received, "the outsider received the pool's or the worker's messages")
	assert.Empty(t, werrs.violations(), "the worker needs more permissions")
	assert.Empty(t, perrs.violations(), "the pool needs more permissions")
	t.Logf("outsider's violations: %d", len(oerrs.violations()))
}

// TestPermissionsInboxPerPool gives each pool an inbox prefix of its own,
// as the documentation suggests, so that a pool cannot read another's
// replies: both pools' calls run, and one pool's user cannot subscribe to
// the other's inbox.
func TestPermissionsInboxPerPool(t *testing.T) {
	poolUser := func(name, pass string) *server.User {
		return &server.User{Username: name, Password: pass, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"nursery.w.*", "nursery.ping"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"nursery.hb", "_I." + name + ".>"}},
		}}
	}
	s := startServer(t, 0, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "worker", Password: "wpass", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"nursery.hb", "_I.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"nursery.w.*", "nursery.ping"}},
			}},
			poolUser("poolA", "apass"),
			poolUser("poolB", "bpass"),
		}
	})
	url := s.ClientURL()
	wnc, werrs := connectAs(t, url, "worker", "wpass")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- natsexec.Serve(ctx, wnc) }()
	t.Cleanup(func() { stop(); <-served })

	var conns []*nats.Conn
	var errs []*asyncErrors
	var pools []*natsexec.Pool
	for _, u := range []struct{ name, pass string }{{"poolA", "apass"}, {"poolB", "bpass"}} {
		e := &asyncErrors{}
		nc, err := nats.Connect(url, nats.UserInfo(u.name, u.pass), nats.CustomInboxPrefix("_I."+u.name), nats.ErrorHandler(e.handler))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		pool, err := natsexec.NewPool(nc)
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, pool.Close()) })
		got, err := noop.Call(t.Context(), pool, 5)
		require.NoError(t, err, u.name)
		assert.Equal(t, 5, got)
		conns, errs, pools = append(conns, nc), append(errs, e), append(pools, pool)
	}
	// Pool A's user tries every subscription that would show it B's
	// replies: the server refuses them all, and A's own inbox shows none.
	seen := make(chan string, 100)
	for _, subj := range []string{"_I.poolB.>", "_I.>", "_INBOX.>", ">", "_I.poolA.>"} {
		_, err := conns[0].Subscribe(subj, func(m *nats.Msg) {
			if !strings.HasPrefix(m.Subject, "_I.poolA.") {
				seen <- m.Subject
			}
		})
		require.NoError(t, err)
	}
	require.NoError(t, conns[0].Flush())
	require.Eventually(t, func() bool { return len(errs[0].violations()) == 4 }, 20*time.Second, time.Millisecond,
		"violations: %v", errs[0].violations())
	// B's call runs long enough for a renewal of its lease (heartbeats
	// every 500ms), then replies.
	out, err := delayedEcho.Call(t.Context(), pools[1], "B's")
	require.NoError(t, err)
	assert.Equal(t, "B's", out)
	require.NoError(t, conns[0].Flush())
	select {
	case subj := <-seen:
		t.Fatalf("pool A's user received %s", subj)
	default:
	}
	assert.Empty(t, errs[1].violations())
	assert.Empty(t, werrs.violations(), "the worker needs more permissions")
}
