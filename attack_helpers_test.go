package nursery_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// atkDeadline bounds how long an attack waits for something that must
// happen; it only turns a deadlock into a failure, it never decides a pass.
const atkDeadline = 10 * time.Second

// atkFinish runs f and fails the test (with every goroutine's stack) if it
// has not returned within atkDeadline. Then it calls rescue, if any, to
// unstick f so that the test does not leak its goroutines, and waits for f
// a little longer.
func atkFinish(t *testing.T, what string, f func(), rescue func()) {
	t.Helper()
	o := async(f)
	timer := time.NewTimer(atkDeadline)
	defer timer.Stop()
	select {
	case <-o.done:
		if o.panicked {
			t.Fatalf("%s panicked: %v", what, o.value)
		}
		return
	case <-timer.C:
	}
	stacks := allStacks()
	t.Errorf("%s did not finish within %v (deadlock); relevant goroutines:\n%s", what, atkDeadline, atkRelevant(stacks))
	if rescue != nil {
		rescue()
	}
	select {
	case <-o.done:
	case <-time.After(atkDeadline):
		t.Errorf("%s still stuck after rescue", what)
	}
}

// atkRelevant keeps the goroutine stacks that mention the library.
func atkRelevant(stacks string) string {
	var out []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "structured-go/nursery.") && !strings.Contains(g, "atkRelevant") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// atkInline is an Executor that runs each job on the caller's goroutine
// before Go returns: "arranges for task to run exactly once on some
// goroutine".
type atkInline struct{}

func (atkInline) Go(ctx context.Context, task func()) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	task()
	return nil
}
