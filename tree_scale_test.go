package nursery_test

import (
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/structured-go/nursery"
)

// openChain opens depth nurseries, each created from the context of the one
// before, so that each sits under the one before in the tree, and returns
// them, the outermost first. Each is named by name(level), level 0 being
// the outermost. closeChain waits them, the innermost first.
func openChain(ctx context.Context, depth int, name func(level int) string, opts ...nursery.Option) []*nursery.Nursery {
	chain := make([]*nursery.Nursery, depth)
	for i := range chain {
		chain[i] = nursery.New(ctx, append(opts, nursery.WithName(name(i)))...)
		ctx = chain[i].Context()
	}
	return chain
}

func closeChain(tb testing.TB, chain []*nursery.Nursery) {
	tb.Helper()
	for i := len(chain) - 1; i >= 0; i-- {
		if err := chain[i].Wait(); err != nil {
			tb.Errorf("level %d: %v", i, err)
		}
	}
}

// benchDepths are the depths of the chains the tree benchmarks write.
var benchDepths = []int{100, 1000, 10000}

func benchTree(b *testing.B, write func() error) {
	for _, depth := range benchDepths {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			chain := openChain(b.Context(), depth, func(int) string { return "d" })
			defer closeChain(b, chain)
			b.ReportAllocs()
			for b.Loop() {
				if err := write(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteTreeDepth writes the tree of a chain of nested nurseries.
func BenchmarkWriteTreeDepth(b *testing.B) {
	benchTree(b, func() error { return nursery.WriteTree(io.Discard) })
}

// BenchmarkTreeJSONDepth is BenchmarkWriteTreeDepth for TreeJSON.
func BenchmarkTreeJSONDepth(b *testing.B) {
	benchTree(b, func() error { _, err := nursery.TreeJSON(); return err })
}
