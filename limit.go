package nursery

import (
	"slices"
	"sync"

	"github.com/structured-go/nursery/internal/goid"
)

// limiter runs a nursery's tasks on at most k runners, each a goroutine (or
// an executor job) that takes tasks from the nursery's queue one at a time.
//
// Outside callers of Go block while k tasks are running or queued
// (backpressure). A task calling Go on its own nursery must never block —
// that deadlocks errgroup's SetLimit when every slot holder spawns
// (golang/go#27837) — so runners are identified by goroutine ID, and a
// runner's Go queues the child, which runs when a slot frees. Identifying
// the caller costs microseconds, so it happens only when the nursery is
// saturated, and runners compute their own ID once when they start: that is
// why default-executor runners stay alive until the nursery closes instead
// of exiting whenever the queue runs dry.
type limiter struct {
	n    *Nursery
	k    int
	exec Executor // nil: runners are goroutines of the nursery
	pool *Pool    // exec, when it is a *Pool

	mu      sync.Mutex
	work    sync.Cond // idle runners wait here for tasks or close
	queue   []item
	head    int
	active  int      // tasks being run by runners
	runners int      // live runners
	idle    int      // runners waiting on work
	ids     []uint64 // goroutine IDs of live runners
	waiters int      // outside callers blocked on a full nursery
	wake    chan struct{}
	closing bool
	done    sync.WaitGroup // live runners
}

func newLimiter(n *Nursery, k int, exec Executor) *limiter {
	l := &limiter{n: n, k: k, exec: exec, wake: make(chan struct{})}
	l.pool, _ = exec.(*Pool)
	l.work.L = &l.mu
	return l
}

func (l *limiter) queued() int { return len(l.queue) - l.head }

func (l *limiter) push(it item) { l.queue = append(l.queue, it) }

func (l *limiter) pop() item {
	it := l.queue[l.head]
	l.queue[l.head] = item{}
	l.head++
	if l.head == len(l.queue) {
		l.queue, l.head = l.queue[:0], 0
	}
	return it
}

func (l *limiter) submit(it item) {
	ctx := l.n.ctx
	l.mu.Lock()
	inside, checked := false, false
	for !inside && l.active+l.queued() >= l.k {
		if ctx.Err() != nil {
			l.mu.Unlock()
			l.n.drop(it, nil)
			return
		}
		if !checked {
			checked = true
			l.mu.Unlock()
			id := goid.Get()
			l.mu.Lock()
			inside = slices.Contains(l.ids, id)
			continue
		}
		wake := l.wake
		l.waiters++
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		l.mu.Lock()
		l.waiters--
	}
	l.push(it)
	if l.idle > 0 {
		l.work.Signal()
		l.mu.Unlock()
		return
	}
	if l.runners >= l.k || (inside && l.exec != nil && l.pool == nil) {
		// Every runner is busy, or the caller is a runner and starting
		// another through a foreign executor could block it: a live
		// runner takes the task when it is free.
		l.mu.Unlock()
		return
	}
	l.runners++
	l.done.Add(1)
	l.mu.Unlock()
	l.start(inside)
}

// start starts one runner. It is called with the runner already counted.
func (l *limiter) start(inside bool) {
	switch {
	case l.exec == nil:
		go l.run()
		return
	case l.pool != nil && l.pool.tryGo(l.run):
		return
	case inside:
		// The caller is a runner on a full pool: blocking here could wait
		// for itself. Its own runner will take the queued task.
		l.abandon(nil)
		return
	}
	if err := l.exec.Go(l.n.ctx, l.run); err != nil {
		l.abandon(err)
	}
}

// abandon uncounts a runner that never started. If it was the last one, the
// queued tasks have nobody to run them: they are dropped with err.
func (l *limiter) abandon(err error) {
	l.mu.Lock()
	l.runners--
	var orphans []item
	if l.runners == 0 {
		for l.queued() > 0 {
			orphans = append(orphans, l.pop())
		}
	}
	l.mu.Unlock()
	l.done.Done()
	for _, it := range orphans {
		l.n.drop(it, err)
	}
}

// run is a runner: it takes queued tasks and runs them one at a time.
func (l *limiter) run() {
	id := goid.Get()
	l.mu.Lock()
	l.ids = append(l.ids, id)
	normal := false
	running := false
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
			l.done.Add(1)
		}
		l.mu.Unlock()
		l.done.Done()
		if replace {
			l.start(false)
		}
	}()
	for {
		for l.queued() == 0 {
			if l.closing || l.exec != nil {
				// Executor runners do not linger: they would hold a
				// worker of a pool that others share.
				l.exit(id)
				l.mu.Unlock()
				normal = true
				l.done.Done()
				return
			}
			l.idle++
			l.work.Wait()
			l.idle--
		}
		it := l.pop()
		l.active++
		running = true
		l.mu.Unlock()
		l.n.exec(it, true)
		l.mu.Lock()
		running = false
		l.active--
		if l.waiters > 0 {
			close(l.wake)
			l.wake = make(chan struct{})
		}
	}
}

// exit removes a runner; l.mu is held.
func (l *limiter) exit(id uint64) {
	l.runners--
	if i := slices.Index(l.ids, id); i >= 0 {
		l.ids = slices.Delete(l.ids, i, i+1)
	}
	if l.waiters > 0 {
		close(l.wake)
		l.wake = make(chan struct{})
	}
}

func (l *limiter) mayHelp() bool {
	id := goid.Get()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.ids, id)
}

func (l *limiter) close() {
	l.mu.Lock()
	l.closing = true
	l.work.Broadcast()
	l.mu.Unlock()
	l.done.Wait()
}
