// Supervisor shows that an error in a background task cannot be lost.
//
// In asyncio, a task started with ensure_future() and never awaited keeps its
// exception to itself: you have to attach add_done_callback() and look. In a
// nursery there is no unawaited task — Wait waits for all of them — so a
// failure always reaches Wait. What differs is the policy:
//
//   - Part 1, the default (fail-fast): a background task fails, its siblings
//     are cancelled at once, and the failure, with the task's name, is what
//     Wait returns.
//   - Part 2, CollectErrors (a supervisor): each worker is restarted a few
//     times, every failure is logged where it happens, siblings keep running,
//     and Wait returns every worker that gave up.
//
// Run it with:
//
//	go run ./examples/supervisor
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/structured-go/nursery"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "supervisor:", err)
		os.Exit(1)
	}
}

var errLostDB = errors.New("lost connection to database")

func run(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "== part 1: fail-fast")
	err := app(ctx, w)
	fmt.Fprintf(w, "app stopped: %v\n", err)
	fmt.Fprintf(w, "errors.Is(err, errLostDB) = %t\n", errors.Is(err, errLostDB))

	fmt.Fprintln(w, "== part 2: supervisor")
	err = supervisor(ctx, w)
	fmt.Fprintf(w, "supervisor stopped:\n%v\n", err)
	return nil
}

// app runs a foreground task that would run forever and a background
// heartbeat that fails. The heartbeat's error cancels the foreground task and
// comes back from Run.
func app(ctx context.Context, w io.Writer) error {
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			<-ctx.Done() // serve requests until cancelled
			fmt.Fprintf(w, "requests: stopped, because: %v\n", context.Cause(ctx))
			return ctx.Err() // just the cancellation: Wait does not count it as a failure
		}, nursery.Name("requests"))
		n.Go(func(ctx context.Context) error {
			return errLostDB // in asyncio this would sit in an unawaited future
		}, nursery.Name("heartbeat"))
		return nil
	}, nursery.WithName("app"))
}

// work is what a supervised worker does; it fails its first fails runs.
type work struct {
	name  string
	fails int
}

// supervisor runs workers that fail now and then. With CollectErrors a failed
// worker does not cancel the others; supervise restarts it up to twice and
// logs every failure as it happens.
func supervisor(ctx context.Context, w io.Writer) error {
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	workers := []work{
		{name: "ingest", fails: 0},
		{name: "resize", fails: 1}, // recovers after one restart
		{name: "notify", fails: 5}, // gives up
		{name: "report", fails: 3}, // gives up
	}
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		for _, wk := range workers {
			n.Go(supervise(log, wk.name, 2, wk.do), nursery.Name(wk.name))
		}
		return nil
	}, nursery.WithName("supervisor"), nursery.CollectErrors())
}

// supervise returns a task that runs fn, restarting it up to restarts times
// after a failure, and logs each failure. It returns the last failure.
func supervise(log *slog.Logger, name string, restarts int, fn func(ctx context.Context, attempt int) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for attempt := 1; ; attempt++ {
			err := fn(ctx, attempt)
			if err == nil || ctx.Err() != nil {
				return err
			}
			if attempt > restarts {
				log.Error("giving up", "worker", name, "attempt", attempt, "err", err)
				return err
			}
			log.Warn("restarting", "worker", name, "attempt", attempt, "err", err)
		}
	}
}

func (wk work) do(ctx context.Context, attempt int) error {
	if attempt <= wk.fails {
		return fmt.Errorf("attempt %d failed", attempt)
	}
	return nil
}
