package natsexec_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

var (
	// delayedEcho returns its input after a moment.
	delayedEcho = subprocess.Register("natsexectest.attack2.delayedEcho", func(ctx context.Context, s string) (string, error) {
		select {
		case <-time.After(700 * time.Millisecond):
			return s, nil
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	})
	// strlen takes an input of any size.
	strlen = subprocess.Register("natsexectest.attack2.strlen", func(_ context.Context, s string) (int, error) {
		return len(s), nil
	})
)

// TestAttack2PoolForgesAnotherPoolsResult runs two pools with the pool
// permissions of the documentation (shared _INBOX.>). The documentation
// says that a pool may read another's replies and cancel its calls; it does
// not say that it can make another pool's call return a value of its
// choosing. Pool A learns pool B's inbox from B's replies, then sends the
// worker a call with B's next reply subject: the worker, which keys calls
// by reply subject, runs A's call, drops B's as a duplicate, and B's call
// returns A's input.
func TestAttack2PoolForgesAnotherPoolsResult(t *testing.T) {
	s := startServer(t, 0, withUsers)
	url := s.ClientURL()
	wnc, _ := connectAs(t, url, "worker", "wpass")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- natsexec.Serve(ctx, wnc, natsexec.Concurrency(4)) }()
	t.Cleanup(func() { stop(); <-served })

	bnc, _ := connectAs(t, url, "pool", "ppass")
	victim, err := natsexec.NewPool(bnc)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, victim.Close()) })

	anc, aerrs := connectAs(t, url, "pool", "ppass")
	// A listens to every reply, as its permissions allow.
	replies := make(chan string, 16)
	sub, err := anc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if !strings.HasSuffix(m.Subject, ".0") {
			replies <- m.Subject
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, anc.Flush())

	got, err := noop.Call(t.Context(), victim, 1) // warm up; its reply shows B's inbox
	require.NoError(t, err)
	require.Equal(t, 1, got)
	var subject string
	select {
	case subject = <-replies:
	case <-time.After(10 * time.Second):
		t.Fatal("pool A saw no reply of pool B")
	}
	m := regexp.MustCompile(`^(.*)\.(\d+)$`).FindStringSubmatch(subject)
	require.NotNil(t, m, subject)
	id, _ := strconv.Atoi(m[2])
	next := fmt.Sprintf("%s.%d", m[1], id+1)

	// A learns the worker's subject from a heartbeat it may subscribe to.
	hb := make(chan *nats.Msg, 1)
	hsub, err := anc.Subscribe(natsexec.DefaultPrefix+".hb", func(m *nats.Msg) {
		select {
		case hb <- m:
		default:
		}
	})
	require.NoError(t, err)
	defer hsub.Unsubscribe()
	var token string
	select {
	case msg := <-hb:
		token, err = natsexec.HeartbeatToken(msg.Data)
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
	forged := &nats.Msg{Subject: natsexec.DefaultPrefix + ".w." + token, Reply: next,
		Data: natsexec.CallMsg(delayedEcho.Name(), "FORGED BY POOL A")}
	require.NoError(t, anc.PublishMsg(forged))
	require.NoError(t, anc.Flush())
	time.Sleep(50 * time.Millisecond) // A's call reaches the worker first

	out, err := delayedEcho.Call(t.Context(), victim, "genuine")
	require.NoError(t, err)
	assert.Equal(t, "genuine", out, "pool B's call returned the result of a call pool A forged in its name")
	assert.Empty(t, aerrs.violations(), "the server refused some of A's messages")
}

