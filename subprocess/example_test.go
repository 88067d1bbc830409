//go:build linux

package subprocess_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/subprocess"
)

// square runs in worker processes. Functions are registered during
// package initialization, so that the workers, which re-execute the
// program, know them too; main (or TestMain) calls subprocess.Main first.
var square = subprocess.Register("example.square", func(_ context.Context, x int) (int, error) {
	return x * x, nil
})

func Example() {
	ctx := context.Background()
	pool, err := subprocess.NewPool(ctx, subprocess.Workers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	var tasks []*nursery.Task[int]
	err = nursery.Run(ctx, func(n *nursery.Nursery) error {
		for x := range 5 {
			tasks = append(tasks, square.Spawn(n, pool, x))
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range tasks {
		v, _ := t.Wait()
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 0 1 4 9 16
}

var errQuota = subprocess.RegisterError("example.errQuota", errors.New("example: over quota"))

var upload = subprocess.Register("example.upload", func(_ context.Context, size int) (int, error) {
	if size > 100 {
		return 0, fmt.Errorf("upload of %d bytes: %w", size, errQuota)
	}
	return size, nil
})

func ExampleRegisterError() {
	ctx := context.Background()
	pool, err := subprocess.NewPool(ctx, subprocess.Workers(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	_, err = upload.Call(ctx, pool, 1000)
	fmt.Println(err)
	fmt.Println(errors.Is(err, errQuota))
	// Output:
	// upload of 1000 bytes: example: over quota
	// true
}

func ExampleCommand() {
	err := nursery.Run(context.Background(), func(n *nursery.Nursery) error {
		n.Go(func(ctx context.Context) error {
			// Killed with its whole process group if the nursery is
			// cancelled.
			out, err := subprocess.Command(ctx, "echo", "hello from a child").Output()
			fmt.Print(string(out))
			return err
		})
		return nil
	})
	fmt.Println(err)
	// Output:
	// hello from a child
	// <nil>
}
