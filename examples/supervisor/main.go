// Supervisor runs a small service tree with package supervisor: a database
// client that must be ready before an HTTP server that uses it, and a flaky
// background worker under a supervisor of its own.
//
//	app (rest-for-one)
//	├── db          connects, then serves queries; its loss restarts what follows
//	├── http        net/http on 127.0.0.1:0, started only once db is ready
//	└── background (one-for-one)
//	    └── worker  transient: fails now and then, restarted alone
//
// The program starts the tree (supervisor.Start returns once db, http and
// the worker are ready), asks the server for a value, lets the worker fail
// once, breaks the database connection — the app supervisor stops
// background and http in reverse order, then starts db, http and
// background again in order, each after the previous one is ready — asks
// again, and stops the whole tree in reverse order. Every event is logged
// through log/slog; no failure is lost, and nothing outlives the nursery.
//
// In asyncio you would write this by hand; in Erlang/OTP it is a
// supervisor with the rest_for_one strategy. Run it with:
//
//	go run ./examples/supervisor
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		os.Exit(1)
	}
}

var (
	errConnReset = errors.New("connection reset by peer")
	errFlaky     = errors.New("flaky: job failed")
)

// run starts the tree, exercises it and stops it.
func run(ctx context.Context, w io.Writer) error {
	a := newApp(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: noTime})))
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		if err := supervisor.Start(n, a.tree()); err != nil {
			return err
		}
		get := func() {
			v, err := a.get("greeting")
			fmt.Fprintf(w, "GET greeting: %q %v\n", v, err)
		}
		get()
		a.thenReady(func() { a.workerFail <- errFlaky }, "worker")
		a.thenReady(func() { a.dbFail <- errConnReset }, "background")
		get()
		n.Cancel(nil) // stop the tree, in reverse order
		return nil
	}, nursery.WithName("main"))
}

// app is the state the children share: the database, its current
// connection and the server's current address.
type app struct {
	log        *slog.Logger
	database   map[string]string // the database server's data
	dbFail     chan error        // breaks the current connection
	workerFail chan error        // makes the worker's current job fail
	readyc     chan string       // children's names as they become ready
	events     []string          // "app: start db", for the tests

	mu   sync.Mutex
	conn *conn  // nil while the database client is down
	addr string // the HTTP server's address, "" while it is down
}

type conn struct{ data map[string]string }

func newApp(log *slog.Logger) *app {
	return &app{
		log:        log,
		database:   map[string]string{"greeting": "hello"},
		dbFail:     make(chan error),
		workerFail: make(chan error),
		readyc:     make(chan string, 64),
	}
}

// tree builds the supervision tree.
func (a *app) tree() *supervisor.Supervisor {
	ctx := context.Background()
	opts := func() []supervisor.Option {
		// The default backoff: restart at once, then 100 ms, 200 ms, ...
		return []supervisor.Option{
			supervisor.Logger(a.log),
			supervisor.Hook(a.hook),
		}
	}
	background := supervisor.New("background", append(opts(), supervisor.OneForOne)...)
	must(background.Add(ctx, supervisor.Child("worker", a.worker, supervisor.Transient)))

	app := supervisor.New("app", append(opts(), supervisor.RestForOne)...)
	must(app.Add(ctx, supervisor.Child("db", a.db)))
	must(app.Add(ctx, supervisor.Child("http", a.http, supervisor.Grace(2*time.Second))))
	must(app.Add(ctx, supervisor.Child("background", background.Serve, supervisor.Grace(10*time.Second))))
	return app
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// hook records every event and passes on the names of children that
// become ready, for thenReady.
// A hook must not block: it drops what nobody waits for.
func (a *app) hook(e supervisor.Event) {
	line := e.Supervisor + ": " + e.Kind.String() + " " + e.Child
	if e.Err != nil {
		line += ": " + e.Err.Error()
	}
	a.mu.Lock()
	a.events = append(a.events, line)
	a.mu.Unlock()
	if e.Kind == supervisor.EventReady {
		select {
		case a.readyc <- e.Child:
		default:
		}
	}
}

// thenReady runs do, then waits until the child named name becomes ready.
func (a *app) thenReady(do func(), name string) {
	for len(a.readyc) > 0 {
		<-a.readyc // older news
	}
	do()
	for got := range a.readyc {
		if got == name {
			return
		}
	}
}

// db is the database client: ready once connected, it serves until its
// context ends or the connection breaks.
func (a *app) db(ctx context.Context, ready func()) error {
	a.setConn(&conn{data: a.database})
	defer a.setConn(nil)
	ready()
	select {
	case err := <-a.dbFail:
		return fmt.Errorf("db: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *app) setConn(c *conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conn = c
}

// http serves GET /get?key=K from the database on 127.0.0.1:0. It is ready
// once it listens; it shuts down gracefully when its context ends.
func (a *app) http(ctx context.Context, ready func()) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(a.handle)}
	a.mu.Lock()
	a.addr = l.Addr().String()
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.addr = ""
		a.mu.Unlock()
	}()
	ready()
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done()
			return nursery.Shield(ctx, time.Second, srv.Shutdown)
		}, nursery.Name("shutdown"))
		n.Go(func(context.Context) error {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, nursery.Name("serve"))
		return nil
	}, nursery.WithName("http"))
}

func (a *app) handle(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	c := a.conn
	a.mu.Unlock()
	if c == nil {
		http.Error(w, "database down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, c.data[r.URL.Query().Get("key")])
}

// get asks the HTTP server for a key.
func (a *app) get(key string) (string, error) {
	a.mu.Lock()
	addr := a.addr
	a.mu.Unlock()
	resp, err := http.Get("http://" + addr + "/get?key=" + key)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}

// worker runs background jobs; a job fails when told to.
func (a *app) worker(ctx context.Context, ready func()) error {
	ready()
	select {
	case err := <-a.workerFail:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func noTime(_ []string, at slog.Attr) slog.Attr {
	if at.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return at
}