// TestAttack2MaxPayloadEdges finds, for an input and for a result, the
// largest size that fits in a NATS message: one byte more fails at once
// with ErrTooLarge, reporting a message of exactly max_payload+1 bytes;
// nothing is lost or waits for a lease, and the worker stays healthy.
func TestAttack2MaxPayloadEdges(t *testing.T) {
	const limit = 16 << 10
	s := startServer(t, 0, maxPayload(limit))
	serveInProcess(t, s.ClientURL())
	pool := newPool(t, s.ClientURL(), natsexec.Lease(time.Minute))
	call := func(f func(ctx context.Context, n int) error, n int) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := f(ctx, n)
		require.NotErrorIs(t, err, context.DeadlineExceeded, "size %d: the reply never came", n)
		return err
	}
	input := func(ctx context.Context, n int) error {
		got, err := strlen.Call(ctx, pool, strings.Repeat("i", n))
		if err == nil && got != n {
			return fmt.Errorf("strlen got %d bytes of %d", got, n)
		}
		return err
	}
	result := func(ctx context.Context, n int) error {
		got, err := big.Call(ctx, pool, n)
		if err == nil && len(got) != n {
			return fmt.Errorf("got %d bytes of %d", len(got), n)
		}
		return err
	}
	for _, c := range []struct {
		name string
		f    func(context.Context, int) error
	}{{"input", input}, {"result", result}} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, call(c.f, 1))
			require.ErrorIs(t, call(c.f, limit), natsexec.ErrTooLarge)
			lo, hi := 1, limit // lo fits, hi does not
			for hi-lo > 1 {
				mid := (lo + hi) / 2
				err := call(c.f, mid)
				if err == nil {
					lo = mid
					continue
				}
				require.ErrorIs(t, err, natsexec.ErrTooLarge, "size %d", mid)
				hi = mid
			}
			err := call(c.f, hi)
			require.ErrorIs(t, err, natsexec.ErrTooLarge)
			assert.Contains(t, err.Error(), fmt.Sprintf(", %d bytes, is above the NATS server's max_payload of %d bytes", limit+1, limit),
				"the smallest value that does not fit makes a message of max_payload+1 bytes")
			t.Logf("largest %s that fits: %d bytes; %v", c.name, lo, err)
			require.NoError(t, call(c.f, lo))
			require.NoError(t, call(c.f, lo-1))
		})
	}
	got, err := noop.Call(t.Context(), pool, 3)
	require.NoError(t, err)
	assert.Equal(t, 3, got)
}

