package nurserydebug_test

// Go's own tests for package context, translated to the contexts of debug
// mode: a debug-mode nursery's context (derived from the tree's wrapper
// internal/live.scope) and its tasks' contexts (taskScope and pprof labels
// over the nursery's, or over a Spawned task's taskContext). The suite is
// package internal/ctxsuite; see there.

import (
	"testing"

	"github.com/structured-go/nursery/internal/ctxsuite"
	"github.com/structured-go/nursery/nurserydebug"
)

// TestContextSuite runs the context suite on debug-mode nurseries' contexts
// and their tasks'. Slow(0) keeps the slow-task reports, which fake time
// would trigger, out of the log.
func TestContextSuite(t *testing.T) {
	ctxsuite.Run(t, ctxsuite.NurseryKinds("debug ", nurserydebug.On(), nurserydebug.Slow(0))...)
}
