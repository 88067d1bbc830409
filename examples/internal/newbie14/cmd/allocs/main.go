// Allocs measures an empty New + Wait, outside and inside a program that
// links nurserytree, to check the README's and CHANGELOG's figures.
package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/structured-go/nursery"
)

func main() {
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			n := nursery.New(ctx)
			n.Wait()
		}
	})
	fmt.Printf("empty New+Wait: %d allocs, %d B/op\n", r.AllocsPerOp(), r.AllocedBytesPerOp())
}
