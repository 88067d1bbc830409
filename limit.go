package nursery

import (
	"context"
	"math"
	"sync"
)

// limiter queues the tasks of a nursery with [WithLimit] or an [Executor]
// and runs them on runners: goroutines of the nursery, or jobs of its
// executor, each taking queued tasks one after another.
//
// Two numbers govern it. At most k tasks hold a slot — run — at once (k is
// the limit; without one, a pool's size is the only bound). Go waits for
// room while the running and queued tasks reach bound (2k with a limit: k
// running, k waiting; a pool's workers plus its queue without) — from
// whichever goroutine it is called: a task of this nursery, of another, a
// Start service, or none. Neither can deadlock, because of the rule in blocking.go: a task blocked
// in one of the library's waits, including Go waiting for room, gives its
// slot back and takes it again before it goes on. Whatever it waits for
// can therefore run.
//
// A free slot goes first to a blocked task that is ready to go on (it
// started earlier, and finishing it frees more), then to the queue.
//
// On an executor, tasks wait in the nursery's queue rather than the
// executor's, so cancelling the nursery drops them at once even when every
// worker is busy with other nurseries' work, and one nursery cannot flood
// a shared pool's queue.
type limiter struct {
	n     *Nursery
	slots int        // k: tasks that may hold a slot at once; math.MaxInt: no limit of the nursery's own
	bound int        // Go waits while active+queued >= bound; math.MaxInt: never
	pool  workerPool // the executor, when it is a *Pool
	exec  Executor   // any other executor; nil for a Pool and the default
	jobFn func()     // l.runJob, made once: a method value allocates

	mu       sync.Mutex
	queue    ring[item]
	active   int       // slots held: tasks running, not blocked in a library wait
	resumers int       // tasks whose library wait is over, waiting for a slot
	grants   int       // slots given to resumers and not yet taken
	resume   sync.Cond // resumers wait here
	starting int       // runners on their way to the queue: woken, started or requested
	idle     int       // goroutine runners waiting for work
	work     sync.Cond // idle goroutine runners wait here
	waiters  int       // callers of Go waiting for room
	room     sync.Cond // they wait here
	closing  bool
	runners  sync.WaitGroup // goroutine runners

	stopWake func() bool    // stops the wake-up of waiting callers at cancellation
	waking   sync.WaitGroup // that wake-up, once arranged
	stopDrop func() bool    // stops the drop of queued tasks at cancellation
	dropping sync.WaitGroup // that drop, once started
}

// scheduler is a nursery's limiter as the nursery sees it, and slotHolder
// as a carrier (blocking.go) does. They are interfaces, and the limiter is
// made through a function that only WithLimit and WithExecutor name, so
// that a program that asks for neither does not link the limiter's code.
type scheduler interface {
	submit(it item)
	forget(r runner)
	close()
}

type slotHolder interface {
	release()
	reacquire()
}

// poolRunner is a nursery's runner as a pool sees it: a job that runs the
// nursery's queued tasks on the worker that carries c. (An interface, not
// *limiter, for the reason above: workerPool names it.)
type poolRunner interface {
	runOnPool(c *carrier)
}

// startLimiter makes the limiter of a nursery with a limit or an executor.
func startLimiter(n *Nursery) scheduler {
	return newLimiter(n, n.cfg.limit, n.cfg.executor)
}

// workerPool is what a limiter and the library's waits need of the pool
// its runners run on — a *Pool, the only implementation. They depend on
// it rather than on Pool itself so that the pool's code is linked only
// into programs that make one.
type workerPool interface {
	// want queues a runner of l for a worker; false once the pool is
	// closed.
	want(r poolRunner) bool
	// release lends the worker of a task entering one of the library's
	// waits to other work; reacquire takes one back (see blocking.go).
	release()
	reacquire()
	// bound is how many tasks may be in flight: workers plus queue.
	bound() int
	// countQueued adds delta to the tasks waiting for a worker (Stats).
	countQueued(delta int)
	// taskStarted and taskCompleted count a nursery's task that a worker
	// runs, so that Stats agrees with the nursery's Wait.
	taskStarted()
	taskCompleted()
	// isClosing reports that Close was called: runners stop taking
	// queued tasks.
	isClosing() bool
	// hasResumers reports that a blocked task of the pool may go on once a
	// worker is free.
	hasResumers() bool
}

