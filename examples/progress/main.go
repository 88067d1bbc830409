// Progress runs a long Map and shows a progress line while it runs, read
// from the nursery's Counters: how many items are done, how many are in
// flight, and how many failed — the numbers a progress bar or a metrics
// exporter wants, cheap enough to leave on.
//
//	go run ./examples/progress
//	200/200 done, 0 in flight, 7 failed
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/structured-go/nursery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stderr, 200, 10*time.Millisecond); err != nil {
		fmt.Fprintln(os.Stderr, "progress:", err)
		os.Exit(1)
	}
}

var errOdd = errors.New("unlucky item")

// process stands for real work on one item: it takes some time, and every
// 29th item fails.
func process(ctx context.Context, item int, unit time.Duration) (int, error) {
	select {
	case <-time.After(time.Duration(1+item%5) * unit):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if item%29 == 0 {
		return 0, fmt.Errorf("item %d: %w", item, errOdd)
	}
	return item * item, nil
}

// run processes items 0..n-1, 8 at once, writing a progress line to w
// every 100 units and once more at the end. A failed item does not stop
// the others (CollectErrors); the failures are counted and reported.
func run(ctx context.Context, w io.Writer, n int, unit time.Duration) error {
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	var counters nursery.Counters
	line := func() {
		fmt.Fprintf(w, "\r%d/%d done, %d in flight, %d failed",
			counters.Completed(), n, counters.Running(), counters.Failed())
	}
	return nursery.Run(ctx, func(top *nursery.Nursery) error {
		// The progress line is a task too: nothing outlives run.
		top.Go(func(ctx context.Context) error {
			tick := time.NewTicker(100 * unit)
			defer tick.Stop()
			for {
				line()
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
		}, nursery.Name("progress"))
		_, err := nursery.Map(ctx, items, func(ctx context.Context, item int) (int, error) {
			return process(ctx, item, unit)
		}, nursery.WithLimit(8), nursery.CollectErrors(), nursery.WithCounters(&counters))
		top.Cancel(nil) // stop the progress line: the work is done
		line()
		fmt.Fprintln(w)
		if err != nil && !errors.Is(err, errOdd) {
			return err
		}
		return nil
	})
}
