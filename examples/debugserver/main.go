// Debugserver is a small line server with a nursery per connection that
// serves the tree of its live nurseries over HTTP, next to net/http/pprof.
//
// Each connection gets its own nursery with a reader and a writer task, so
// the tree shows exactly what the server is doing: which connections are
// open, which tasks they run, since when and from which line. The program
// turns on debug mode with nurserydebug.On(), so that the tree lists tasks
// and their spawn sites and the pprof goroutine profile groups goroutines
// by the labels "nursery" and "task"; without it, the tree shows the
// nurseries only, at no cost per task.
//
//	go run ./examples/debugserver          # serve until Ctrl-C
//	go run ./examples/debugserver -demo    # connect two clients, print the tree, stop
//
// While it serves, try:
//
//	nc 127.0.0.1:PORT                          # type lines, get them back in upper case
//	curl http://127.0.0.1:PORT/debug/nursery   # the tree as text
//	curl 'http://127.0.0.1:PORT/debug/nursery?format=json'
//	curl 'http://127.0.0.1:PORT/debug/pprof/goroutine?debug=1'
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery"
	"github.com/structured-go/nursery/nurserydebug"
	"github.com/structured-go/nursery/nurserytree"
)

func main() {
	demo := flag.Bool("demo", false, "connect two clients, print the tree fetched over HTTP, and stop")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *demo); err != nil {
		fmt.Fprintln(os.Stderr, "debugserver:", err)
		os.Exit(1)
	}
}

// run starts the servers and serves until ctx ends, or in demo mode until
// the demo is over.
func run(ctx context.Context, w io.Writer, demo bool) error {
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		lines, debug, err := start(n)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "line server on %s\ntree on http://%s/debug/nursery\n", lines, debug)
		if !demo {
			return nil // Run waits for the servers, which stop at Ctrl-C
		}
		defer n.Cancel(nil) // the demo is over: stop the servers
		for i := range 2 {
			c, err := dial(n.Context(), lines)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.roundTrip(fmt.Sprintf("hello %d", i+1)); err != nil {
				return err
			}
		}
		tree, err := get(n.Context(), "http://"+debug+"/debug/nursery")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n$ curl http://%s/debug/nursery\n%s", debug, tree)
		return nil
	}, nursery.WithName("debugserver"), nurserydebug.On())
}

// start starts the line server and the debug HTTP server as services of n
// and returns their addresses.
func start(n *nursery.Nursery) (lines, debug string, err error) {
	lines, err = nursery.Start(n, serveLines("127.0.0.1:0"), nursery.Name("lines"))
	if err != nil {
		return "", "", err
	}
	debug, err = nursery.Start(n, serveDebug("127.0.0.1:0"), nursery.Name("debug-http"))
	if err != nil {
		return "", "", err
	}
	return lines, debug, nil
}

// serveLines listens on addr and serves each connection in a task of the
// nursery "conns" until ctx ends.
func serveLines(addr string) func(ctx context.Context, ready func(string)) error {
	return func(ctx context.Context, ready func(string)) error {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		defer context.AfterFunc(ctx, func() { ln.Close() })() // stops Accept
		ready(ln.Addr().String())
		var seq atomic.Int64
		return nursery.Run(ctx, func(conns *nursery.Nursery) error {
			for {
				c, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil // stopped: not an error
					}
					return err
				}
				name := fmt.Sprintf("conn-%d", seq.Add(1))
				conns.Go(func(ctx context.Context) error {
					return handle(ctx, c, name)
				}, nursery.Name(c.RemoteAddr().String()))
			}
		}, nursery.WithName("conns"))
	}
}

// handle serves one connection in its own nursery: a reader task passes
// lines to a writer task, which answers each in upper case. The nursery
// ends when the client hangs up or the server stops.
func handle(ctx context.Context, c net.Conn, name string) error {
	defer c.Close()
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		// Unblocks the reader when the nursery ends: the server stops, or the
		// writer fails. Not stopped on return: the body returns at once.
		context.AfterFunc(n.Context(), func() { c.Close() })
		lines := make(chan string)
		n.Go(func(ctx context.Context) error {
			defer close(lines)
			s := bufio.NewScanner(c)
			for s.Scan() {
				select {
				case lines <- s.Text():
				case <-ctx.Done():
					return nil
				}
			}
			n.Cancel(nil) // the client hung up: the connection is over
			return nil
		}, nursery.Name("read"))
		n.Go(func(ctx context.Context) error {
			for line := range lines {
				if _, err := fmt.Fprintln(c, strings.ToUpper(line)); err != nil {
					return err
				}
			}
			return nil
		}, nursery.Name("write"))
		return nil
	}, nursery.WithName(name))
	if ctx.Err() != nil {
		return nil // the server stopped: a closed connection is expected
	}
	return err
}

// serveDebug serves the nursery tree and the pprof handlers on addr until
// ctx ends.
func serveDebug(addr string) func(ctx context.Context, ready func(string)) error {
	return func(ctx context.Context, ready func(string)) error {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/debug/nursery", nurserytree.Handler())
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		ready(ln.Addr().String())
		defer context.AfterFunc(ctx, func() { srv.Close() })()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// conn is a client connection to the line server.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c, bufio.NewReader(c)}, nil
}

// roundTrip sends a line and returns the server's answer.
func (c *conn) roundTrip(line string) (string, error) {
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	reply, err := c.r.ReadString('\n')
	return strings.TrimSuffix(reply, "\n"), err
}

// get fetches url without keeping the connection open afterwards.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}
