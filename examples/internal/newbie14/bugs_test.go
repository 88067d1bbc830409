package newbie14

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

// The repros of the behaviours reported as bugs; they failed before the
// fixes, and now hold.

// Without debug mode, a task accepted by Go counts in the tree at once; in
// debug mode it counts only once its goroutine has begun, so the same
// program shows "1 task" or "0 tasks" depending on the mode.
func TestBugDebugTreeCountsOnlyStartedTasks(t *testing.T) {
	for _, debug := range []bool{false, true} {
		opts := []nursery.Option{nursery.WithName("count")}
		if debug {
			opts = append(opts, nurserydebug.On())
		}
		block := make(chan struct{})
		nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			defer close(block)
			n.Go(func(ctx context.Context) error { <-block; return nil }, nursery.Name("t"))
			if got := treeText(t); !strings.Contains(got, "1 task") {
				t.Errorf("debug=%v: right after Go:\n%s", debug, got)
			}
			return nil
		}, opts...)
	}
}

// In debug mode a task that has just started can show a negative age.
func TestBugDebugNegativeTaskAge(t *testing.T) {
	for i := 0; i < 20000; i++ {
		block := make(chan struct{})
		nursery.Run(context.Background(), func(n *nursery.Nursery) error {
			defer close(block)
			n.Go(func(ctx context.Context) error { <-block; return nil }, nursery.Name("t"))
			text := treeText(t)
			b, _ := nurserytree.JSON()
			for _, a := range decodeTreeAges(t, b) {
				if d, err := time.ParseDuration(a); err == nil && d < 0 {
					t.Fatalf("iteration %d: negative age in JSON:\n%s", i, b)
				}
			}
			if strings.Contains(text, "age -") {
				t.Fatalf("iteration %d: negative age:\n%s", i, text)
			}
			return nil
		}, nurserydebug.On())
	}
}
