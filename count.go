package nursery

import (
	"sync"
	"sync/atomic"
)

// taskCount counts a nursery's live tasks, and makes accepting a task and
// the end of Wait one atomic decision: a task is either counted before the
// count reaches zero in Wait — and Wait then waits for it — or refused, and
// Go panics. sync.WaitGroup cannot say which: an Add racing the end of
// Wait is misuse there, and the task may run after Wait has returned, its
// failure lost.
//
// The state word holds the count, a bit that says a Wait is blocked (so
// that the task taking the count to zero wakes it), and a bit that says
// the count reached zero in Wait and the nursery is closed. The Wait that
// closes it computes the result; two more bits say that it has, and that
// another Wait waits for it — a sync.Once, without its lock on the common
// path where one Wait is all there is.
//
// Its waits take the nursery's mutex rather than one of their own: they
// are rare (a Wait that finds tasks running), and a mutex less keeps the
// common empty scope in a smaller allocation.
type taskCount struct {
	state atomic.Uint64
	zero  chan struct{} // closed when the count reaches zero; made by a waiter under mu
}

const (
	countClosed     = 1 << 63
	countWaiting    = 1 << 62
	countFinished   = 1 << 61
	countFinishWait = 1 << 60
	countBody       = 1 << 59
	// Two facts about the nursery, kept here to keep it small: written
	// under its mutex, read with or without it.
	countSelfCancelled = 1 << 58 // the nursery cancelled itself (Cancel or a failure) before anything else did
	countInterrupted   = 1 << 57 // some task returned or skipped because of the parent's cancellation
	countMask          = countInterrupted - 1
)

// add counts one more task; it reports false, counting nothing, once the
// nursery is closed.
func (c *taskCount) add() bool {
	for {
		s := c.state.Load()
		if s&countClosed != 0 {
			return false
		}
		if c.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// done uncounts a task that has finished.
func (c *taskCount) done(mu *sync.Mutex) {
	if c.state.Add(^uint64(0))&(countMask|countWaiting) == countWaiting {
		// The count reached zero and a Wait is blocked. Taking the lock
		// orders this wake-up after the waiter's check of the count.
		mu.Lock()
		if c.zero != nil {
			close(c.zero)
			c.zero = nil
		}
		mu.Unlock()
	}
}

// markBody notes that Run's body is accounting for its error, and reports
// whether the count was closed before: then a Wait computed the result
// without it. The body is not a counted task (its own Wait must not wait
// for it), so this bit is how finish knows to take the lock and wait for
// the body's accounting.
func (c *taskCount) markBody() (closed bool) {
	return c.state.Or(countBody)&countClosed != 0
}

// set sets a flag bit; has reports whether it is set.
func (c *taskCount) set(bit uint64)      { c.state.Or(bit) }
func (c *taskCount) has(bit uint64) bool { return c.state.Load()&bit != 0 }

// count returns the number of tasks counted.
func (c *taskCount) count() int { return int(c.state.Load() & countMask) }

// idle reports whether no task is counted.
func (c *taskCount) idle() bool { return c.state.Load()&countMask == 0 }

// wait blocks until the count is zero and closes the nursery in the same
// step, so that no task can be counted after. It reports whether the caller
// closed it: that caller must compute Wait's result and then call
// finished; any other must call waitFinished.
func (c *taskCount) wait(mu *sync.Mutex) (closer bool) {
	if s := c.state.Load(); s&countMask == 0 {
		if s&countClosed != 0 {
			return false
		}
		if c.state.CompareAndSwap(s, s|countClosed) {
			return true
		}
	}
	for {
		mu.Lock()
		s := c.state.Load()
		switch {
		case s&countClosed != 0:
			mu.Unlock()
			return false
		case s&countMask == 0:
			closed := c.state.CompareAndSwap(s, s|countClosed)
			mu.Unlock()
			if closed {
				return true
			}
		case s&countWaiting == 0:
			c.state.CompareAndSwap(s, s|countWaiting)
			mu.Unlock()
		default:
			if c.zero == nil {
				c.zero = make(chan struct{})
			}
			zero := c.zero
			mu.Unlock()
			<-zero
		}
	}
}

// finished marks Wait's result computed, and wakes the Waits that wait for
// it. Only the caller that closed the count calls it, once.
func (c *taskCount) finished(mu *sync.Mutex) {
	// Add, not Or: the bit is set once, and an Add that returns the new
	// state is one instruction where an Or that does is a loop.
	if c.state.Add(countFinished)&countFinishWait == 0 {
		return
	}
	mu.Lock()
	if c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
	mu.Unlock()
}

// waitFinished blocks until finished has been called. Once the count is
// closed no task is left to make zero, so it serves this wait — but a
// channel made by a Wait that blocked before the count was closed may
// still be there, to be closed by the last task's done before finished
// runs: so it looks again each time it is woken.
func (c *taskCount) waitFinished(mu *sync.Mutex) {
	for c.state.Load()&countFinished == 0 {
		mu.Lock()
		if c.state.Or(countFinishWait)&countFinished != 0 {
			mu.Unlock()
			return
		}
		if c.zero == nil {
			c.zero = make(chan struct{})
		}
		zero := c.zero
		mu.Unlock()
		<-zero
	}
}
