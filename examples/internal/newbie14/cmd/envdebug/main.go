// Envdebug fails one task; with NURSERY_DEBUG=1 its error names the task's
// path and spawn site, because the program links nurserydebug.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/structured-go/nursery"
	_ "github.com/structured-go/nursery/nurserydebug" // README: NURSERY_DEBUG=1 works in programs that import it
)

func main() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error { return errors.New("connection reset") }, nursery.Name("read")) // site:envdebug
		return nil
	}, nursery.WithName("server"))
	fmt.Println(err)
}