func newLimiter(n *Nursery, limit int, exec Executor) *limiter {
	l := &limiter{n: n, slots: math.MaxInt, bound: math.MaxInt}
	l.resume.L, l.work.L, l.room.L = &l.mu, &l.mu, &l.mu
	l.jobFn = l.runJob
	if p, ok := exec.(workerPool); ok {
		l.pool = p
		l.bound = p.bound()
	} else {
		l.exec = exec
	}
	if limit > 0 {
		// k running, and as many more waiting in the queue.
		l.slots, l.bound = limit, limit+min(limit, math.MaxInt-limit)
	}
	if exec != nil {
		// Runners on an executor may be slow to come: the executor's
		// workers may be busy with other nurseries' work. Queued tasks are
		// dropped at cancellation rather than left for them.
		l.dropping.Add(1)
		l.stopDrop = context.AfterFunc(n.ctx, func() {
			defer l.dropping.Done()
			l.dropQueued(nil)
		})
	}
	return l
}

func (l *limiter) queued() int { return l.queue.n }

// push and pop keep the queue and, on a pool, its Queued count.
func (l *limiter) push(it item) {
	l.queue.push(it)
	if l.pool != nil {
		l.pool.countQueued(1)
	}
}

func (l *limiter) pop() item {
	if l.pool != nil {
		l.pool.countQueued(-1)
	}
	return l.queue.pop()
}

// submit queues a task, waiting for room first if there is none.
func (l *limiter) submit(it item) {
	var c *carrier
	l.mu.Lock()
	if l.active+l.queued() >= l.bound && !l.ownSlotIsRoom() {
		l.mu.Unlock()
		c = block()
		l.mu.Lock()
		if !l.waitForRoom() {
			l.mu.Unlock()
			c.unblock()
			l.n.drop(it, nil)
			return
		}
	}
	l.push(it)
	start := l.kick()
	l.mu.Unlock()
	l.startRunners(start)
	c.unblock()
}

// forget takes out of the queue a task that Task.Cancel finished while it
// waited there, so that it holds no room and a pool no longer counts it.
// A task is in the queue from before its Task is handed out, so one that
// Task.Cancel can reach is queued, or already taken by a runner.
func (l *limiter) forget(r runner) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.queue.remove(func(it item) bool { return it.task == r }) {
		return
	}
	if l.pool != nil {
		l.pool.countQueued(-1)
	}
	if l.waiters > 0 {
		l.room.Signal()
	}
}

// ownSlotIsRoom reports whether the caller is a task of this nursery
// that would find room once it gave its slot back. Such a task does not
// wait: waiting would give the slot back, find room, queue the task and
// take the slot again — but a runner could take the slot for the queued
// task in between, and the caller, which started first, would wait for
// it. l.mu is held.
func (l *limiter) ownSlotIsRoom() bool {
	if l.active-1+l.queued() >= l.bound {
		return false
	}
	c := carriers.current()
	return c != nil && c.lim == l
}

// waitForRoom waits until the queue has room, and reports false if the
// nursery's context ended first. l.mu is held.
func (l *limiter) waitForRoom() bool {
	if l.stopWake == nil {
		// Waiting callers must also wake when the nursery is cancelled;
		// arranged once, by the first one to wait.
		l.waking.Add(1)
		l.stopWake = context.AfterFunc(l.n.ctx, l.wakeAll)
	}
	for l.active+l.queued() >= l.bound {
		if l.n.ctx.Err() != nil {
			return false
		}
		l.waiters++
		l.room.Wait()
		l.waiters--
	}
	return true
}

// wakeAll wakes every waiting caller to look again.
func (l *limiter) wakeAll() {
	defer l.waking.Done()
	l.mu.Lock()
	l.room.Broadcast()
	l.mu.Unlock()
}

