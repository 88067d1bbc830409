// Envnodebug is envdebug without nurserydebug: NURSERY_DEBUG=1 must do
// nothing here (the core links no debug mode).
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/structured-go/nursery"
)

func main() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errors.New("connection reset") }, nursery.Name("read"))
		return nil
	}, nursery.WithName("server"))
	fmt.Println(err)
}
