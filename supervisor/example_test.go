package supervisor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/supervisor"
)

// A database client must be ready before the server that uses it; when the
// database connection is lost, rest-for-one stops the server, then starts
// the database client and the server again, in order.
func Example() {
	lost := make(chan error)
	serverReady := make(chan struct{}, 2)
	db := func(ctx context.Context, ready func()) error {
		ready() // connected
		select {
		case err := <-lost:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	server := func(ctx context.Context, ready func()) error {
		ready() // listening
		<-ctx.Done()
		return ctx.Err()
	}

	sup := supervisor.New("app", supervisor.RestForOne,
		supervisor.Logger(nil), // the events are printed by the hook
		supervisor.Hook(func(e supervisor.Event) {
			if e.Kind == supervisor.EventExit && e.Err != nil {
				fmt.Printf("%s %s: %v\n", e.Kind, e.Child, e.Err)
				return
			}
			fmt.Println(e.Kind, e.Child)
			if e.Kind == supervisor.EventReady && e.Child == "server" {
				serverReady <- struct{}{}
			}
		}))
	ctx := context.Background()
	_ = sup.Add(ctx, supervisor.Child("db", db))
	_ = sup.Add(ctx, supervisor.Child("server", server))

	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		if err := supervisor.Start(n, sup); err != nil {
			return err
		}
		<-serverReady
		fmt.Println("-- all ready")
		lost <- errors.New("connection lost")
		<-serverReady
		fmt.Println("-- stopping")
		n.Cancel(nil)
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// start db
	// ready db
	// start server
	// ready server
	// -- all ready
	// exit db: connection lost
	// exit server
	// restart db
	// restart server
	// start db
	// ready db
	// start server
	// ready server
	// -- stopping
	// exit server
	// exit db
	// err: <nil>
}
