package nursery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery/internal/live"
)

// A Task is a task started with [Spawn] that produces a value of type T.
// Its nursery owns it like any other task; the Task is a handle to wait for
// its result or cancel it alone. A Task is safe for concurrent use.
type Task[T any] struct {
	n     *Nursery
	fn    func(context.Context) (T, error)
	tc    *taskConfig
	state atomic.Uint32 // taskQueued, taskRunning or taskDone
	ctx   taskContext

	mu   sync.Mutex
	done chan struct{} // made on first Done; closed when the task finishes

	val T
	err error
}

const (
	taskQueued uint32 = iota
	taskRunning
	taskDone
)

// closedChan is returned by Done for tasks that finished before anyone
// asked for their channel, so that finishing costs no allocation.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Spawn starts fn as a task of n, like [Nursery.Go], and returns a handle
// for its result. The task's error counts toward the nursery's policy
// whether or not anyone waits on the Task. Spawn panics if n or fn is nil
// or if n's Wait has returned.
func Spawn[T any](n *Nursery, fn func(ctx context.Context) (T, error), opts ...TaskOption) *Task[T] {
	if n == nil {
		panic("nursery: nil Nursery")
	}
	if fn == nil {
		panic("nursery: nil function")
	}
	t := &Task[T]{n: n, fn: fn, tc: n.taskConfig(opts)}
	t.ctx.parent = n.ctx
	n.submit(item{task: t, tc: t.tc})
	return t
}

// Wait blocks until the task has finished and returns its value and error:
// what fn returned; the cancellation cause if the task never started; or a
// *[PanicError] if it panicked (its nursery reports the panic too). Wait may
// be called any number of times from any goroutine and always returns the
// same result.
//
// Wait is one of the library's waits: a task blocked in it does not hold
// its [WithLimit] slot or its [Pool] worker meanwhile, so a chain of tasks
// that wait on their children completes even with WithLimit(1). The return
// of the task's function synchronizes before the return of Wait.
func (t *Task[T]) Wait() (T, error) {
	if t.state.Load() != taskDone {
		c := block()
		<-t.Done()
		c.unblock()
	}
	return t.val, t.err
}

// Done returns a channel that is closed when the task has finished.
func (t *Task[T]) Done() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done == nil {
		if t.state.Load() == taskDone {
			return closedChan
		}
		t.done = make(chan struct{})
	}
	return t.done
}

// Cancel cancels the task's context with cause (context.Canceled if nil),
// and only that task's: its nursery and siblings go on. A task cancelled
// this way that returns the cancellation is not a failure of the nursery.
// If the task has not started yet — it waits behind [WithLimit] or on an
// [Executor] — it never starts, and it finishes at once: Wait returns cause
// without waiting for the task's turn.
func (t *Task[T]) Cancel(cause error) {
	t.ctx.cancelAlone(cause)
	if t.claim() {
		// Still queued: it is finished now, without waiting for its turn,
		// and leaves the queue.
		if l := t.n.lim; l != nil {
			l.forget(t)
		}
		t.n.dropClaimed(item{task: t, tc: t.tc}, nil)
	}
}

// Name returns the name given with [Name], or "".
func (t *Task[T]) Name() string { return t.tc.taskName() }

func (t *Task[T]) claim() bool {
	return t.state.CompareAndSwap(taskQueued, taskRunning)
}

func (t *Task[T]) context() context.Context { return &t.ctx }

func (t *Task[T]) call(ctx context.Context) error {
	v, err := t.fn(ctx)
	t.val = v
	return err
}

func (t *Task[T]) ownsOutcome(error, *PanicError) bool { return false }

func (t *Task[T]) cancelledAlone() bool { return t.ctx.alone.Load() }

func (t *Task[T]) finish(err error) {
	t.err = err
	t.ctx.release()
	t.mu.Lock()
	t.state.Store(taskDone)
	if t.done != nil {
		close(t.done)
	}
	t.mu.Unlock()
}

// taskContext is a Spawned task's context: a child of the nursery's context
// that Task.Cancel can cancel alone. It behaves as one made with
// context.WithCancelCause, cancelled when the task returns, but makes that
// context only when the task first looks at Done, Value or its cause, or is
// cancelled — so the many tasks that never do cost no allocation and no
// registration in the parent. Looked at after the task returned, it is
// made there and then, already cancelled, so that what it reports does not
// depend on whether it was looked at before.
type taskContext struct {
	parent      context.Context
	made        atomic.Bool
	released    atomic.Bool // the task has returned
	alone       atomic.Bool // cancelled by Task.Cancel first
	parentEnded bool        // the parent was done when the task returned; written before released

	mu     sync.Mutex
	inner  context.Context
	cancel context.CancelCauseFunc
}

func (c *taskContext) get() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner != nil {
		return c.inner
	}
	if c.released.Load() && !c.parentEnded {
		// Made after the task returned, while the parent still ran: as it
		// would have been then, cancelled by the return and not by
		// whatever ended the parent since, with the parent's values.
		c.inner, c.cancel = context.WithCancelCause(context.WithoutCancel(c.parent))
		c.cancel(context.Canceled)
		c.made.Store(true)
		return c.inner
	}
	c.inner, c.cancel = context.WithCancelCause(c.parent)
	c.made.Store(true)
	// With release's store of released and load of made, one of the two
	// sees the other's store and cancels.
	if c.released.Load() {
		c.cancel(context.Canceled)
	}
	return c.inner
}

func (c *taskContext) cancelAlone(cause error) {
	c.get()
	c.mu.Lock()
	if c.inner.Err() == nil {
		c.alone.Store(true)
		c.cancel(cause)
	}
	c.mu.Unlock()
}

// release cancels the context as the task returns, freeing the inner
// context's registration in the parent.
func (c *taskContext) release() {
	c.parentEnded = c.parent.Err() != nil
	c.released.Store(true)
	if c.made.Load() {
		c.cancel(context.Canceled)
	}
}

func (c *taskContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *taskContext) Done() <-chan struct{}       { return c.get().Done() }
func (c *taskContext) Value(key any) any           { return c.get().Value(key) }

// String describes the context as context.WithCancelCause's would.
func (c *taskContext) String() string { return live.ContextName(c.parent) + ".WithCancel" }

func (c *taskContext) Err() error {
	if !c.made.Load() && !c.released.Load() {
		return c.parent.Err()
	}
	return c.get().Err()
}
