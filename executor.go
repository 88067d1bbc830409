package nursery

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/structured-go/nursery/internal/goid"
)

// An Executor runs a nursery's tasks. The default executor starts a new
// goroutine per task; a [Pool] re-uses a bounded set of worker goroutines
// and may be shared by many nurseries at once.
//
// The nursery's rules hold on any executor: Wait waits for every task,
// panics are recovered inside the task (before they reach the executor) and
// reported by Wait, and a task still queued when its nursery is cancelled
// is dropped without running and counted as cancelled.
type Executor interface {
	// Go arranges for task to run exactly once on some goroutine. It returns an error,
	// and never runs task, when ctx ends before the executor can accept it or the executor is closed.
	Go(ctx context.Context, task func()) error
}

// WithExecutor makes the nursery run its tasks on e instead of starting a
// goroutine per task. The nursery passes its own context to e.Go, and an
// error from e.Go (for example [ErrPoolClosed]) is that task's failure,
// reported by Wait. Tasks launched with [Start] never use e.
//
// A task that calls Go on its own nursery never blocks on a full [Pool]: the
// new task is queued in the nursery and run as soon as a worker is free.
// Executors other than *Pool must not block their own workers in Go, or
// such a task may wait for itself.
func WithExecutor(e Executor) Option {
	if e == nil {
		panic("nursery: nil Executor")
	}
	return optionFunc(func(c *config) { c.executor = e })
}

// execSched submits each task of an unlimited nursery to its executor.
type execSched struct {
	n    *Nursery
	e    Executor
	pool *Pool // e, when it is a *Pool

	// overflow holds tasks that a pool worker submitted while the pool
	// was full: blocking there could wait for itself. Finishing tasks of
	// the nursery and a feeder goroutine drain it.
	mu       sync.Mutex
	overflow []item
	pending  atomic.Int32 // len(overflow), read without the lock
	feeding  bool
}

func newExecSched(n *Nursery, e Executor) *execSched {
	s := &execSched{n: n, e: e}
	s.pool, _ = e.(*Pool)
	return s
}

func (s *execSched) submit(it item) {
	job := func() {
		s.n.exec(it, true)
		if s.pending.Load() > 0 {
			s.drain()
		}
	}
	if s.pool != nil {
		if s.pool.tryGo(job) {
			return
		}
		if s.pool.isWorker(goid.Get()) {
			s.mu.Lock()
			s.overflow = append(s.overflow, it)
			s.pending.Add(1)
			feed := !s.feeding
			s.feeding = true
			s.mu.Unlock()
			if feed {
				s.n.wg.Add(1)
				go s.feed()
			}
			return
		}
	}
	if err := s.e.Go(s.n.ctx, job); err != nil {
		s.n.drop(it, err)
	}
}

// drain runs the overflowed tasks on the calling worker.
func (s *execSched) drain() {
	for {
		s.mu.Lock()
		if len(s.overflow) == 0 {
			s.mu.Unlock()
			return
		}
		it := s.overflow[0]
		s.overflow[0] = item{}
		s.overflow = s.overflow[1:]
		s.pending.Add(-1)
		s.mu.Unlock()
		s.n.exec(it, true)
	}
}

// feed waits, off the pool's workers, for room in the pool and submits one
// job that drains the overflow.
func (s *execSched) feed() {
	defer s.n.wg.Done()
	err := s.e.Go(s.n.ctx, s.drainJob)
	if err == nil {
		return
	}
	s.mu.Lock()
	s.feeding = false
	orphans := s.overflow
	s.overflow = nil
	s.pending.Store(0)
	s.mu.Unlock()
	for _, it := range orphans {
		s.n.drop(it, err)
	}
}

// drainJob is the feeder's job: it drains the overflow and, finding it
// empty, lets the next overflowing task start a new feeder.
func (s *execSched) drainJob() {
	s.drain()
	s.mu.Lock()
	if len(s.overflow) == 0 {
		s.feeding = false
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.drainJob()
}

// mayHelp: with no limit, anyone may run a task still queued in the
// executor; it takes nobody's slot.
func (s *execSched) mayHelp() bool { return true }

func (s *execSched) close() {}
