package nurserytree_test

// Go's own tests for package context, translated to the contexts of
// nurseries in the live tree, which this test binary links: a nursery's
// context derives from the wrapper internal/live.scope, which answers the
// tree's private key. The suite is package internal/ctxsuite; see there.

import (
	"testing"

	"github.com/structured-go/nursery/internal/ctxsuite"
)

// TestContextSuite runs the context suite on the contexts of nurseries in
// the live tree and their tasks'.
func TestContextSuite(t *testing.T) {
	ctxsuite.Run(t, ctxsuite.NurseryKinds("tree ")...)
}
