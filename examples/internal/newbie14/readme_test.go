package newbie14

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/structured-go/nursery"
)

// The README's first example: the first failure cancels the others, and the
// error names the task ("https://example.com/b: connection refused").
func TestREADMEQuickstart(t *testing.T) {
	urls := []string{"https://example.com/a", "https://example.com/b", "https://example.com/c"}
	fetch := func(ctx context.Context, url string) error {
		if url == urls[1] {
			return fmt.Errorf("%w", syscall.ECONNREFUSED)
		}
		<-ctx.Done() // the others wait until the failure cancels them
		return ctx.Err()
	}
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		for _, url := range urls {
			n.Go(func(ctx context.Context) error {
				return fetch(ctx, url)
			}, nursery.Name(url))
		}
		return nil
	})
	if err == nil || err.Error() != "https://example.com/b: connection refused" {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is does not reach the original: %v", err)
	}
	var te *nursery.TaskError
	if !errors.As(err, &te) || te.Task != urls[1] || te.Nursery != "" || te.Index != -1 {
		t.Errorf("TaskError %+v", te)
	}
}
