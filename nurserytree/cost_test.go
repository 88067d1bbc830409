package nurserytree_test

import (
	"context"
	"testing"

	"github.com/structured-go/nursery"
)

// BenchmarkNewWaitInTree is the bench module's Core/empty nursery-new in a
// program that links this package, where every nursery has an entry in
// the tree: the price of the tree, which programs without it do not pay.
func BenchmarkNewWaitInTree(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := nursery.New(ctx).Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
