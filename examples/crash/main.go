// Crash shows where errors and panics go when every goroutine belongs to a
// nursery: to one place, the nursery.Run at the top of main.
//
// asyncio's advice is "use run_until_complete(), not run_forever(): the
// former crashes on any exception, the latter just prints a stack trace and
// carries on". A bare `go f()` in Go is run_forever: if f fails, its error is
// lost, and if it panics the program dies with only f's stack, far from the
// code that started it. With Run, an error in any task, however deep, cancels
// its siblings and comes back from Run with the task's name on it; a panic is
// re-raised by Run in main's goroutine, with the task's name and the stack
// of the goroutine that panicked. Either way the program exits non-zero.
//
//	go run ./examples/crash              # every task succeeds: exit status 0
//	go run ./examples/crash -fail=error  # one task returns an error: exit status 1
//	go run ./examples/crash -fail=panic  # one task panics: exit status 2
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/structured-go/nursery"
)

func main() {
	// No recover, no os.Exit inside run: whatever goes wrong in any task ends
	// up here, once.
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
}

// A file is an in-memory CSV file: one "name,amount" record per line.
type file struct {
	name string
	data string
}

// run loads every file concurrently, one task per file, and prints the sum of
// each file's amounts. fail ("none", "error" or "panic") breaks orders.csv.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("crash", flag.ContinueOnError)
	fail := flags.String("fail", "none", "how orders.csv is broken: none, error or panic")
	if err := flags.Parse(args); err != nil {
		return err
	}
	files := []file{
		{"users.csv", "ann,1\nbob,2\ncid,3\n"},
		{"orders.csv", "ann,10\nbob,20\ncid,30\n"},
		{"invoices.csv", "ann,100\nbob,200\n"},
	}
	switch *fail {
	case "none":
	case "error":
		files[1].data = "ann,10\nbob,twenty\ncid,30\n" // a bad amount
	case "panic":
		files[1].data = "ann,10\nbob\ncid,30\n" // a short line that load does not expect: a bug
	default:
		return fmt.Errorf("unknown -fail=%s: want none, error or panic", *fail)
	}

	sums := make([]int, len(files))
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		for i, f := range files {
			n.Go(func(ctx context.Context) error {
				sum, err := load(ctx, f)
				sums[i] = sum
				return err
			}, nursery.Name("load "+f.name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Run returned, so every task has returned: reading sums is safe.
	for i, f := range files {
		fmt.Fprintf(stdout, "%s: total %d\n", f.name, sums[i])
	}
	return nil
}

// load adds up the amounts in f.
func load(ctx context.Context, f file) (int, error) {
	sum := 0
	for i, line := range strings.Split(strings.TrimSpace(f.data), "\n") {
		if err := ctx.Err(); err != nil {
			return 0, err // a sibling failed: stop early
		}
		fields := strings.Split(line, ",")
		amount, err := strconv.Atoi(fields[1]) // panics on a line without a comma
		if err != nil {
			return 0, fmt.Errorf("%s:%d: bad amount %q", f.name, i+1, fields[1])
		}
		sum += amount
	}
	return sum, nil
}
