package nursery

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// mutexWaiters is the number of goroutines blocked in m.Lock: the waiter
// count of sync.Mutex's state word (its first int32; the low 3 bits are
// flags). Only a test reads it, to order goroutines on the lock without
// sleeping.
func mutexWaiters(mu *sync.Mutex) int32 {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(mu))) >> 3
}

func spinUntil(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

// waitFinished reuses c.zero, the channel that a Wait blocked in wait()
// made for "count reached zero". When the task that took the count to
// zero has done its atomic Add but not yet taken mu (done() takes the
// lock only after the Add), another Wait can close the count (the fast
// path needs no lock), and a third Wait in waitFinished finds that old
// channel still in c.zero and blocks on it — then the pending done()
// closes it, and that Wait returns before the closer's finish has
// computed the result. In a nursery that Wait returns nil (or reads f.err
// as finish writes it: a data race) while the closer returns the failure;
// TestAttack14ConcurrentWaitsAgree shows it end to end under -race.
//
// The test orders the goroutines on mu by holding it and counting its
// waiters; only the hand-over of the lock between the third Wait's two
// Lock calls is left to the scheduler, so it tries a few times.
//
// Failed, and was fixed: waitFinished could block on wait()'s stale zero channel, which a late done() closes before finished() — a Wait returns before the result exists.
func TestAttack14WaitFinishedWokenByStaleDone(t *testing.T) {
	for attempt := range 50 {
		var c taskCount
		var mu sync.Mutex // the nursery's, which the count's waits take
		if !c.add() {
			t.Fatal("add refused")
		}
		// W1: blocked in wait() on the zero channel it made.
		w1 := make(chan bool)
		go func() { w1 <- c.wait(&mu) }()
		spinUntil(func() bool {
			mu.Lock()
			defer mu.Unlock()
			return c.zero != nil
		})

		mu.Lock()
		// W3: enters wait() while the count is 1, queues on mu.
		var w3Early atomic.Bool
		w3 := make(chan bool)
		go func() {
			closer := c.wait(&mu)
			if !closer {
				c.waitFinished(&mu)
				// Returned from waitFinished: the result must exist.
				w3Early.Store(c.state.Load()&countFinished == 0)
			}
			w3 <- closer
		}()
		spinUntil(func() bool { return mutexWaiters(&mu) == 1 })
		// R: the last task finishes; its Add takes the count to zero, then
		// it queues on mu behind W3.
		r := make(chan struct{})
		go func() { c.done(&mu); close(r) }()
		spinUntil(func() bool { return mutexWaiters(&mu) == 2 })
		// The closer: the fast path, no lock.
		if !c.wait(&mu) {
			t.Fatal("the test's Wait did not close the count")
		}
		mu.Unlock()
		<-r
		// A correct waitFinished stays blocked until finished(); give a
		// wrongly woken one the chance to return first (never a reason to
		// fail on its own: the check is what W3 saw when it returned).
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			if closer := <-w3; closer {
				t.Error("W3 closed the count")
			}
		}()
		for range 1000 {
			if w3Early.Load() {
				break
			}
			runtime.Gosched()
		}
		c.finished(&mu) // the closer's finish is done only now
		<-returned
		early := w3Early.Load()
		if closer := <-w1; closer {
			t.Fatal("W1 closed the count")
		}
		if early {
			t.Fatalf("attempt %d: a Wait returned from waitFinished before finished() was called", attempt)
		}
	}
}
