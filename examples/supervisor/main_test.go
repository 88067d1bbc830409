package main

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	assert.Equal(t, `GET greeting: "hello" <nil>
level=WARN msg="supervisor: exit" supervisor=background child=worker restarts=0 err="flaky: job failed"
level=INFO msg="supervisor: restart" supervisor=background child=worker restarts=1 delay=0s cause=worker
level=WARN msg="supervisor: exit" supervisor=app child=db restarts=0 err="db: connection reset by peer"
level=INFO msg="supervisor: exit" supervisor=background child=worker restarts=1
level=INFO msg="supervisor: exit" supervisor=app child=background restarts=0
level=INFO msg="supervisor: exit" supervisor=app child=http restarts=0
level=INFO msg="supervisor: restart" supervisor=app child=db restarts=1 delay=0s cause=db
level=INFO msg="supervisor: restart" supervisor=app child=http restarts=1 delay=0s cause=db
level=INFO msg="supervisor: restart" supervisor=app child=background restarts=1 delay=0s cause=db
GET greeting: "hello" <nil>
level=INFO msg="supervisor: exit" supervisor=background child=worker restarts=1
level=INFO msg="supervisor: exit" supervisor=app child=background restarts=1
level=INFO msg="supervisor: exit" supervisor=app child=http restarts=1
level=INFO msg="supervisor: exit" supervisor=app child=db restarts=1
`, out.String())
}

// TestKillChildren kills children of the running tree and checks the order
// in which the supervisors stop and start them, and that the service works
// again afterwards.
func TestKillChildren(t *testing.T) {
	a := newApp(slog.New(slog.NewTextHandler(io.Discard, nil)))
	n := nursery.New(t.Context())
	sup := a.tree()
	require.NoError(t, supervisor.Start(n, sup))
	assert.Equal(t, []string{
		"app: start db", "app: ready db",
		"app: start http", "app: ready http",
		"app: start background",
		"background: start worker", "background: ready worker",
		"app: ready background",
	}, a.take(), "each child starts once the one before is ready")

	// The worker is transient: each failure restarts it alone.
	for range 2 {
		a.thenReady(func() { a.workerFail <- errFlaky }, "worker")
		assert.Equal(t, []string{
			"background: exit worker: flaky: job failed",
			"background: restart worker",
			"background: start worker", "background: ready worker",
		}, a.take())
	}

	// Losing the database restarts what depends on it: rest-for-one stops
	// background and http, in reverse order, then starts db, http and
	// background again, in order, each once the one before is ready.
	a.thenReady(func() { a.dbFail <- errConnReset }, "background")
	assert.Equal(t, []string{
		"app: exit db: db: connection reset by peer",
		"background: exit worker",
		"app: exit background",
		"app: exit http",
		"app: restart db", "app: restart http", "app: restart background",
		"app: start db", "app: ready db",
		"app: start http", "app: ready http",
		"app: start background",
		"background: start worker", "background: ready worker",
		"app: ready background",
	}, a.take())
	v, err := a.get("greeting")
	require.NoError(t, err)
	assert.Equal(t, "hello", v)

	infos := sup.Children()
	require.Len(t, infos, 3)
	assert.Equal(t, 1, infos[0].Restarts)
	assert.ErrorIs(t, infos[0].Failures[0], errConnReset)

	n.Cancel(nil)
	require.NoError(t, n.Wait())
	assert.Equal(t, []string{
		"background: exit worker",
		"app: exit background",
		"app: exit http",
		"app: exit db",
	}, a.take(), "the tree stops in reverse order")
}

// take returns the events recorded since the last take.
func (a *app) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.events
	a.events = nil
	return out
}