// TestAttack2StoppedWorker stops (SIGSTOP) a worker process that runs a
// call: the call fails with a WorkerLostError after the lease (it is not
// idempotent), an idempotent call is retried on the other worker, and when
// the stopped worker resumes its late replies disturb nothing.
func TestAttack2StoppedWorker(t *testing.T) {
	const heartbeat = 100 * time.Millisecond
	s := startServer(t, 0)
	w1 := startWorker(t, s.ClientURL(), "w1", 4, heartbeat)
	w2 := startWorker(t, s.ClientURL(), "w2", 4, heartbeat)
	pool := newPool(t, s.ClientURL(), natsexec.Lease(600*time.Millisecond), natsexec.Idempotent(delayedEcho.Name()))
	waitWorkers(t, pool, "w1", "w2")
	ev := events(t, connect(t, s.ClientURL()))

	lost := make(chan error, 1)
	go func() {
		_, err := hold.Call(t.Context(), pool, holdIn{ID: 1, Sleep: 2 * time.Second})
		lost <- err
	}()
	first := strings.Fields(nextEvent(t, ev))[2]
	victim, other := w1, w2
	if first == "w2" {
		victim, other = w2, w1
	}
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	defer func() {
		if !resumed {
			victim.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	start := time.Now()
	select {
	case err := <-lost:
		var wl *natsexec.WorkerLostError
		require.ErrorAs(t, err, &wl)
		assert.Equal(t, victim.name, wl.Worker)
		t.Logf("lost after %v: %v", time.Since(start), err)
	case <-time.After(15 * time.Second):
		t.Fatal("a call on a stopped worker did not fail within 15s (lease 600ms)")
	}
	// New calls all go to the other worker.
	for i := range 10 {
		out, err := sum.Call(t.Context(), pool, sumIn{ID: i, A: i, B: 1})
		require.NoError(t, err)
		assert.Equal(t, other.name, out.Worker)
	}
	victim.cmd.Process.Signal(syscall.SIGCONT)
	resumed = true
	time.Sleep(3 * time.Second) // the resumed worker finishes and replies late
	for i := range 20 {
		out, err := sum.Call(t.Context(), pool, sumIn{ID: i, A: i, B: 2})
		require.NoError(t, err)
		assert.Equal(t, i+2, out.Sum)
	}
}

// TestAttack2HostileOpenServer plays a hostile client on a server without
// permissions (documented as unsafe) sending every kind of message,
// malformed and well formed, to the worker's subject, the heartbeat and
// ping subjects and the pool's inbox: the pool and the worker must not
// crash or hang, and an honest call made afterwards (on a pool whose
// calls were not targeted) still works.
func TestAttack2HostileOpenServer(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(4))
	pool := newPool(t, s.ClientURL(), natsexec.Lease(2*time.Second))
	got, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)
	require.Equal(t, 1, got)

	hostile := connect(t, s.ClientURL())
	token := learnToken(t, hostile)
	inbox := natsexec.Inbox(pool)
	subjects := []string{
		natsexec.DefaultPrefix + ".w." + token,
		natsexec.DefaultPrefix + ".hb",
		natsexec.DefaultPrefix + ".ping",
		inbox + ".0",
		inbox + ".1",
		inbox + ".999999",
		inbox + ".18446744073709551615",
		inbox + ".x",
	}
	var bodies [][]byte
	for v := range 16 {
		for kind := range 16 {
			bodies = append(bodies,
				natsexec.Message(v, byte(kind), nil),
				natsexec.Message(v, byte(kind), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
				natsexec.Message(v, byte(kind), []byte("\x05hello\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")),
			)
		}
	}
	bodies = append(bodies, nil, []byte{0}, []byte{0x80}, []byte{0xff, 0xff},
		natsexec.CallMsg(hold.Name(), holdIn{ID: 99}), // a call that blocks forever, without reply subject
		natsexec.CallMsg("no such function", 1),
		natsexec.ForgeHeartbeat("evil", "evil", natsexec.MaxConcurrency, natsexec.MaxHeartbeat, false, nil),
	)
	for _, subj := range subjects {
		for _, b := range bodies {
			require.NoError(t, hostile.Publish(subj, b))
			require.NoError(t, hostile.PublishRequest(subj, "_INBOX.hostile.1", b))
		}
	}
	require.NoError(t, hostile.Flush())
	// The forged "evil" worker draws calls; they fail with a lost worker
	// after its lease. The honest worker must still serve.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		got, err = noop.Call(ctx, pool, 2)
		cancel()
		if err == nil {
			break
		}
		var wl *natsexec.WorkerLostError
		require.True(t, errors.As(err, &wl), "unexpected error: %v", err)
		require.True(t, time.Now().Before(deadline), "pool did not recover from the hostile client")
	}
	assert.Equal(t, 2, got)
}

