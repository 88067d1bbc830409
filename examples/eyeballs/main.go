// Eyeballs connects to a host the "happy eyeballs" way (RFC 8305), the
// classic example of why structured concurrency needs a race primitive:
// start a connection attempt to the first address; if it has not succeeded
// after a short delay, or as soon as it fails, start the next one too;
// the first attempt to connect wins and every other attempt is cancelled.
//
// nursery.First runs the attempts, returns the first success and cancels the
// rest. Like every function in the package it returns only after all of them
// have returned, so no attempt is still dialling, and no losing connection is
// left open, once connect returns.
//
// The network is fake (see dial), so the timing is the same on every run:
// the first address never answers, the second refuses, the third connects.
//
//	go run ./examples/eyeballs
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/structured-go/nursery"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eyeballs:", err)
		os.Exit(1)
	}
}

// addrs are the addresses of the host, in the order the resolver gave them.
var addrs = []string{
	"[2001:db8::1]:443", // never answers
	"[2001:db8::2]:443", // refuses after 10ms
	"192.0.2.1:443",     // connects after 30ms
	"192.0.2.2:443",     // would connect after 5ms, but its turn never comes
}

func run(ctx context.Context, w io.Writer) error {
	start := time.Now()
	var mu sync.Mutex
	log := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%6v  %s\n", time.Since(start).Round(time.Millisecond), fmt.Sprintf(format, args...))
	}
	c, outcomes, err := connect(ctx, addrs, 250*time.Millisecond, 2*time.Second, dial, log)
	for i, o := range outcomes {
		fmt.Fprintf(w, "attempt %d %-18s %s\n", i+1, addrs[i], o)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(w, "connected to %s\n", c.addr)
	return nil
}

// connect dials addrs the happy-eyeballs way and returns the first
// connection, and what became of each attempt. Attempt i starts stagger
// after attempt i-1 started, or as soon as it failed. The whole race fails
// after timeout.
func connect(ctx context.Context, addrs []string, stagger, timeout time.Duration,
	dial func(context.Context, string) (*Conn, error), log func(string, ...any)) (*Conn, []string, error) {
	outcomes := make([]string, len(addrs))
	started := make([]chan struct{}, len(addrs))
	failed := make([]chan struct{}, len(addrs))
	for i := range addrs {
		started[i], failed[i] = make(chan struct{}), make(chan struct{})
		outcomes[i] = "never started"
	}
	var mu sync.Mutex // guards won
	won := false

	attempts := make([]func(context.Context) (*Conn, error), len(addrs))
	for i, addr := range addrs {
		attempts[i] = func(ctx context.Context) (*Conn, error) {
			if i > 0 {
				// Wait for our turn: the previous attempt started a while ago, or failed.
				select {
				case <-started[i-1]:
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				}
				t := time.NewTimer(stagger)
				defer t.Stop()
				select {
				case <-t.C:
				case <-failed[i-1]:
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				}
			}
			log("attempt %d: dialling %s", i+1, addr)
			close(started[i])
			c, err := dial(ctx, addr)
			switch {
			case err != nil && ctx.Err() != nil:
				outcomes[i] = "cancelled"
				return nil, err
			case err != nil:
				log("attempt %d: %v", i+1, err)
				outcomes[i] = "failed: " + err.Error()
				close(failed[i])
				return nil, err
			}
			// First keeps the first success only. If two attempts connect at
			// the same moment, the loser must close its connection itself.
			mu.Lock()
			first := !won
			won = true
			mu.Unlock()
			if !first {
				c.Close()
				outcomes[i] = "connected, closed: another attempt won"
				return nil, errors.New("lost the race")
			}
			log("attempt %d: connected", i+1)
			outcomes[i] = "connected"
			return c, nil
		}
	}

	var c *Conn
	err := nursery.FailAfter(ctx, timeout, func(ctx context.Context) (err error) {
		c, err = nursery.First(ctx, attempts...)
		return err
	})
	// First has returned, so every attempt has: outcomes is complete.
	return c, outcomes, err
}

// A Conn is a fake network connection.
type Conn struct{ addr string }

// Close closes the connection.
func (c *Conn) Close() error { return nil }

var errRefused = errors.New("connection refused")

// dial is a fake net.Dialer.DialContext: in a real program, call
// (&net.Dialer{}).DialContext(ctx, "tcp", addr).
func dial(ctx context.Context, addr string) (*Conn, error) {
	var after time.Duration
	var err error
	switch addr {
	case "[2001:db8::2]:443":
		after, err = 10*time.Millisecond, errRefused
	case "192.0.2.1:443":
		after = 30 * time.Millisecond
	case "192.0.2.2:443":
		after = 5 * time.Millisecond
	default: // a black hole: no answer, ever
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Conn{addr: addr}, nil
}
