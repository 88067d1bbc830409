// Blocking shows where blocking calls go: on a shared nursery.Pool, the Go
// counterpart of asyncio's loop.run_in_executor(pool, fn).
//
// In asyncio a blocking call freezes the event loop, so it must be shipped
// to a thread pool. In Go a blocking call only blocks its own goroutine, but
// a burst of them — file reads, cgo calls, a legacy client without
// contexts — can still pin thousands of OS threads. A Pool bounds them: one
// process-wide pool of worker goroutines that every request's nursery
// shares through nursery.WithExecutor, each request still owning and waiting
// for only its own tasks. CPU-bound work belongs in worker processes
// instead: see examples/hashfiles and package subprocess.
//
//	go run ./examples/blocking
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/structured-go/nursery"
)

func main() {
	dir, err := os.MkdirTemp("", "blocking")
	if err != nil {
		fmt.Fprintln(os.Stderr, "blocking:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, dir); err != nil {
		fmt.Fprintln(os.Stderr, "blocking:", err)
		os.Exit(1)
	}
}

// run writes a few files, then serves two "requests" concurrently, each
// reading its files through the one shared pool.
func run(ctx context.Context, w io.Writer, dir string) error {
	if err := writeFiles(dir); err != nil {
		return err
	}

	// One pool for the whole process: at most 4 blocking calls at once.
	pool := nursery.NewPool(4)
	defer pool.Close()

	requests := []string{"alpha", "beta"}
	reports := make([]string, len(requests))
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		for i, prefix := range requests {
			n.Go(func(ctx context.Context) error {
				report, err := handle(ctx, pool, dir, prefix)
				reports[i] = report
				return err
			}, nursery.Name(prefix))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range reports {
		fmt.Fprintln(w, r)
	}
	// Close waits for every accepted task and stops the workers; after it,
	// the counters are final.
	if err := pool.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "pool closed: %d workers left\n", pool.Stats().Workers)
	return nil
}

// handle reads the files of one request. Map runs the reads on the shared
// pool (nursery.WithExecutor) and returns the results in input order.
func handle(ctx context.Context, pool *nursery.Pool, dir, prefix string) (string, error) {
	names := []string{prefix + "-1.txt", prefix + "-2.txt", prefix + "-3.txt"}
	sizes, err := nursery.Map(ctx, names, func(ctx context.Context, name string) (int, error) {
		data, err := os.ReadFile(filepath.Join(dir, name)) // blocks this worker only
		return len(data), err
	}, nursery.WithExecutor(pool), nursery.WithName(prefix))
	if err != nil {
		return "", err
	}
	total := 0
	parts := make([]string, len(names))
	for i, n := range sizes {
		total += n
		parts[i] = fmt.Sprintf("%s=%d", names[i], n)
	}
	return fmt.Sprintf("%s: %s (%d bytes)", prefix, strings.Join(parts, " "), total), nil
}

func writeFiles(dir string) error {
	for _, prefix := range []string{"alpha", "beta"} {
		for i := 1; i <= 3; i++ {
			name := fmt.Sprintf("%s-%d.txt", prefix, i)
			data := strings.Repeat(prefix[:1], i*len(prefix))
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
