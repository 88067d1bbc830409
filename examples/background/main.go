// Background shows how a request handler starts work that must outlive the
// request — without fire-and-forget.
//
// In asyncio, "call ensure_future() to run something without awaiting it" is
// how work gets lost: nobody waits for the task, its exception is only logged
// when it is garbage-collected, and shutdown cuts it off halfway. The Go
// equivalent is a bare `go sendEmail(...)` in a handler. Here the handler
// hands the work to a nursery that lives as long as the server (jobs): the
// job runs after the response is sent, its error is reported, and when the
// server stops, run waits for every job that was accepted before returning.
//
//	go run ./examples/background
//	curl -d email=ann@example.com http://127.0.0.1:8080/signup
//	# Ctrl-C: the server stops accepting requests, finishes the queued emails, exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/structured-go/nursery"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	context.AfterFunc(ctx, stop) // after the first Ctrl-C, a second one kills the program

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "background:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\ntry: curl -d email=ann@example.com http://%[1]s/signup\n", ln.Addr())
	out := &syncWriter{w: os.Stdout}
	if err := run(ctx, ln, out, slowMailer(out, time.Second)); err != nil {
		fmt.Fprintln(os.Stderr, "background:", err)
		os.Exit(1)
	}
}

// run serves the app on ln until ctx ends, then shuts down gracefully: it
// stops accepting connections, waits for the requests in flight, then waits
// for every job those requests queued.
func run(ctx context.Context, ln net.Listener, log io.Writer, mail Mailer) error {
	// The jobs nursery outlives every request. Its context ignores Ctrl-C
	// (context.WithoutCancel): a job accepted before the signal still runs to
	// completion, bounded by its own Timeout. With CollectErrors a failed email
	// does not cancel the others; all failures come back from jobs.Wait.
	jobs := nursery.New(context.WithoutCancel(ctx),
		nursery.WithName("jobs"), nursery.WithLimit(4), nursery.CollectErrors())
	app := &App{jobs: jobs, log: log, mail: mail}
	srv := &http.Server{Handler: app.Routes()}

	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(func(context.Context) error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, nursery.Name("http"))
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // Ctrl-C, or the http task failed
			// Shutdown returns once every handler has returned, so no handler
			// can call jobs.Go after jobs.Wait below.
			return srv.Shutdown(context.WithoutCancel(ctx))
		}, nursery.Name("shutdown"))
		return nil
	}, nursery.WithName("server"))

	fmt.Fprintln(log, "server stopped; finishing background jobs")
	return errors.Join(err, jobs.Wait())
}

// A Mailer sends one email. It stands in for an SMTP client.
type Mailer func(ctx context.Context, to, subject string) error

// App is the web application. Work that must outlive a request goes to jobs.
type App struct {
	jobs *nursery.Nursery
	log  io.Writer // safe for concurrent use
	mail Mailer
}

// Routes returns the app's handler.
func (a *App) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signup", a.signup)
	return mux
}

// signup records a new user and answers at once; the welcome email is sent
// in the background.
func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	email := r.FormValue("email")
	if email == "" {
		http.Error(w, "missing email", http.StatusBadRequest)
		return
	}
	// Not `go a.sendWelcome(r.Context(), email)`: nobody would wait for it, its
	// error would vanish, shutdown would cut it off, and r.Context() is
	// cancelled as soon as this handler returns. The job belongs to the jobs
	// nursery and gets that nursery's context.
	//
	// Go blocks while 4 emails are being sent (WithLimit): the client waits
	// instead of the server queueing unbounded work.
	a.jobs.Go(func(ctx context.Context) error {
		return a.sendWelcome(ctx, email)
	}, nursery.Name("welcome "+email), nursery.Timeout(30*time.Second))

	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "welcome email to %s queued\n", email)
}

func (a *App) sendWelcome(ctx context.Context, to string) error {
	if err := a.mail(ctx, to, "Welcome!"); err != nil {
		return err
	}
	fmt.Fprintf(a.log, "sent welcome email to %s\n", to)
	return nil
}

// slowMailer pretends to send an email, taking d.
func slowMailer(log io.Writer, d time.Duration) Mailer {
	return func(ctx context.Context, to, subject string) error {
		fmt.Fprintf(log, "sending %q to %s ...\n", subject, to)
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// syncWriter serializes writes from concurrent jobs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
