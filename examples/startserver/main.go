// Startserver starts a TCP server with nursery.Start, which returns once the
// server is listening and hands back its address, then runs clients against
// it and stops it.
//
// Start is Trio's nursery.start: the server is a task of the nursery like any
// other (the nursery waits for it, its failure is the nursery's failure), but
// Start blocks until the server calls ready — here with the address the
// kernel chose for 127.0.0.1:0. There is no sleep-and-hope before the first
// client connects, and no race on a fixed port. If the server fails before it
// is ready (say, the port is taken), Start returns that error.
//
// The server itself is a nursery of connections, so stopping it (cancelling
// its context) closes the listener and every open connection, and waits for
// their handlers.
//
//	go run ./examples/startserver
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/structured-go/nursery"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "startserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		addr, err := nursery.Start(n, serve("127.0.0.1:0"), nursery.Name("echo server"))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "server listening on %s\n", addr)

		// Three clients at once; Gather returns their replies in this order.
		replies, err := nursery.Gather(n.Context(),
			client(addr, "hello"),
			client(addr, "structured"),
			client(addr, "concurrency"),
		)
		if err != nil {
			return err
		}
		for _, r := range replies {
			fmt.Fprintf(w, "reply: %s\n", r)
		}

		n.Cancel(nil) // stop the server; Run waits until it has closed everything
		return nil
	})
}

// serve returns a server for nursery.Start: it listens on addr (port 0: a
// port the kernel chooses), reports the address it got through ready, and
// serves connections until ctx ends. Each connection is a task of the
// server's own nursery.
func serve(addr string) func(ctx context.Context, ready func(string)) error {
	return func(ctx context.Context, ready func(string)) error {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return err // Start returns this error
		}
		defer ln.Close()
		defer context.AfterFunc(ctx, func() { ln.Close() })() // closing the listener stops Accept
		ready(ln.Addr().String())
		return acceptLoop(ctx, ln)
	}
}

func acceptLoop(ctx context.Context, ln net.Listener) error {
	return nursery.Run(ctx, func(conns *nursery.Nursery) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil // stopped: not an error
				}
				return err
			}
			conns.Go(func(ctx context.Context) error {
				return handle(ctx, c)
			}, nursery.Name("conn "+c.RemoteAddr().String()))
		}
	}, nursery.WithName("connections"))
}

// handle answers each line it reads on c with the line in upper case.
func handle(ctx context.Context, c net.Conn) error {
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })() // stopping the server closes the connection
	s := bufio.NewScanner(c)
	for s.Scan() {
		if _, err := fmt.Fprintln(c, strings.ToUpper(s.Text())); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx) // closed because the server stopped
	}
	return s.Err()
}

// client returns a function that sends msg to the server at addr and returns
// its reply.
func client(addr, msg string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		if _, err := fmt.Fprintln(c, msg); err != nil {
			return "", err
		}
		reply, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return "", context.Cause(ctx)
			}
			return "", err
		}
		return strings.TrimSuffix(reply, "\n"), nil
	}
}