// kick gives free slots to resumers first, then makes sure a runner is
// coming for each queued task that has a free slot: it wakes idle runners,
// and returns how many new ones the caller must start once it has
// unlocked l.mu. It also passes room on to a waiting caller of Go. l.mu
// is held.
func (l *limiter) kick() (start int) {
	l.grant()
	for l.queued() > l.starting && l.active+l.starting < l.slots {
		l.starting++
		if l.idle > 0 {
			l.idle--
			l.work.Signal()
		} else {
			start++
		}
	}
	if l.waiters > 0 && l.active+l.queued() < l.bound {
		l.room.Signal()
	}
	return start
}

// grant gives free slots to resumers; l.mu is held.
func (l *limiter) grant() {
	for l.resumers > 0 && l.active < l.slots {
		l.resumers--
		l.active++
		l.grants++
		l.resume.Signal()
	}
}

// startRunners starts runners counted by kick.
func (l *limiter) startRunners(count int) {
	for range count {
		switch {
		case l.pool != nil:
			if !l.pool.want(l) {
				l.refused(ErrPoolClosed)
			}
		case l.exec != nil:
			if err := l.exec.Go(l.n.ctx, l.jobFn); err != nil {
				l.refused(err)
			}
		default:
			l.runners.Add(1)
			go l.runGoroutine()
		}
	}
}

// refused uncounts a runner that the executor refused. If no runner is
// left to run the queued tasks, they fail with err; on a closed pool they
// fail at once, since no runner will take them any more.
func (l *limiter) refused(err error) {
	l.mu.Lock()
	l.starting--
	// Tasks blocked in a library wait do not count: they may be waiting
	// for a queued task.
	orphaned := l.pool != nil || l.starting == 0 && l.active == 0
	l.mu.Unlock()
	if orphaned {
		l.dropQueued(err)
	}
}

// dropQueued drops every queued task: cancelled (err == nil), or failed
// with err when no runner can take them.
func (l *limiter) dropQueued(err error) {
	l.mu.Lock()
	var dropped []item
	for l.queued() > 0 {
		dropped = append(dropped, l.pop())
	}
	if l.waiters > 0 {
		l.room.Broadcast()
	}
	l.mu.Unlock()
	for _, it := range dropped {
		l.n.drop(it, err)
	}
}

// serve runs queued tasks on the calling goroutine, which carries c, while
// there are tasks and free slots. l.mu is held on entry and on return.
func (l *limiter) serve(c *carrier) {
	for l.queued() > 0 && l.active < l.slots {
		if l.pool != nil && l.pool.isClosing() {
			l.mu.Unlock()
			l.dropQueued(ErrPoolClosed)
			l.mu.Lock()
			return
		}
		it := l.pop()
		if it.task != nil && !it.task.claim() {
			// Task.Cancel finished it while it waited: nothing to run, no
			// slot to take, and nothing for a pool to count.
			if l.waiters > 0 {
				l.room.Signal()
			}
			continue
		}
		l.active++
		if l.waiters > 0 {
			l.room.Signal()
		}
		l.mu.Unlock()
		c.lim = l
		if p := l.pool; p != nil {
			p.taskStarted() // completed as the task finishes (finishedItem)
			it.pool = p
		}
		l.n.execClaimed(it, true)
		c.lim = nil
		l.mu.Lock()
		l.active--
		l.grant()
		if l.waiters > 0 && l.active+l.queued() < l.bound {
			l.room.Signal()
		}
		if l.pool != nil && l.pool.hasResumers() {
			// A task of the pool blocked earlier may go on: give the
			// worker back to the pool, and a runner for the rest.
			l.mu.Unlock()
			l.startRunners(l.kickLocked())
			l.mu.Lock()
			return
		}
	}
}

// kickLocked is kick for a caller that does not hold l.mu.
func (l *limiter) kickLocked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kick()
}

// abort repairs the count after runtime.Goexit in a task ended the
// runner's goroutine while it carried c.
func (l *limiter) abort(c *carrier) {
	if c.lim == nil {
		return
	}
	c.lim = nil
	l.mu.Lock()
	l.active--
	start := l.kick()
	l.mu.Unlock()
	l.startRunners(start)
}