// TestAttack2ServerRestartMidCall restarts the NATS server while a call runs
// on a worker process and then again while calls wait: every call ends
// (with a result, a WorkerLostError or ErrDisconnected), none hangs.
func TestAttack2ServerRestartMidCall(t *testing.T) {
	s := newServer(t, 0)
	port := s.Addr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	portN, _ := strconv.Atoi(p)
	url := s.ClientURL()
	startWorker(t, url, "w1", 2, 100*time.Millisecond)
	pool := newPool(t, url, natsexec.Lease(time.Second))
	waitWorkers(t, pool, "w1")

	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, err := hold.Call(ctx, pool, holdIn{ID: 100 + i, Sleep: 300 * time.Millisecond})
			errs <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(300 * time.Millisecond)
	s2 := newServer(t, portN)
	defer func() { s2.Shutdown(); s2.WaitForShutdown() }()
	for range 8 {
		select {
		case err := <-errs:
			if err != nil {
				var wl *natsexec.WorkerLostError
				ok := errors.As(err, &wl) || errors.Is(err, natsexec.ErrDisconnected) || errors.Is(err, natsexec.ErrNoWorkers)
				assert.True(t, ok, "unexpected error: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("a call hung across a server restart")
		}
	}
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := noop.Call(ctx, pool, 1)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "pool did not serve again after the restart")
}

var _ = server.RANDOM_PORT

// runs counts the calls of counted in this process.
var runs atomic.Int64

// counted counts its runs, then fails, panics, or blocks, as told.
var counted = subprocess.Register("natsexectest.attack2.counted", func(ctx context.Context, what string) (int, error) {
	runs.Add(1)
	switch what {
	case "error":
		return 0, errors.New("attack2: plain failure")
	case "panic":
		panic("attack2: boom")
	case "block":
		<-ctx.Done()
		return 0, context.Cause(ctx)
	}
	return 1, nil
})

// TestAttack2IdempotentNotRetriedOnFailure calls an Idempotent function that
// fails, panics, or is cancelled: it runs once each time; only a lost
// worker may make it run again.
func TestAttack2IdempotentNotRetriedOnFailure(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(4))
	pool := newPool(t, s.ClientURL(), natsexec.Idempotent(counted.Name()))
	runs.Store(0)
	_, err := counted.Call(t.Context(), pool, "error")
	require.Error(t, err)
	assert.Equal(t, int64(1), runs.Load(), "error")

	runs.Store(0)
	_, err = counted.Call(t.Context(), pool, "panic")
	require.Error(t, err)
	assert.Equal(t, int64(1), runs.Load(), "panic")

	runs.Store(0)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err = counted.Call(ctx, pool, "block")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, int64(1), runs.Load(), "cancelled")
}

// TestAttack2CancelStormKeepsCapacity cancels hundreds of calls at random
// on a worker of Concurrency(4), then checks that the pool still uses all
// four slots: no call's slot leaked on either side.
func TestAttack2CancelStormKeepsCapacity(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(4))
	pool := newPool(t, s.ClientURL(), natsexec.CancelGrace(300*time.Millisecond))
	_, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rand.IntN(40))*time.Millisecond)
		wg.Go(func() {
			defer cancel()
			_, err := hold.Call(ctx, pool, holdIn{ID: i, Sleep: time.Duration(rand.IntN(20)) * time.Millisecond})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)

	// Four calls of 500ms at once finish together if the four slots are
	// free; a leaked slot makes one wait for another.
	start := time.Now()
	var wg2 sync.WaitGroup
	for i := range 4 {
		wg2.Go(func() {
			_, err := hold.Call(t.Context(), pool, holdIn{ID: 1000 + i, Sleep: 500 * time.Millisecond})
			assert.NoError(t, err)
		})
	}
	wg2.Wait()
	assert.Less(t, time.Since(start), 950*time.Millisecond, "four calls did not run at once: a slot leaked")
	assert.Equal(t, 0, natsexec.Waiters(pool))
}

