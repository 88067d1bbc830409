package natsexec

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// A ServeOption configures [Serve].
type ServeOption interface{ applyServe(*serveConfig) }

// A PoolOption configures a [Pool].
type PoolOption interface{ applyPool(*poolConfig) }

// An Option configures both [Serve] and [NewPool]; workers and pools must
// agree on it.
type Option interface {
	ServeOption
	PoolOption
}

// DefaultPrefix is the subject prefix used unless [Prefix] sets another.
const DefaultPrefix = "nursery"

type serveConfig struct {
	prefix      string
	concurrency int
	heartbeat   time.Duration
	name        string
	grace       time.Duration
}

func newServeConfig(opts []ServeOption) serveConfig {
	host, _ := os.Hostname()
	cfg := serveConfig{
		prefix:      DefaultPrefix,
		concurrency: runtime.GOMAXPROCS(0),
		heartbeat:   500 * time.Millisecond,
		name:        fmt.Sprintf("%s:%d", host, os.Getpid()),
		grace:       10 * time.Second,
	}
	if len(cfg.name) > maxNameLen {
		cfg.name = cfg.name[:maxNameLen]
	}
	for _, o := range opts {
		o.applyServe(&cfg)
	}
	return cfg
}

type poolConfig struct {
	prefix     string
	lease      time.Duration
	grace      time.Duration
	idempotent map[string]bool
}

func newPoolConfig(opts []PoolOption) poolConfig {
	cfg := poolConfig{
		prefix:     DefaultPrefix,
		lease:      2 * time.Second,
		grace:      time.Second,
		idempotent: make(map[string]bool),
	}
	for _, o := range opts {
		o.applyPool(&cfg)
	}
	return cfg
}

type prefixOption string

func (p prefixOption) applyServe(c *serveConfig) { c.prefix = string(p) }
func (p prefixOption) applyPool(c *poolConfig)   { c.prefix = string(p) }

// Prefix sets the subject prefix under which workers serve and pools call
// (default [DefaultPrefix]): workers and pools with the same prefix form one
// group, so that different programs, or versions of one, can share a NATS
// server. It panics if p is empty or not a valid subject without wildcards.
func Prefix(p string) Option {
	if p == "" || strings.ContainsAny(p, " \t\r\n*>") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		panic(fmt.Sprintf("natsexec: invalid subject prefix %q", p))
	}
	return prefixOption(p)
}

type serveOption func(*serveConfig)

func (f serveOption) applyServe(c *serveConfig) { f(c) }

type poolOption func(*poolConfig)

func (f poolOption) applyPool(c *poolConfig) { f(c) }

// Concurrency sets how many calls a worker runs at once (default
// GOMAXPROCS). A worker takes no more: pools send a worker at most that
// many calls, and a worker that more than one pool has filled refuses the
// surplus, which its pool then sends elsewhere or holds until a worker has
// room. It panics if n < 1 or n > 65536 (pools take no higher capacity
// from a heartbeat).
func Concurrency(n int) ServeOption {
	if n < 1 || n > maxConcurrency {
		panic(fmt.Sprintf("natsexec: Concurrency %d not in [1, %d]", n, maxConcurrency))
	}
	return serveOption(func(c *serveConfig) { c.concurrency = n })
}

// Heartbeat sets how often a worker tells pools that it is alive and
// renews the leases of the calls it is running (default 500ms). Pools deem
// a worker lost after the longer of their [Lease] and three heartbeats
// without news. It panics if d <= 0 or d > 1 minute (pools take no
// longer interval from a heartbeat, so that no heartbeat can stretch a
// lease beyond three minutes).
func Heartbeat(d time.Duration) ServeOption {
	if d <= 0 || d > maxHeartbeat {
		panic(fmt.Sprintf("natsexec: Heartbeat %v not in (0, %v]", d, maxHeartbeat))
	}
	return serveOption(func(c *serveConfig) { c.heartbeat = d })
}

// WorkerName sets the name a worker goes by in errors such as
// [WorkerLostError] (default "host:pid"). It panics if name is empty or
// longer than 256 bytes (pools ignore heartbeats with longer names).
func WorkerName(name string) ServeOption {
	if name == "" || len(name) > maxNameLen {
		panic(fmt.Sprintf("natsexec: WorkerName of %d bytes, not in [1, %d]", len(name), maxNameLen))
	}
	return serveOption(func(c *serveConfig) { c.name = name })
}

// ShutdownGrace sets how long the calls a worker is running may take to
// finish once the context of [Serve] is done (default 10s); then their
// contexts are cancelled with [ErrWorkerStopped] as the cause. It panics if
// d < 0.
func ShutdownGrace(d time.Duration) ServeOption {
	if d < 0 {
		panic("natsexec: negative ShutdownGrace")
	}
	return serveOption(func(c *serveConfig) { c.grace = d })
}

// Lease sets how long a pool waits without news of a call (a result, or
// the lease renewal its worker sends with every heartbeat) before deeming
// the worker lost and failing the call with a *[WorkerLostError] (default
// 2s; at least three of the worker's heartbeats in any case). It panics if
// d <= 0.
func Lease(d time.Duration) PoolOption {
	if d <= 0 {
		panic("natsexec: Lease not positive")
	}
	return poolOption(func(c *poolConfig) { c.lease = d })
}

// CancelGrace sets how long a cancelled call waits for its worker to
// report that the function returned, before returning anyway (default
// 1s). A remote worker cannot be killed as a local one is: a function that
// ignores its context goes on running there, holding one of the worker's
// slots. It panics if d <= 0.
func CancelGrace(d time.Duration) PoolOption {
	if d <= 0 {
		panic("natsexec: CancelGrace not positive")
	}
	return poolOption(func(c *poolConfig) { c.grace = d })
}

// Idempotent names registered functions that may safely run twice for one
// call. A call of such a function whose worker is lost is retried once on
// another worker (or, if there is none, the same one), instead of failing
// with a *[WorkerLostError]; it fails with that error only if the retry's
// worker is lost too. A lost worker may have run the function, partly or
// wholly, before it was lost: without this option a call is never sent
// twice. Calls that a worker refused or never received (NATS reported no
// subscriber) are sent again in any case, since they did not run.
func Idempotent(names ...string) PoolOption {
	return poolOption(func(c *poolConfig) {
		for _, n := range names {
			c.idempotent[n] = true
		}
	})
}
