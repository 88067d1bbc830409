package nursery

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/structured-go/nursery/internal/goid"
)

// limiter queues a nursery's tasks and runs them on runners: goroutines of
// the nursery, or jobs of its executor, each taking tasks from the queue
// one at a time. It serves nurseries with [WithLimit], [WithExecutor], or
// both.
//
// Outside callers of Go block while k tasks are running or queued
// (backpressure). A task calling Go on its own nursery must not wait for
// itself — that deadlocks errgroup's SetLimit when every slot holder
// spawns (golang/go#27837) — nor may any goroutine that a slot holder may
// be waiting for: a Start service, or a worker of the nursery's pool. So
// runners, services and pool workers are known by goroutine identity
// (internal/goid), a caller about to block is looked up among them, and
// theirs is queued instead, to run when a slot frees.
//
// Runners of the default executor wait for work until the nursery closes
// rather than exit whenever the queue runs dry: a saturated nursery drains
// its queue between every two bursts of its blocked caller, and parking a
// runner costs far less than starting a new goroutine each time. Runners
// on an executor hold workers that others share, so they wait only while
// a caller is blocked on the nursery, about to push more work.
//
// One case stays unsolved: a task of another nursery nested inside one of
// this nursery's tasks is an outside caller here, so with every slot held
// by tasks that wait for such nested work, its Go on this nursery blocks
// for good. Nested scopes should not spawn into their full ancestors.
//
// On an executor, tasks wait in the nursery's queue rather than the
// executor's, so cancelling the nursery drops them at once even when every
// worker is busy with other nurseries' work, and one nursery cannot flood a
// shared pool's queue.
type limiter struct {
	n          *Nursery
	limited    bool // WithLimit was given
	k          int  // outside callers block while active+queued >= k; 0: never
	maxRunners int
	exec       Executor // nil: runners are goroutines of the nursery
	pool       *Pool    // exec, when it is a *Pool

	mu      sync.Mutex
	work    sync.Cond // idle runners wait here for tasks or close
	room    sync.Cond // blocked callers wait here for a slot
	queue   ring
	active  int      // tasks being run by runners
	runners int      // live runners, counted from when they are started
	idle    int      // runners parked on work and not yet signalled
	ids     []uint64 // goroutine IDs of live runners
	waiters int      // callers blocked in submit
	closing bool
	done    sync.WaitGroup // goroutine runners (not executor jobs)

	// unstarted counts runners handed to the executor that have yet to
	// start running.
	unstarted atomic.Int32

	services []uint64 // goroutine IDs of running Start services

	stopWake func() bool    // stops the wake-up of blocked callers at cancellation
	waking   sync.WaitGroup // that wake-up, once arranged

	runFn      func(worker uint64) // l.run, made once: a method value allocates
	jobFn      func()              // l.runJob, likewise
	feedCtx    context.Context     // ends when the nursery closes
	feedCancel context.CancelFunc
	feeders    sync.WaitGroup // goroutines waiting to hand a runner to the pool

	stopDrop func() bool    // stops the drop of queued tasks at cancellation
	dropping sync.WaitGroup // that drop, once started
}

func newLimiter(n *Nursery, limit int, exec Executor) *limiter {
	l := &limiter{n: n, exec: exec}
	l.pool, _ = exec.(*Pool)
	l.work.L = &l.mu
	l.room.L = &l.mu
	l.runFn, l.jobFn = l.run, l.runJob
	switch {
	case limit > 0:
		l.limited, l.k, l.maxRunners = true, limit, limit
		if l.pool != nil {
			l.maxRunners = min(limit, int(l.pool.max))
		}
	case l.pool != nil:
		l.k = int(l.pool.max) + cap(l.pool.tasks)
		l.maxRunners = int(l.pool.max)
	default:
		// A foreign executor without a limit: starting a runner blocks
		// in the executor's Go, which is the backpressure.
		l.maxRunners = math.MaxInt
	}
	if exec != nil {
		l.feedCtx, l.feedCancel = context.WithCancel(n.ctx)
		l.dropping.Add(1)
		l.stopDrop = context.AfterFunc(n.ctx, func() {
			defer l.dropping.Done()
			l.dropQueued()
		})
	}
	return l
}

func (l *limiter) queued() int { return l.queue.n }

// push and pop keep the queue and, on a pool, its Queued count.
func (l *limiter) push(it item) {
	l.queue.push(it)
	if l.pool != nil {
		l.pool.waiting.Add(1)
	}
}

func (l *limiter) pop() item {
	if l.pool != nil {
		l.pool.waiting.Add(-1)
	}
	return l.queue.pop()
}