// TestAttack2CloseWhileCallsWaitForRoom closes a pool whose only worker is
// full while calls wait for room: they fail with ErrPoolClosed at once;
// the running call runs on, and Close returns once it has ended.
func TestAttack2CloseWhileCallsWaitForRoom(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(1))
	pool, err := natsexec.NewPool(connect(t, s.ClientURL()))
	require.NoError(t, err)
	_, err = noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	running := make(chan error, 1)
	go func() {
		_, err := hold.Call(ctx, pool, holdIn{ID: 1})
		running <- err
	}()
	time.Sleep(200 * time.Millisecond)
	const n = 10
	waiting := make(chan error, n)
	for i := range n {
		go func() {
			_, err := noop.Call(t.Context(), pool, i)
			waiting <- err
		}()
	}
	require.Eventually(t, func() bool { return natsexec.Waiters(pool) == n }, 10*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- pool.Close() }()
	for range n {
		select {
		case err := <-waiting:
			assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("a call waiting for room did not fail when the pool closed")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned with a call in flight: %v", err)
	case err := <-running:
		t.Fatalf("the running call ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	assert.ErrorIs(t, <-running, context.Canceled)
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

// deadlineOf returns the deadline of the function's context.
var deadlineOf = subprocess.Register("natsexectest.attack2.deadlineOf", func(ctx context.Context, _ int) (time.Time, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}, errors.New("attack2: no deadline")
	}
	return d, nil
})

// TestAttack2FarDeadlines passes deadlines beyond what a time.Duration
// holds (time.Until saturates): the function still gets a deadline, and
// not one in the past.
func TestAttack2FarDeadlines(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL())
	pool := newPool(t, s.ClientURL())
	for _, d := range []time.Time{
		time.Now().Add(time.Hour),
		time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		ctx, cancel := context.WithDeadline(t.Context(), d)
		got, err := deadlineOf.Call(ctx, pool, 0)
		cancel()
		require.NoError(t, err, "deadline %v", d)
		assert.True(t, got.After(time.Now().Add(50*time.Minute)), "deadline %v arrived as %v", d, got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1<<63-1)
	got, err := deadlineOf.Call(ctx, pool, 0)
	cancel()
	require.NoError(t, err)
	assert.True(t, got.After(time.Now().Add(200*365*24*time.Hour)), "got %v", got)
}

// TestAttack2ConcurrentLargeResults has 48 calls return results just under
// max_payload at once (about 48 MiB in flight to one pool): no reply is
// dropped (as a slow consumer would) and none waits for a lease.
func TestAttack2ConcurrentLargeResults(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(48))
	pool := newPool(t, s.ClientURL(), natsexec.Lease(time.Minute))
	_, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 48 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			out, err := big.Call(ctx, pool, 1000<<10)
			if assert.NoError(t, err) {
				assert.Len(t, out, 1000<<10)
			}
		})
	}
	wg.Wait()
}

// TestAttack2WorkerConnClosedWhileServing closes the worker's connection
// under Serve while it runs a call: Serve returns (its documentation says
// it returns an error if nc was closed) instead of serving a dead
// connection for ever, and the pool's call fails with a WorkerLostError.
func TestAttack2WorkerConnClosedWhileServing(t *testing.T) {
	s := startServer(t, 0)
	wnc := connect(t, s.ClientURL())
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- natsexec.Serve(ctx, wnc, natsexec.Heartbeat(100*time.Millisecond)) }()
	pool := newPool(t, s.ClientURL(), natsexec.Lease(time.Second))
	_, err := noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)

	res := make(chan error, 1)
	go func() {
		_, err := counted.Call(t.Context(), pool, "block")
		res <- err
	}()
	time.Sleep(200 * time.Millisecond)
	wnc.Close()
	select {
	case err := <-res:
		var wl *natsexec.WorkerLostError
		assert.ErrorAs(t, err, &wl)
	case <-time.After(15 * time.Second):
		t.Fatal("the call on a worker whose connection closed did not fail")
	}
	select {
	case err := <-served:
		t.Logf("Serve returned %v", err)
	case <-time.After(15 * time.Second):
		stop()
		select {
		case <-served:
		case <-time.After(15 * time.Second):
			t.Fatal("Serve did not return even after its context ended")
		}
		t.Fatal("Serve went on for 15s after its connection was closed")
	}
}

// TestAttack2PoolConnClosedMidCall closes the pool's connection while calls
// run and wait: they fail, none hangs, and Close returns.
func TestAttack2PoolConnClosedMidCall(t *testing.T) {
	s := startServer(t, 0)
	serveInProcess(t, s.ClientURL(), natsexec.Concurrency(1))
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	pool, err := natsexec.NewPool(nc, natsexec.Lease(time.Second))
	require.NoError(t, err)
	_, err = noop.Call(t.Context(), pool, 1)
	require.NoError(t, err)
	res := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := counted.Call(t.Context(), pool, "block")
			res <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	nc.Close()
	for range 4 {
		select {
		case err := <-res:
			assert.Error(t, err)
			t.Logf("%v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("a call hung after the pool's connection was closed")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- pool.Close() }()
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	_, err = noop.Call(t.Context(), pool, 1)
	assert.ErrorIs(t, err, subprocess.ErrPoolClosed)
}
