package nursery

import (
	"sync"
	"sync/atomic"

	"github.com/structured-go/nursery/internal/goid"
)

// The rule that keeps limits and shared pools from deadlocking, stated
// once:
//
//	A task blocked in one of the library's waits does not hold its slot.
//	It gives back its nursery's slot (WithLimit) and its pool worker
//	before it blocks, and takes them back, in that order reversed, before
//	it continues.
//
// The library's waits are Nursery.Wait, Task.Wait, Start, AsCompleted,
// Nursery.Go and Spawn blocked for room, and Pool.Go blocked for room (and
// so Run, Gather, Map and First, which end in Wait). It is Java's
// ForkJoinPool managed blocking, and the Go scheduler's hand-off of a P
// around a blocking system call.
//
// Under the rule a slot is only ever held by a task that is running, so
// whatever a blocked task waits for can always get a slot: no nesting of
// nurseries, limits and pools can wait for itself, and every caller of Go
// — a task of the same nursery, of another one, a Start service — can be
// made to wait for room (backpressure) without risk. The price is that
// more goroutines than the limit may have started: at most k of a
// nursery's tasks, and at most the pool's size of its jobs, run at once,
// but tasks blocked in the library's waits do not count. Waits the library
// cannot see (a channel, a mutex, I/O) hold the slot as before.
//
// To give back what it holds, a waiting goroutine must be known: a
// carrier is a goroutine that can hold slots — a runner of a limited
// nursery, a worker of a Pool — registered under its identity
// (internal/goid) for its whole life, and it records what its current task
// holds. Nothing else is registered, so a program that uses neither limits
// nor pools pays one atomic load per wait.

// carrier is what a runner or pool worker goroutine holds while it runs a
// task. Only its own goroutine reads or writes it.
//
// A goroutine may carry several at once: a runner handed to an executor
// that runs jobs on the caller's own goroutine, or a pool worker running a
// job of an executor that wraps the pool, runs a task while the task that
// called it holds its slots too. Then the newest carrier is registered and
// points to the one before, and a wait gives back every slot of the chain.
type carrier struct {
	lim  slotHolder // the nursery whose slot the current task holds, or nil
	pool workerPool // the pool whose worker this goroutine is, or nil
	id   uint64
	prev *carrier // the goroutine's carrier before this one, or nil
}

// carriers is the registry of live carriers.
var carriers carrierSet

type carrierSet struct {
	live   atomic.Int64 // carriers registered: 0 lets every wait skip the look-up
	shards [16]struct {
		mu sync.Mutex
		m  map[uint64]*carrier
		_  [40]byte // keep shards on separate cache lines
	}
}

func (r *carrierSet) shard(id uint64) int {
	// Fibonacci hashing: the top bits of the product mix every bit of
	// the identity, an address on most platforms, a counter elsewhere.
	return int((id * 0x9E3779B97F4A7C15) >> 60)
}

// enter registers c as the calling goroutine's carrier, on top of the one
// it had, if any.
func (r *carrierSet) enter(c *carrier) {
	c.id = goid.Get()
	s := &r.shards[r.shard(c.id)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uint64]*carrier)
	}
	c.prev = s.m[c.id]
	s.m[c.id] = c
	s.mu.Unlock()
	r.live.Add(1)
}

// leave forgets c, which must be the goroutine's newest carrier, and
// restores the one before it; the goroutine calls it before it exits or
// returns from the job that entered c.
func (r *carrierSet) leave(c *carrier) {
	s := &r.shards[r.shard(c.id)]
	s.mu.Lock()
	if c.prev != nil {
		s.m[c.id] = c.prev
	} else {
		delete(s.m, c.id)
	}
	s.mu.Unlock()
	r.live.Add(-1)
}

// current returns the calling goroutine's carrier, or nil.
func (r *carrierSet) current() *carrier {
	if r.live.Load() == 0 {
		return nil
	}
	id := goid.Get()
	s := &r.shards[r.shard(id)]
	s.mu.Lock()
	c := s.m[id]
	s.mu.Unlock()
	return c
}

// block is called by each of the library's waits before it may block. If
// the calling goroutine holds slots, it gives them back and returns what
// it held, to be taken back with unblock; otherwise it returns nil.
func block() *carrier {
	c := carriers.current()
	held := false
	for k := c; k != nil; k = k.prev {
		held = held || k.lim != nil || k.pool != nil
	}
	if !held {
		return nil
	}
	// The newest first: the reverse of the order they were taken in.
	for k := c; k != nil; k = k.prev {
		if k.lim != nil {
			k.lim.release()
		}
		if k.pool != nil {
			k.pool.release()
		}
	}
	return c
}

// unblock takes back what block gave back, in the order in which a task
// first gets them — the oldest carrier first, and for each the pool's
// worker before the nursery's slot — so that no two goroutines can each
// hold what the other waits for.
func (c *carrier) unblock() {
	if c == nil {
		return
	}
	c.prev.unblock()
	if c.pool != nil {
		c.pool.reacquire()
	}
	if c.lim != nil {
		c.lim.reacquire()
	}
}
