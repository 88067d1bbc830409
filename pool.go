package nursery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPoolClosed is returned by [Pool.Go] after [Pool.Close]; a nursery
// reports it as the failure of each task that the closed pool can no
// longer run.
var ErrPoolClosed = errors.New("nursery: pool closed")

// A Pool is an [Executor] that runs at most a fixed number of tasks at
// once on long-lived worker goroutines, taken from a bounded queue.
// Workers start lazily as tasks arrive and exit after [IdleTimeout]
// without work, so an idle program holds no pool goroutines.
//
// One Pool may be shared by many nurseries at once — a process-wide pool
// for blocking or CPU-heavy work, like asyncio's run_in_executor. Each
// nursery still owns and waits for only its own tasks, and cancelling one
// never cancels another's.
//
// A task blocked in one of the library's waits (a nested nursery's Wait,
// [Task.Wait], [Start], Go waiting for room, ...) does not count toward
// the pool's size while it waits: the pool lends its worker slot to other
// work and the task takes one back before it goes on, so nurseries nested
// on one shared pool never wait for themselves. Only then may the pool
// have more goroutines than workers.
//
// A panic in a task given directly to [Pool.Go] is not recovered: like a
// panic in any goroutine, it crashes the program. Tasks of a nursery
// recover their own panics before they reach the pool, and the nursery
// reports them.
//
// A Pool is safe for concurrent use. Create it with [NewPool] and release it
// with [Pool.Close].
type Pool struct {
	max       int
	queueSize int
	idleTime  time.Duration

	mu      sync.Mutex
	jobs    ring[job] // waiting work: Pool.Go tasks and nursery runners, in order
	plain   int       // Pool.Go tasks among jobs, at most queueSize
	running int       // slots held: jobs running and not blocked in a library wait
	workers int       // live worker goroutines
	idle    []*worker // workers waiting for a job, the last parked last
	grants  int       // slots given to resumers and not yet taken
	resume  sync.Cond // resumers (blocked tasks whose wait is over) wait here
	waiters int       // Go calls waiting for room in the queue
	room    sync.Cond // they wait here
	exited  sync.Cond // Close waits here for the last worker to exit
	closed  bool

	// Read without the lock: closing by the runners of nurseries, which
	// stop taking their queued tasks; resumers by runners, which give the
	// worker back when a blocked task may go on.
	closing  atomic.Bool
	resumers atomic.Int32

	// Written at every task, so kept apart from the fields above:
	// Running is started - completed. Tasks of nurseries count as tasks
	// here, not the runner jobs that carry them (see Stats).
	_         [64]byte
	started   atomic.Uint64
	completed atomic.Uint64
	waiting   atomic.Int64 // tasks queued: in jobs, or in nurseries' queues
	_         [64]byte
}

// job is one piece of work for a worker: a task from Pool.Go, or a runner
// of a nursery, which runs that nursery's queued tasks.
type job struct {
	f   func()
	lim poolRunner
}

// worker is a worker goroutine's state.
type worker struct {
	wake chan struct{} // the job is set; nil job: exit
	job  job
	c    carrier
}

// A PoolOption configures a [Pool].
type PoolOption interface {
	applyPool(*poolConfig)
}

type poolConfig struct {
	queue int
	idle  time.Duration
}

type poolOptionFunc func(*poolConfig)

func (f poolOptionFunc) applyPool(c *poolConfig) { f(c) }

// DefaultIdleTimeout is how long a pool worker waits for a task before it
// exits, unless [IdleTimeout] says otherwise.
const DefaultIdleTimeout = time.Second

// QueueSize sets how many tasks may wait for a worker (default: the number
// of workers). When the queue is full, [Pool.Go] blocks until there is room
// or its context ends. QueueSize panics if n < 0; 0 means tasks are handed
// straight to a free worker.
func QueueSize(n int) PoolOption {
	if n < 0 {
		panic("nursery: QueueSize needs a size of at least 0")
	}
	return poolOptionFunc(func(c *poolConfig) { c.queue = n })
}

// IdleTimeout sets how long a worker waits for a task before it exits
// (default [DefaultIdleTimeout]). It panics if d <= 0.
func IdleTimeout(d time.Duration) PoolOption {
	if d <= 0 {
		panic("nursery: IdleTimeout needs a positive duration")
	}
	return poolOptionFunc(func(c *poolConfig) { c.idle = d })
}

