package natsexec_test

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/structured-go/nursery/natsexec"
	"github.com/structured-go/nursery/subprocess"
)

// A test binary started with envWorker set is a worker: it connects to the
// NATS URL in envWorker and serves until SIGTERM.
const (
	envWorker      = "NATSEXEC_TEST_WORKER"      // NATS URL
	envName        = "NATSEXEC_TEST_NAME"        // WorkerName
	envConcurrency = "NATSEXEC_TEST_CONCURRENCY" // Concurrency
	envHeartbeat   = "NATSEXEC_TEST_HEARTBEAT"   // Heartbeat
	envExit        = "NATSEXEC_TEST_EXIT"        // exit at once (exec-per-call)
)

// eventsSubject is where the test functions report what they see, since
// their errors cannot tell the caller what happened after it cancelled.
const eventsSubject = "natsexectest.events"

// eventConn is the worker's connection, for the test functions' reports.
var eventConn *nats.Conn

func report(format string, args ...any) {
	if eventConn != nil {
		eventConn.Publish(eventsSubject, fmt.Appendf(nil, format, args...))
		eventConn.Flush()
	}
}

func TestMain(m *testing.M) {
	subprocess.Main()
	if os.Getenv(envExit) != "" {
		os.Exit(0)
	}
	if url := os.Getenv(envWorker); url != "" {
		os.Exit(worker(url))
	}
	goleak.VerifyTestMain(m)
}

func worker(url string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer nc.Close()
	eventConn = nc
	opts := []natsexec.ServeOption{natsexec.WorkerName(os.Getenv(envName))}
	if n, err := strconv.Atoi(os.Getenv(envConcurrency)); err == nil {
		opts = append(opts, natsexec.Concurrency(n))
	}
	if d, err := time.ParseDuration(os.Getenv(envHeartbeat)); err == nil && d > 0 {
		opts = append(opts, natsexec.Heartbeat(d))
	}
	if err := natsexec.Serve(ctx, nc, opts...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// The functions the tests call.
type (
	sumIn struct {
		ID   int
		A, B int
	}
	sumOut struct {
		Sum    int
		Worker string
	}
	holdIn struct {
		ID    int
		Sleep time.Duration // 0: until ctx is done
	}
)

var (
	sum = subprocess.Register("natsexectest.sum", func(_ context.Context, in sumIn) (sumOut, error) {
		return sumOut{Sum: in.A + in.B, Worker: os.Getenv(envName)}, nil
	})
	// hold reports "start ID WORKER deadline", then sleeps or waits for
	// its context, and reports "end ID WORKER cause".
	hold = subprocess.Register("natsexectest.hold", func(ctx context.Context, in holdIn) (string, error) {
		left := time.Duration(-1)
		if d, ok := ctx.Deadline(); ok {
			left = time.Until(d)
		}
		report("start %d %s %d", in.ID, os.Getenv(envName), left)
		var err error
		if in.Sleep > 0 {
			select {
			case <-time.After(in.Sleep):
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
		} else {
			<-ctx.Done()
			err = context.Cause(ctx)
		}
		report("end %d %s %v", in.ID, os.Getenv(envName), err)
		return os.Getenv(envName), err
	})
	fail = subprocess.Register("natsexectest.fail", func(_ context.Context, name string) (int, error) {
		return 0, fmt.Errorf("opening %s: %w", name, fs.ErrNotExist)
	})
	boom = subprocess.Register("natsexectest.boom", func(_ context.Context, msg string) (int, error) {
		panic(errors.New(msg))
	})
	noop = subprocess.Register("natsexectest.noop", func(_ context.Context, x int) (int, error) {
		return x, nil
	})
)

// startServer starts an embedded NATS server on a loopback port the OS
// chooses (or on port, if not 0), configured further by opts, and stops it
// at the end of the test.
func startServer(tb testing.TB, port int, opts ...func(*server.Options)) *server.Server {
	tb.Helper()
	s := newServer(tb, port, opts...)
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// newServer is startServer without the cleanup.
func newServer(tb testing.TB, port int, opts ...func(*server.Options)) *server.Server {
	tb.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	o := &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
	for _, f := range opts {
		f(o)
	}
	s, err := server.NewServer(o)
	require.NoError(tb, err)
	s.Start()
	require.True(tb, s.ReadyForConnections(10*time.Second), "NATS server not ready")
	return s
}

func connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	return nc
}

// workerProc is a worker process: the test binary, re-executed.
type workerProc struct {
	name string
	cmd  *subprocess.Cmd
	done chan error
}

// startWorker starts a worker process and stops it (SIGTERM, then the
// kill of its process group) at the end of the test.
func startWorker(tb testing.TB, url, name string, concurrency int, heartbeat time.Duration) *workerProc {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := subprocess.Command(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envWorker+"="+url,
		envName+"="+name,
		envConcurrency+"="+strconv.Itoa(concurrency),
		envHeartbeat+"="+heartbeat.String(),
	)
	cmd.Stderr = os.Stderr
	require.NoError(tb, cmd.Start())
	w := &workerProc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			tb.Errorf("worker %s did not stop within 10s of SIGTERM", name)
			cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
			cancel()
			<-w.done
		}
		cancel()
	})
	return w
}

// waitWorkers waits until the pool has run a call on each named worker.
func waitWorkers(tb testing.TB, pool *natsexec.Pool, names ...string) {
	tb.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; len(seen) < len(names); i++ {
		require.True(tb, time.Now().Before(deadline), "workers %v not all ready: saw %v", names, seen)
		out, err := sum.Call(context.Background(), pool, sumIn{A: i})
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		seen[out.Worker] = true
	}
}

// events subscribes to the test functions' reports.
func events(tb testing.TB, nc *nats.Conn) chan string {
	tb.Helper()
	ch := make(chan string, 1024)
	sub, err := nc.Subscribe(eventsSubject, func(m *nats.Msg) { ch <- string(m.Data) })
	require.NoError(tb, err)
	require.NoError(tb, nc.Flush())
	tb.Cleanup(func() { sub.Unsubscribe() })
	return ch
}

func nextEvent(tb testing.TB, ch chan string) string {
	tb.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(20 * time.Second):
		tb.Fatal("no event from the worker")
		return ""
	}
}

type (
	point  struct{ X int }
	record struct {
		Name string
		Tags map[string][]int
		Any  any
	}
)

func init() { gob.Register(point{}) }

// echo returns its input changed, so that both directions are checked.
var echo = subprocess.Register("natsexectest.echo", func(_ context.Context, r record) (record, error) {
	r.Name += "!"
	if p, ok := r.Any.(point); ok {
		r.Any = point{X: p.X + 1}
	}
	return r, nil
})

func deref(p any) any { return reflect.ValueOf(p).Elem().Interface() }
