package nursery

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery/internal/goid"
)

// ErrPoolClosed is returned by [Pool.Go] after [Pool.Close]; a nursery
// reports it as the failure of the task that could not be submitted.
var ErrPoolClosed = errors.New("nursery: pool closed")

// A Pool is an [Executor] that runs tasks on at most a fixed number of
// long-lived worker goroutines, taken from a bounded queue. Workers start
// lazily as tasks arrive and exit after [IdleTimeout] without work, so an
// idle program holds no pool goroutines.
//
// One Pool may be shared by many nurseries at once — a process-wide pool
// for blocking or CPU-heavy work, like asyncio's run_in_executor. Each
// nursery still owns and waits for only its own tasks, and cancelling one
// never cancels another's.
//
// A panic in a task given directly to [Pool.Go] is not recovered: like a
// panic in any goroutine, it crashes the program. Tasks of a nursery
// recover their own panics before they reach the pool, and the nursery
// reports them.
//
// A Pool is safe for concurrent use. Create it with [NewPool] and release it
// with [Pool.Close].
type Pool struct {
	max  int32
	idle time.Duration

	tasks   chan job
	workers atomic.Int32

	// Close sets closed, closes closing to release blocked Go calls, waits
	// until no Go is in flight (so no task can enter the queue after), then
	// closes tasks: workers drain the queue and exit.
	closed    atomic.Bool
	inflight  atomic.Int64
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	// Written by workers at every task, so kept apart from the fields Go
	// writes: Running is started - completed. Tasks of nurseries count as
	// tasks here, not the runner jobs that carry them (see Stats).
	_         [64]byte
	started   atomic.Uint64
	completed atomic.Uint64
	waiting   atomic.Int64 // tasks queued: in tasks, or in nurseries' queues
	_         [64]byte

	idsMu sync.Mutex
	ids   map[uint64]struct{} // goroutine identities (internal/goid) of live workers
}

// job is one task in a Pool's queue. Tasks from Pool.Go are plain
// functions; a nursery's runners take the worker's goroutine ID, which the
// worker computed once, so that they need not pay for it at every start.
type job struct {
	f      func()
	runner func(worker uint64)
}

// A PoolOption configures a [Pool].
type PoolOption interface {
	applyPool(*poolConfig)
}

type poolConfig struct {
	queue    int
	queueSet bool
	idle     time.Duration
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
	return poolOptionFunc(func(c *poolConfig) { c.queue, c.queueSet = n, true })
}

// IdleTimeout sets how long a worker waits for a task before it exits
// (default [DefaultIdleTimeout]). It panics if d <= 0.
func IdleTimeout(d time.Duration) PoolOption {
	if d <= 0 {
		panic("nursery: IdleTimeout needs a positive duration")
	}
	return poolOptionFunc(func(c *poolConfig) { c.idle = d })
}

// NewPool returns a pool of at most workers goroutines. It panics if
// workers < 1.
func NewPool(workers int, opts ...PoolOption) *Pool {
	if workers < 1 {
		panic("nursery: NewPool needs at least 1 worker")
	}
	cfg := poolConfig{queue: workers, idle: DefaultIdleTimeout}
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil PoolOption")
		}
		o.applyPool(&cfg)
	}
	return &Pool{
		max:     int32(min(workers, 1<<30)),
		idle:    cfg.idle,
		tasks:   make(chan job, cfg.queue),
		closing: make(chan struct{}),
		ids:     make(map[uint64]struct{}),
	}
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
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	if p.closed.Load() {
		return ErrPoolClosed
	}
	j := job{f: task}
	if p.spawn(j) {
		return nil
	}
	// Counted before it can be taken, so that Queued never goes negative.
	p.waiting.Add(1)
	select {
	case p.tasks <- j:
	default:
		select {
		case p.tasks <- j:
		case <-ctx.Done():
			p.waiting.Add(-1)
			return context.Cause(ctx)
		case <-p.closing:
			p.waiting.Add(-1)
			return ErrPoolClosed
		}
	}
	p.ensureWorker()
	return nil
}