func (l *limiter) submit(it item) {
	ctx := l.n.ctx
	l.mu.Lock()
	blocked := false
	if l.k > 0 && l.active+l.queued() >= l.k && !l.owns() {
		if l.stopWake == nil {
			// Blocked callers must also wake when the nursery is
			// cancelled; arranged once, by the first one to block.
			l.waking.Add(1)
			l.stopWake = context.AfterFunc(ctx, l.wakeAll)
		}
		blocked = true
		for l.active+l.queued() >= l.k {
			if ctx.Err() != nil {
				l.release()
				l.mu.Unlock()
				l.n.drop(it, nil)
				return
			}
			l.waiters++
			l.room.Wait()
			l.waiters--
		}
	}
	l.push(it)
	if l.waiters > 0 && l.active+l.queued() < l.k {
		l.room.Signal() // room for more than this caller
	}
	start := false
	switch {
	case l.idle > 0:
		// Uncounted here, not by the runner when it wakes: a second task
		// pushed before then must wake another runner, or start one.
		l.idle--
		l.work.Signal()
	case l.runners < l.maxRunners:
		l.runners++
		start = true
	default:
		// A busy runner takes the task when it is free.
	}
	if blocked {
		l.release()
	}
	l.mu.Unlock()
	if start {
		l.start()
	}
}

// release lets runners on an executor that linger for a blocked caller's
// next task (see run) go, once no caller is blocked any more; l.mu is
// held.
func (l *limiter) release() {
	if l.exec != nil && l.waiters == 0 && l.idle > 0 {
		l.idle = 0
		l.work.Broadcast()
	}
}

// owns reports whether the caller is one of the goroutines whose Go must
// never wait for a slot: a runner (or a stand-in for one), which may hold
// the very slot it would wait for; a Start service, which a slot holder
// may be waiting for; or, on a pool, any of its workers, which this
// nursery's runners may be waiting for. l.mu is held.
func (l *limiter) owns() bool {
	id := goid.Get()
	return slices.Contains(l.ids, id) || slices.Contains(l.services, id) ||
		l.pool != nil && l.pool.isWorker(id)
}

// service records, while a Start service runs, that its goroutine is one
// of the nursery's: its Go must not wait for a slot that a task waiting
// for the service holds. It returns the function that forgets it.
func (l *limiter) service(id uint64) func() { return l.enlist(&l.services, id) }

// standIn records the calling goroutine as a runner while it runs a task
// claimed by a runner's Task.Wait; it returns the function that forgets it.
func (l *limiter) standIn() func() { return l.enlist(&l.ids, goid.Get()) }

// enlist adds id to list (l.ids or l.services) until the returned function
// is called.
func (l *limiter) enlist(list *[]uint64, id uint64) func() {
	l.mu.Lock()
	*list = append(*list, id)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		forget(list, id)
		l.mu.Unlock()
	}
}

// forget removes id from list, whose order does not matter; l.mu is held.
func forget(list *[]uint64, id uint64) {
	s := *list
	if i := slices.Index(s, id); i >= 0 {
		last := len(s) - 1
		s[i] = s[last]
		*list = s[:last]
	}
}

// wakeAll wakes every blocked caller to look again.
func (l *limiter) wakeAll() {
	defer l.waking.Done()
	l.mu.Lock()
	l.room.Broadcast()
	l.mu.Unlock()
}