// NewPool returns a pool that runs at most workers tasks at once. It
// panics if workers < 1.
func NewPool(workers int, opts ...PoolOption) *Pool {
	if workers < 1 {
		panic("nursery: NewPool needs at least 1 worker")
	}
	workers = min(workers, 1<<30)
	cfg := poolConfig{queue: workers, idle: DefaultIdleTimeout}
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil PoolOption")
		}
		o.applyPool(&cfg)
	}
	p := &Pool{max: workers, queueSize: min(cfg.queue, 1<<30), idleTime: cfg.idle}
	p.resume.L, p.room.L, p.exited.L = &p.mu, &p.mu, &p.mu
	return p
}

// Go arranges for task to run exactly once on a worker. If ctx is already
// done it returns context.Cause(ctx) without running task; after Close it
// returns [ErrPoolClosed]. When every worker is busy and the queue is full,
// Go blocks until there is room, ctx ends, or the pool is closed.
func (p *Pool) Go(ctx context.Context, task func()) error {
	if ctx == nil {
		panic("nursery: nil Context")
	}
	if task == nil {
		panic("nursery: nil function")
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPoolClosed
	}
	if p.running >= p.max && p.plain >= p.queueSize {
		p.mu.Unlock()
		return p.goBlocked(ctx, task)
	}
	p.enqueue(job{f: task})
	p.mu.Unlock()
	return nil
}

// goBlocked is Go once the queue is full: one of the library's waits.
func (p *Pool) goBlocked(ctx context.Context, task func()) error {
	c := block()
	defer c.unblock()
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.room.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.running >= p.max && p.plain >= p.queueSize {
		switch {
		case p.closed:
			return ErrPoolClosed
		case ctx.Err() != nil:
			return context.Cause(ctx)
		}
		p.waiters++
		p.room.Wait()
		p.waiters--
	}
	if p.closed {
		return ErrPoolClosed
	}
	p.enqueue(job{f: task})
	return nil
}

// enqueue hands j to a worker if a slot is free, or queues it; p.mu is
// held. A free slot means that nothing waits: dispatch hands every free
// slot out at once.
func (p *Pool) enqueue(j job) {
	if p.running < p.max {
		p.running++
		p.handOff(j)
		return
	}
	p.jobs.push(j)
	if j.f != nil {
		p.plain++
		p.waiting.Add(1)
	}
}

// want queues a runner of l; it never blocks, and reports false once the
// pool is closed. A nursery bounds its own runners.
func (p *Pool) want(l poolRunner) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.enqueue(job{lim: l})
	return true
}

func (p *Pool) bound() int            { return p.max + p.queueSize }
func (p *Pool) countQueued(delta int) { p.waiting.Add(int64(delta)) }
func (p *Pool) taskStarted()          { p.started.Add(1) }
func (p *Pool) taskCompleted()        { p.completed.Add(1) }
func (p *Pool) isClosing() bool       { return p.closing.Load() }
func (p *Pool) hasResumers() bool     { return p.resumers.Load() > 0 }

// handOff gives j, whose slot is counted, to an idle worker or a new one;
// p.mu is held.
func (p *Pool) handOff(j job) {
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		w.job = j
		w.wake <- struct{}{}
		return
	}
	p.workers++
	go p.work(j)
}

// popJob takes the oldest waiting job; p.mu is held.
func (p *Pool) popJob() job {
	j := p.jobs.pop()
	if j.f != nil {
		p.plain--
		p.waiting.Add(-1)
		if p.waiters > 0 {
			p.room.Signal()
		}
	}
	return j
}

// dispatch hands free slots out: first to resumers, then to waiting jobs;
// p.mu is held.
func (p *Pool) dispatch() {
	for p.running < p.max && p.resumers.Load() > 0 {
		p.resumers.Add(-1)
		p.running++
		p.grants++
		p.resume.Signal()
	}
	for p.running < p.max && p.jobs.n > 0 {
		p.running++
		p.handOff(p.popJob())
	}
	if p.waiters > 0 && p.running < p.max {
		p.room.Signal() // a free slot is room for Go
	}
}

// release lends the slot of a task entering one of the library's waits to
// other work (see blocking.go).
func (p *Pool) release() {
	p.mu.Lock()
	p.running--
	p.dispatch()
	p.mu.Unlock()
}

// reacquire takes a slot again for a task whose wait is over, before any
// waiting job.
func (p *Pool) reacquire() {
	p.mu.Lock()
	if p.running < p.max {
		p.running++
	} else {
		p.resumers.Add(1)
		for p.grants == 0 {
			p.resume.Wait()
		}
		p.grants--
	}
	p.mu.Unlock()
}

