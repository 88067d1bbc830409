// Minimal is the smallest nursery.Run program, for the binary-size check.
package main

import (
	"context"
	"fmt"

	"github.com/structured-go/nursery"
)

func main() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return nil })
		return nil
	})
	fmt.Println(err)
}