// start starts one runner, already counted.
func (l *limiter) start() {
	switch {
	case l.exec == nil:
		l.done.Add(1)
		go l.run(0)
	case l.pool != nil:
		l.unstarted.Add(1)
		if l.pool.tryGo(l.runFn) {
			return
		}
		l.unstarted.Add(-1)
		// The pool is full. Never block the caller on it: the caller may
		// be one of its workers, waiting for room only it could make.
		l.mu.Lock()
		if l.runners > 1 {
			// Another runner is live; it takes the task.
			l.runners--
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.feeders.Add(1)
		go l.feed()
	default:
		l.unstarted.Add(1)
		if err := l.exec.Go(l.n.ctx, l.jobFn); err != nil {
			l.unstarted.Add(-1)
			l.abandon(err)
		}
	}
}

// feed waits, off the pool's workers, until the pool takes a runner.
func (l *limiter) feed() {
	defer l.feeders.Done()
	l.unstarted.Add(1)
	if err := l.pool.Go(l.feedCtx, l.jobFn); err != nil {
		l.unstarted.Add(-1)
		l.abandon(err)
	}
}

// abandon uncounts a runner the executor refused. If it was the last one,
// the queued tasks have nobody to run them: they are dropped with err.
func (l *limiter) abandon(err error) {
	l.mu.Lock()
	l.runners--
	var orphans []item
	if l.runners == 0 {
		orphans = l.takeAll()
	}
	l.broadcast()
	l.mu.Unlock()
	for _, it := range orphans {
		l.n.drop(it, err)
	}
}

// dropQueued drops every queued task once the nursery is cancelled.
func (l *limiter) dropQueued() {
	l.mu.Lock()
	dropped := l.takeAll()
	l.broadcast()
	l.mu.Unlock()
	for _, it := range dropped {
		l.n.drop(it, nil)
	}
}

// takeAll empties the queue and returns what it held; l.mu is held.
func (l *limiter) takeAll() []item {
	var all []item
	for l.queued() > 0 {
		all = append(all, l.pop())
	}
	return all
}

// runJob is a runner handed to an executor as a plain function.
func (l *limiter) runJob() { l.run(0) }

// run is a runner: it takes queued tasks and runs them one at a time. id
// is its goroutine's ID, or 0 if it has yet to be found.
func (l *limiter) run(id uint64) {
	if l.exec != nil {
		l.unstarted.Add(-1)
	}
	if id == 0 {
		id = goid.Get()
	}
	l.mu.Lock()
	l.ids = append(l.ids, id)
	normal, running := false, false
	defer func() {
		if normal {
			return
		}
		// A task called runtime.Goexit, which ends this goroutine too.
		l.mu.Lock()
		if running {
			l.active--
		}
		l.exit(id)
		replace := l.queued() > 0 && !l.closing
		if replace {
			l.runners++
		}
		l.mu.Unlock()
		// Start the replacement first: close may be waiting for the
		// runner count to reach zero.
		if replace {
			l.start()
		}
		if l.exec == nil {
			l.done.Done()
		}
	}()
	for {
		// Runners of the default executor wait for work until the
		// nursery closes. Runners on an executor hold a worker that
		// others share, so they leave when the queue runs dry — unless a
		// caller is blocked for room: it has been woken, or will be, and
		// pushes its task in a moment, which would otherwise cost a new
		// runner to be handed to the executor each time the nursery is
		// saturated.
		for l.queued() == 0 && !l.closing && (l.exec == nil || l.waiters > 0) {
			l.idle++
			l.work.Wait()
		}
		if l.queued() == 0 {
			l.exit(id)
			l.mu.Unlock()
			normal = true
			if l.exec == nil {
				l.done.Done()
			}
			return
		}
		it := l.pop()
		l.active++
		running = true
		l.mu.Unlock()
		l.exec1(it)
		l.mu.Lock()
		running = false
		l.active--
		if l.waiters > 0 {
			l.room.Signal()
		}
	}
}

// exit removes a runner; l.mu is held.
func (l *limiter) exit(id uint64) {
	l.runners--
	forget(&l.ids, id)
	l.broadcast()
}

// broadcast wakes every blocked caller to look again; l.mu is held.
func (l *limiter) broadcast() {
	if l.waiters > 0 {
		l.room.Broadcast()
	}
}

// mayHelp reports whether the caller may run a queued task itself: a
// runner may, in its own slot; without a limit, so may any worker of the
// pool, which holds a worker slot already.
func (l *limiter) mayHelp() bool {
	id := goid.Get()
	if !l.limited && l.pool != nil && l.pool.isWorker(id) {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.ids, id)
}

// help runs queued tasks in the caller of Wait when the nursery has no
// limit and the caller is a worker of its pool: the worker would sit idle
// in Wait, and the queued tasks may be waiting for it (nested nurseries on
// one shared pool).
func (l *limiter) help() {
	if l.limited || l.pool == nil {
		return
	}
	// While a runner is live on a worker, it drains the queue: only when
	// none is does it matter who the caller is.
	l.mu.Lock()
	stalled := l.queued() > 0 && l.runners <= int(l.unstarted.Load())
	l.mu.Unlock()
	if !stalled || !l.pool.isWorker(goid.Get()) {
		return
	}
	for {
		l.mu.Lock()
		if l.queued() == 0 {
			l.mu.Unlock()
			return
		}
		it := l.pop()
		l.mu.Unlock()
		l.exec1(it)
	}
}

// exec1 runs a task taken from the queue; on a pool, it counts as one of
// the pool's tasks.
func (l *limiter) exec1(it item) {
	if p := l.pool; p != nil {
		p.started.Add(1)
		defer p.completed.Add(1) // on runtime.Goexit too
	}
	l.n.exec(it, true)
}

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
	l.done.Wait()
	if l.exec != nil {
		// Runner jobs still in the executor's queue find nothing to do
		// when they run; only our own feeders must end before Wait returns.
		l.feedCancel()
		l.feeders.Wait()
	}
	if l.stopDrop != nil {
		if l.stopDrop() {
			l.dropping.Done()
		}
		l.dropping.Wait()
	}
}

// ring is a FIFO queue of items in a circular buffer whose size is a power
// of two. It keeps its buffer while the queue is short, so that steady
// traffic costs no allocation, and lets a large one go once it is empty,
// so that memory stays O(live tasks).
type ring struct {
	buf  []item
	head int
	n    int
}

// keepRing is the largest buffer a ring keeps once it is empty.
const keepRing = 1024

func (r *ring) push(it item) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = it
	r.n++
}

func (r *ring) pop() item {
	it := r.buf[r.head]
	r.buf[r.head] = item{}
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > keepRing {
			r.buf = nil
		}
	}
	return it
}

func (r *ring) grow() {
	buf := make([]item, max(8, 2*len(r.buf)))
	for i := range r.n {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}
