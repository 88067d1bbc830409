package newbie

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/structured-go/nursery"
)

var errBadItem = errors.New("bad item")

// process simulates work that takes 10ms and fails on item 13.
func process(ctx context.Context, item int) (int, error) {
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
	if item == 13 {
		return 0, fmt.Errorf("item %d: %w", item, errBadItem)
	}
	return item * item, nil
}

// A channel pipeline, the README's advice for streams: producer → 3 workers
// → aggregator, all tasks of one nursery; the first error cancels the rest.
func TestPipelineChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var produced, processed atomic.Int32
		sum := 0
		start := time.Now()
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			jobs := make(chan int)
			results := make(chan int)
			n.Go(func(ctx context.Context) error {
				defer close(jobs)
				for i := range 100 {
					select {
					case jobs <- i:
						produced.Add(1)
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}, nursery.Name("producer"))
			workers := nursery.New(n.Context(), nursery.WithName("workers"))
			for w := range 3 {
				workers.Go(func(ctx context.Context) error {
					for item := range jobs {
						r, err := process(ctx, item)
						if err != nil {
							return err
						}
						processed.Add(1)
						select {
						case results <- r:
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				}, nursery.Name(fmt.Sprintf("worker-%d", w)))
			}
			n.Go(func(ctx context.Context) error {
				defer close(results)
				return workers.Wait()
			}, nursery.Name("close-results"))
			n.Go(func(ctx context.Context) error {
				for r := range results {
					sum += r
				}
				return nil
			}, nursery.Name("aggregator"))
			return nil
		}, nursery.WithName("pipeline"))

		t.Logf("err: %v; produced %d, processed %d, sum %d, took %v", err, produced.Load(), processed.Load(), sum, time.Since(start))
		if !errors.Is(err, errBadItem) {
			t.Fatalf("err = %v, want errBadItem", err)
		}
		if !regexpMatch(`^pipeline: close-results: workers: worker-\d: item 13: bad item$`, err.Error()) {
			t.Errorf("err text = %q", err.Error())
		}
		if p := processed.Load(); p >= 100 || p < 12 {
			t.Errorf("processed = %d, want the pipeline cut short after item 13", p)
		}
		// Items 0..14 take 5 rounds of 10ms with 3 workers; no more.
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("took %v, want 50ms", d)
		}
	})
}

// The same pipeline written the "tree" way: the producer calls Go on a
// WithLimit(3) nursery (backpressure), each task sends its result to an
// aggregator task that lives in the outer nursery.
func TestPipelineWithLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var started atomic.Int32
		var sum int
		err := nursery.Run(t.Context(), func(n *nursery.Nursery) error {
			results := make(chan int)
			agg := nursery.Spawn(n, func(ctx context.Context) (int, error) {
				for r := range results {
					sum += r
				}
				return sum, nil
			}, nursery.Name("aggregator"))
			werr := nursery.Run(n.Context(), func(w *nursery.Nursery) error {
				for i := range 100 {
					w.Go(func(ctx context.Context) error {
						started.Add(1)
						r, err := process(ctx, i)
						if err != nil {
							return err
						}
						select {
						case results <- r:
							return nil
						case <-ctx.Done():
							return ctx.Err()
						}
					}, nursery.Name(fmt.Sprintf("item-%d", i)))
				}
				return nil
			}, nursery.WithLimit(3), nursery.WithName("workers"))
			close(results)
			if _, err := agg.Wait(); err != nil {
				return err
			}
			return werr
		}, nursery.WithName("pipeline"))

		t.Logf("err: %v; started %d, sum %d", err, started.Load(), sum)
		if !errors.Is(err, errBadItem) {
			t.Fatalf("err = %v, want errBadItem", err)
		}
		if err.Error() != "pipeline: workers: item-13: item 13: bad item" {
			t.Errorf("err text = %q", err.Error())
		}
		if s := started.Load(); s > 18 {
			t.Errorf("%d tasks started; the limit should have stopped the producer near item 13", s)
		}
		// Items 0..11 finished in earlier rounds (12..14 finish at the same
		// instant as 13 fails, so they may or may not deliver).
		want := 0
		for i := range 12 {
			want += i * i
		}
		if sum < want {
			t.Errorf("sum = %d, want at least %d (items 0..11)", sum, want)
		}
	})
}

func regexpMatch(pat, s string) bool {
	return regexpMustCompile(pat).MatchString(s)
}

var _ = strings.Contains