// runGoroutine is a runner of the default executor: a goroutine of the
// nursery that waits for work until the nursery closes — parking costs far
// less than starting a new goroutine for every burst of a saturated
// nursery — unless enough runners wait already.
func (l *limiter) runGoroutine() {
	c := &carrier{}
	carriers.enter(c)
	defer l.runners.Done()
	defer carriers.leave(c)
	defer l.abort(c)
	l.mu.Lock()
	l.starting--
	for {
		l.serve(c)
		if l.closing || l.idle+l.active >= l.slots {
			l.mu.Unlock()
			return
		}
		l.idle++
		l.work.Wait()
		if l.closing {
			l.mu.Unlock()
			return
		}
		l.starting-- // counted by the kick that woke it
	}
}

// runOnPool is a runner handed to the nursery's pool; c is the worker. It
// gives the worker back once the queue is empty.
func (l *limiter) runOnPool(c *carrier) {
	defer l.abort(c)
	l.mu.Lock()
	l.starting--
	l.serve(c)
	l.mu.Unlock()
}

// runJob is a runner handed to another executor as a plain function.
func (l *limiter) runJob() {
	c := &carrier{}
	carriers.enter(c)
	defer carriers.leave(c)
	defer l.abort(c)
	l.mu.Lock()
	l.starting--
	l.serve(c)
	l.mu.Unlock()
}

// release gives back the slot of a task entering one of the library's
// waits (see blocking.go).
func (l *limiter) release() {
	l.mu.Lock()
	l.active--
	start := l.kick()
	l.mu.Unlock()
	l.startRunners(start)
}

// reacquire takes a slot again for a task whose wait is over.
func (l *limiter) reacquire() {
	l.mu.Lock()
	if l.active < l.slots {
		l.active++
	} else {
		l.resumers++
		for l.grants == 0 {
			l.resume.Wait()
		}
		l.grants--
	}
	l.mu.Unlock()
}

// close stops the runners once every task has finished. The queue is empty
// by then: every task in it was run, dropped, or taken out by Task.Cancel
// (forget) before the nursery's count could reach zero.
func (l *limiter) close() {
	l.mu.Lock()
	l.closing = true
	l.idle = 0
	l.work.Broadcast()
	stopWake := l.stopWake
	l.mu.Unlock()
	if stopWake != nil {
		if stopWake() {
			l.waking.Done()
		}
		l.waking.Wait()
	}
	l.runners.Wait()
	if l.stopDrop != nil {
		if l.stopDrop() {
			l.dropping.Done()
		}
		l.dropping.Wait()
	}
}

// ring is a FIFO queue in a circular buffer whose size is a power of two.
// It keeps its buffer while the queue is short, so that steady traffic
// costs no allocation, and lets a large one go once it is empty, so that
// memory stays O(live tasks).
type ring[T any] struct {
	buf  []T
	head int
	n    int
}

// keepRing is the largest buffer a ring keeps once it is empty.
const keepRing = 1024

func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = v
	r.n++
}

func (r *ring[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > keepRing {
			r.buf = nil
		}
	}
	return v
}

// remove takes out the first element that match accepts, keeping the
// order of the others, and reports whether there was one. It costs
// O(length); only Task.Cancel of a queued task calls it.
func (r *ring[T]) remove(match func(T) bool) bool {
	mask := len(r.buf) - 1
	for i := range r.n {
		if !match(r.buf[(r.head+i)&mask]) {
			continue
		}
		for j := i; j < r.n-1; j++ {
			r.buf[(r.head+j)&mask] = r.buf[(r.head+j+1)&mask]
		}
		var zero T
		r.buf[(r.head+r.n-1)&mask] = zero
		r.n--
		if r.n == 0 {
			r.head = 0
		}
		return true
	}
	return false
}

func (r *ring[T]) grow() {
	buf := make([]T, max(8, 2*len(r.buf)))
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}