// work is a worker goroutine; it starts with j, whose slot is counted.
func (p *Pool) work(j job) {
	w := &worker{wake: make(chan struct{}, 1), job: j}
	w.c.pool = p
	carriers.enter(&w.c)
	normal := false
	defer func() {
		carriers.leave(&w.c)
		if normal {
			return
		}
		// A task called runtime.Goexit (a panic crashes the program
		// anyway); a nursery's runner has repaired its own count.
		if w.job.f != nil {
			p.completed.Add(1)
		}
		p.mu.Lock()
		p.running--
		p.exit()
		p.dispatch()
		p.mu.Unlock()
	}()
	var timer *time.Timer
	for {
		p.runJob(w)
		p.mu.Lock()
		if p.resumers.Load() == 0 && p.jobs.n > 0 {
			w.job = p.popJob() // keep the slot for the next job
			p.mu.Unlock()
			continue
		}
		p.running--
		p.dispatch()
		if p.closed || len(p.idle) >= p.max {
			p.exit()
			p.mu.Unlock()
			normal = true
			return
		}
		w.job = job{}
		p.idle = append(p.idle, w)
		p.mu.Unlock()

		if timer == nil {
			timer = time.NewTimer(p.idleTime)
		} else {
			timer.Reset(p.idleTime)
		}
		select {
		case <-w.wake:
			timer.Stop()
		case <-timer.C:
			p.mu.Lock()
			if i := slices.Index(p.idle, w); i >= 0 {
				p.idle = slices.Delete(p.idle, i, i+1)
				p.exit()
				p.mu.Unlock()
				normal = true
				return
			}
			p.mu.Unlock()
			<-w.wake // handed a job just as the timer fired
		}
		if w.job.f == nil && w.job.lim == nil { // woken by Close
			p.mu.Lock()
			p.exit()
			p.mu.Unlock()
			normal = true
			return
		}
	}
}

// exit uncounts a worker that is about to exit; p.mu is held.
func (p *Pool) exit() {
	p.workers--
	if p.workers == 0 {
		p.exited.Broadcast()
	}
}

// runJob runs the worker's current job: a task from Pool.Go, or a runner
// of a nursery.
func (p *Pool) runJob(w *worker) {
	if w.job.lim != nil {
		w.job.lim.runOnPool(&w.c) // counts the tasks it runs itself
		return
	}
	p.started.Add(1)
	w.job.f()
	p.completed.Add(1)
}

// Close stops accepting tasks, lets the workers finish every task already
// accepted — running, or queued by Pool.Go — and returns when every worker
// goroutine has exited. Tasks that nurseries have queued for the pool but
// that no worker has taken yet are not run: each fails with
// [ErrPoolClosed] in its nursery, as do the nurseries' later tasks. Close
// is idempotent and returns nil. It panics if called from one of the
// pool's own tasks, which it would otherwise wait for forever.
func (p *Pool) Close() error {
	for c := carriers.current(); c != nil; c = c.prev {
		if c.pool == p {
			panic("nursery: Pool.Close called from one of the pool's tasks")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.closing.Store(true)
		p.room.Broadcast()
		for _, w := range p.idle {
			w.job = job{}
			w.wake <- struct{}{}
		}
		p.idle = nil
	}
	for p.workers > 0 {
		p.exited.Wait()
	}
	return nil
}

// PoolStats is a snapshot of a [Pool]'s counters.
type PoolStats struct {
	Workers   int    // live worker goroutines
	Running   int    // tasks running now
	Queued    int    // tasks waiting for a worker
	Completed uint64 // tasks finished since the pool was created
}

// Stats returns the pool's counters. They are read one after another, so
// the snapshot is cheap but not taken at a single instant.
//
// Tasks of nurseries that use the pool count like tasks given to [Pool.Go]:
// Queued includes those waiting in the nurseries' own queues (a nursery
// keeps its waiting tasks itself, so that cancelling it drops them at
// once), and Running and Completed count each task, not the jobs by which
// a nursery runs several of its tasks in a row on one worker.
func (p *Pool) Stats() PoolStats {
	// completed first: started, read later, is at least as large.
	completed := p.completed.Load()
	started := p.started.Load()
	p.mu.Lock()
	workers := p.workers
	p.mu.Unlock()
	return PoolStats{
		Workers:   workers,
		Running:   int(started - completed),
		Queued:    int(max(p.waiting.Load(), 0)),
		Completed: completed,
	}
}
