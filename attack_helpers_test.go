package nursery_test

import (
	"context"
)

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
