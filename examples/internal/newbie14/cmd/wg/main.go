// Wg is cmd/minimal written with context and sync.WaitGroup: one task, its
// error kept and the context cancelled with it, as nursery.Run would.
package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	wg.Go(func() {
		err := func(ctx context.Context) error { return nil }(ctx)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			cancel(err)
		}
	})
	wg.Wait()
	fmt.Println(errors.Join(errs...))
}
