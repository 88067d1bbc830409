// Package newbie14 is a newcomer's tour of github.com/structured-go/nursery,
// written from its documentation only.
package newbie14

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/structured-go/nursery"
)

// Server is a line server: one root nursery "server", one task "accept",
// and a nursery "conn-N" per connection with the tasks "read" and "write".
type Server struct {
	Addr  string
	conns atomic.Int64 // open connections, for WithStatus
	seq   atomic.Int64
}

// Open reports the number of open connections.
func (s *Server) Open() int64 { return s.conns.Load() }

// Serve listens on 127.0.0.1:0, calls ready with the address, and serves
// until ctx ends. opts configure the root nursery.
func (s *Server) Serve(ctx context.Context, ready func(addr string), opts ...nursery.Option) error {
	opts = append([]nursery.Option{
		nursery.WithName("server"),
		nursery.WithStatus(func() string { return fmt.Sprintf("%d open connections", s.conns.Load()) }),
	}, opts...)
	return nursery.Run(ctx, func(n *nursery.Nursery) error {
		addr, err := nursery.Start(n, func(ctx context.Context, ready func(string)) error {
			var lc net.ListenConfig
			ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			defer context.AfterFunc(ctx, func() { ln.Close() })()
			ready(ln.Addr().String())
			for {
				c, err := ln.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				name := fmt.Sprintf("conn-%d", s.seq.Add(1))
				n.Go(func(ctx context.Context) error {
					return s.handle(ctx, c, name)
				}, nursery.Name("handle-"+name))
			}
		}, nursery.Name("accept"))
		if err != nil {
			return err
		}
		s.Addr = addr
		ready(addr)
		return nil
	}, opts...)
}

func (s *Server) handle(ctx context.Context, c net.Conn, name string) error {
	s.conns.Add(1)
	defer s.conns.Add(-1)
	defer c.Close()
	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
		// Not `defer stop()` in this body, as examples/debugserver does: the
		// body returns at once, which would unregister it before it can fire.
		// The nursery's context ends at the latest when Wait returns.
		context.AfterFunc(n.Context(), func() { c.Close() })
		lines := make(chan string)
		n.Go(func(ctx context.Context) error {
			defer close(lines)
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				case <-ctx.Done():
					return nil
				}
			}
			n.Cancel(nil) // client hung up
			return nil
		}, nursery.Name("read"))
		n.Go(func(ctx context.Context) error { // site:write
			for line := range lines {
				if line == "fail" {
					return errors.New("client asked for a failure")
				}
				if _, err := fmt.Fprintln(c, strings.ToUpper(line)); err != nil {
					return err
				}
			}
			return nil
		}, nursery.Name("write"))
		return nil
	}, nursery.WithName(name))
	if ctx.Err() != nil {
		return nil
	}
	return err
}