// tryGo submits a runner if a worker or queue slot is free, without
// blocking.
func (p *Pool) tryGo(runner func(worker uint64)) bool {
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	if p.closed.Load() {
		return false
	}
	j := job{runner: runner}
	if p.spawn(j) {
		return true
	}
	select {
	case p.tasks <- j:
		p.ensureWorker()
		return true
	default:
		return false
	}
}

// ensureWorker starts a worker if a task was queued just as the last worker
// idled out: that worker decrements the count before its last look at the
// queue, so one of the two always sees the other.
func (p *Pool) ensureWorker() {
	if p.workers.Load() == 0 {
		p.spawn(job{})
	}
}

// spawn starts a worker, running first before anything queued, if the pool
// has fewer than its maximum.
func (p *Pool) spawn(first job) bool {
	for {
		w := p.workers.Load()
		if w >= p.max {
			return false
		}
		if p.workers.CompareAndSwap(w, w+1) {
			p.wg.Add(1)
			go p.work(first)
			return true
		}
	}
}

func (p *Pool) work(task job) {
	id := goid.Get()
	p.idsMu.Lock()
	p.ids[id] = struct{}{}
	p.idsMu.Unlock()
	counted := true
	defer func() {
		p.idsMu.Lock()
		delete(p.ids, id)
		p.idsMu.Unlock()
		if counted {
			// The task called runtime.Goexit (a panic crashes the
			// program anyway): replace this worker if work is waiting.
			// (A runner counts its own tasks.)
			if task.runner == nil {
				p.completed.Add(1)
			}
			p.workers.Add(-1)
			if len(p.tasks) > 0 {
				p.spawn(job{})
			}
		}
		p.wg.Done()
	}()
	var timer *time.Timer
	queued := false // task came from the queue, not straight from spawn
	for {
		if task.f != nil || task.runner != nil {
			if queued && task.f != nil {
				p.waiting.Add(-1)
			}
			p.run(task, id)
		}
		queued = true
		var ok bool
		select {
		case task, ok = <-p.tasks:
			if ok {
				continue
			}
		default:
		}
		if timer == nil {
			timer = time.NewTimer(p.idle)
		} else {
			timer.Reset(p.idle)
		}
		select {
		case task, ok = <-p.tasks:
			timer.Stop()
			if !ok {
				p.workers.Add(-1)
				counted = false
				return
			}
		case <-timer.C:
			p.workers.Add(-1)
			if len(p.tasks) > 0 && p.reclaim() {
				task = job{}
				continue
			}
			counted = false
			return
		}
	}
}

func (p *Pool) run(j job, worker uint64) {
	if j.runner != nil {
		j.runner(worker) // counts the tasks it runs itself
		return
	}
	p.started.Add(1)
	j.f()
	p.completed.Add(1)
}

// reclaim re-counts an idling-out worker that found work after all.
func (p *Pool) reclaim() bool {
	for {
		w := p.workers.Load()
		if w >= p.max {
			return false
		}
		if p.workers.CompareAndSwap(w, w+1) {
			return true
		}
	}
}

func (p *Pool) isWorker(id uint64) bool {
	p.idsMu.Lock()
	_, ok := p.ids[id]
	p.idsMu.Unlock()
	return ok
}

// Close stops accepting tasks, lets the workers finish every task already
// accepted (running or queued), and returns when every worker goroutine has
// exited. Close is idempotent and returns nil. It panics if called from one
// of the pool's own tasks, which it would otherwise wait for forever.
func (p *Pool) Close() error {
	if p.isWorker(goid.Get()) {
		panic("nursery: Pool.Close called from one of the pool's tasks")
	}
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.closing)
		for p.inflight.Load() > 0 {
			runtime.Gosched()
		}
		close(p.tasks)
	})
	p.wg.Wait()
	return nil
}

// PoolStats is a snapshot of a [Pool]'s counters.
type PoolStats struct {
	Workers   int    // live worker goroutines
	Running   int    // tasks running now
	Queued    int    // tasks waiting for a worker
	Completed uint64 // tasks finished since the pool was created
}

// Stats returns the pool's counters. Each is read atomically, without
// locks, so the snapshot is cheap but not taken at a single instant.
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
	return PoolStats{
		Workers:   int(p.workers.Load()),
		Running:   int(started - completed),
		Queued:    int(max(p.waiting.Load(), 0)),
		Completed: completed,
	}
}
