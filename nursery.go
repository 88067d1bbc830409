package nursery

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/structured-go/nursery/internal/debughook"
	"github.com/structured-go/nursery/internal/live"
)

// A Nursery owns a set of tasks and waits for all of them in one place.
//
// Every task started in a nursery — with [Nursery.Go], [Spawn] or [Start],
// from outside or from inside its other tasks — is owned by it: [Nursery.Wait]
// returns only after every one of them has returned, so no task outlives the
// scope that started it. The first failure cancels the nursery's context
// with that failure as its cause, and Wait reports what went wrong, with the
// names of the nursery and task, or re-panics a task's panic in the waiting
// goroutine.
//
// Create a Nursery with [New] (and call Wait) or use [Run]. A Nursery is
// safe for concurrent use. It must not be copied after first use, and it
// cannot be reused after Wait has returned.
type Nursery struct {
	_ noCopy

	ctx    context.Context
	cancel context.CancelCauseFunc
	parent context.Context
	cfg    config

	// tasks counts tasks that were accepted and have not finished:
	// running, queued, or blocked; it closes the nursery in Wait.
	tasks taskCount
	// sched queues tasks when the nursery has a limit or an executor; nil
	// means every task gets a new goroutine at once.
	sched *limiter
	// dbg is debug mode's state (debug.go), the one hook through which the
	// core calls debug mode; nil outside it.
	dbg debughook.Nursery
	// node is the nursery's entry in the tree of live nurseries (tree.go),
	// nil unless something that shows the tree is linked in.
	node *live.Node

	mu            sync.Mutex
	failed        *failures // nil until something fails: most nurseries never need it
	selfCancelled bool      // the nursery cancelled itself (Cancel or a failure) before anything else did
	interrupted   bool      // some task returned or skipped because of the parent's cancellation

	once   sync.Once
	result *failures // set by finish; nil means Wait returns nil
}

// failures are what went wrong in a nursery, and Wait's result. They live
// apart from the Nursery so that the common scope, where nothing fails,
// stays small.
type failures struct {
	errs   []error       // failures, in the order they happened, named
	raw    []error       // the same failures (and panics) as the tasks returned them
	panics []*PanicError // panics, in the order they happened

	err    error       // what Wait returns
	repnic *PanicError // what Wait re-panics with, in default mode
}

// failuresLocked returns n.failed, made on first use; n.mu is held.
func (n *Nursery) failuresLocked() *failures {
	if n.failed == nil {
		n.failed = new(failures)
	}
	return n.failed
}

// item is one task waiting to run: either a plain function from Go or a
// runner (Spawn and Start).
type item struct {
	fn   func(context.Context) error
	task runner
	tc   *taskConfig
	pool workerPool // the pool counting it as started, once a worker took it
}

// runner is the part of a typed task that the untyped nursery drives.
type runner interface {
	// claim moves the task from queued to running and reports whether the
	// caller won it; exactly one caller does.
	claim() bool
	// context returns the context the task runs with.
	context() context.Context
	// call runs the task's function and keeps its value.
	call(ctx context.Context) error
	// own reports whether the outcome belongs to the task alone and must
	// not count toward the nursery (a Start before ready).
	own(err error, panicked *PanicError) bool
	// finish publishes the task's outcome to its waiters.
	finish(err error)
	// cancelledAlone reports whether the task was cancelled by Task.Cancel
	// before anything else cancelled it.
	cancelledAlone() bool
}

// noCopy lets go vet's copylocks check catch copies of a Nursery.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// New returns a nursery whose context is derived from ctx. The caller must
// call [Nursery.Wait]; until then the nursery and its tasks stay alive.
// New panics if ctx is nil.
func New(ctx context.Context, opts ...Option) *Nursery {
	if ctx == nil {
		panic("nursery: nil Context")
	}
	n := &Nursery{parent: ctx}
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil Option")
		}
		o.apply(&n.cfg)
	}
	n.ctx, n.cancel = context.WithCancelCause(n.enter(ctx))
	if n.cfg.limit > 0 || n.cfg.executor != nil {
		n.sched = newLimiter(n, n.cfg.limit, n.cfg.executor)
	}
	n.track()
	return n
}

// Run creates a nursery, calls body with it, and waits for every task the
// body started. Run returns what [Nursery.Wait] returns, and body's error
// counts as a task's would: if it is a failure, the nursery is cancelled
// with it as the cause (even with [CollectErrors]), Run still waits, and
// the error is reported among the tasks' failures, in the order it
// happened, named by the nursery's name. If it only passes on the
// nursery's cancellation (ctx.Err() or the cause, see Wait), it is no
// failure, and a cancelled parent is reported once; if it is an error a
// task failed with (say, from [Task.Wait]), it is not reported twice.
//
// If body panics, the nursery is cancelled and waited for, then the panic
// continues in Run's caller; it wins over any task panic. If body calls
// runtime.Goexit (t.FailNow in a test), the nursery is cancelled and waited
// for too, and the Goexit continues — unless a task panicked and Wait
// re-panics: then Run panics with that *[PanicError] instead, since Goexit
// would discard it and a panic must never be lost. (With [PanicsAsErrors]
// the panic is an error Run would return, which Goexit discards like any
// other result.)
func Run(ctx context.Context, body func(n *Nursery) error, opts ...Option) error {
	if body == nil {
		panic("nursery: nil function")
	}
	n := New(ctx, opts...)
	finished := false
	defer func() {
		if finished {
			return
		}
		// body panicked or called runtime.Goexit: tear the scope down.
		n.Cancel(errBodyPanicked)
		var taskPanic any
		func() {
			defer func() { taskPanic = recover() }()
			_ = n.Wait()
		}()
		if taskPanic == nil {
			return // the body's panic or Goexit continues
		}
		// A panic must never be lost. The body's panic continues and wins
		// over the task's; but a Goexit would discard the task's panic
		// without a trace, so the louder of the two goes on instead.
		if r := recover(); r != nil {
			panic(r)
		}
		panic(taskPanic)
	}()
	bodyErr := body(n)
	finished = true
	if bodyErr != nil {
		n.settleBody(bodyErr, n.ctx.Err() != nil)
	}
	return n.Wait()
}

// settleBody accounts for the error Run's body returned, as settle does for
// a task's; done says whether the nursery's context was done by then.
func (n *Nursery) settleBody(err error, done bool) {
	if done && isCancellation(err, n.ctx) {
		n.interruptedBy(nil)
		return
	}
	if done {
		err = withoutCancellation(err, n.ctx)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.failuresLocked()
	if !f.has(err) {
		f.errs = append(f.errs, n.nurseryError(err))
		f.raw = append(f.raw, err)
	}
	n.cancelLocked(err)
}

// Go starts fn as a task of the nursery. fn receives the nursery's context
// (or the task's own, with [Timeout]) and should return when it is done.
//
// If the nursery's context is already done, fn does not run. With
// [WithLimit] or on a [Pool], Go waits for room in the nursery's queue
// when it is full, or until the context ends; a task waiting there gives
// its slot back meanwhile (see [WithLimit]).
//
// Go panics if fn is nil or if Wait has returned. Accepting a task and the
// end of Wait are one atomic decision: a Go racing the end of Wait either
// starts a task that Wait waits for, or panics. As with errgroup, the
// first Go from outside the nursery's tasks must happen before Wait is
// called; tasks may call Go while Wait is blocked.
func (n *Nursery) Go(fn func(ctx context.Context) error, opts ...TaskOption) {
	if fn == nil {
		panic("nursery: nil function")
	}
	if len(opts) == 0 && n.sched == nil && (!debugBuild || n.dbg == nil) && n.ctx.Err() == nil {
		// The common case gets its own path: one allocation (the
		// goroutine's closure), as small as sync.WaitGroup.Go's.
		n.accept()
		go n.runFunc(fn)
		return
	}
	n.submit(item{fn: fn, tc: n.taskConfig(opts)})
}

// asPanicError turns a value recovered from the task configured by tc
// into a *PanicError. A value that already is one is kept, so that the
// original stack stays the only one and the message does not repeat
// itself; it is never changed, as another nursery (or a Task's waiter)
// may hold it too. One re-raised as it came from elsewhere — a subprocess
// call's remote panic — is reported as a copy that names the task; one
// that a nested nursery's Wait re-panicked already names where it happened.
func asPanicError(r any, tc *taskConfig) *PanicError {
	task, origin := tc.taskName(), tc.debugInfo()
	pe, ok := r.(*PanicError)
	if !ok {
		return &PanicError{Value: r, Stack: debug.Stack(), Task: task, origin: origin}
	}
	if pe.raised || (pe.Task != "" || task == "") && (pe.origin != nil || origin == nil) {
		return pe
	}
	c := *pe
	if c.Task == "" {
		c.Task = task
	}
	if c.origin == nil {
		c.origin = origin
	}
	return &c
}

// runFunc runs a plain task started by Go without options.
func (n *Nursery) runFunc(fn func(context.Context) error) {
	returned, done := false, false
	var err error
	defer func() {
		if returned {
			if err == nil {
				n.finished()
				return
			}
			n.settle(item{}, n.ctx, err, nil, false, done)
			return
		}
		// recover must be called by the deferred function itself.
		var pe *PanicError
		if r := recover(); r != nil {
			pe = asPanicError(r, nil)
		}
		n.settle(item{}, n.ctx, nil, pe, pe == nil, false)
	}()
	err = fn(n.ctx)
	done = err != nil && n.ctx.Err() != nil
	returned = true
}

// accept counts a new task, or panics if Wait has returned — or is about
// to: accepting a task and the end of Wait are one atomic decision.
func (n *Nursery) accept() {
	if !n.tasks.add() {
		panic("nursery: task started after Wait returned")
	}
	if c := n.cfg.counters; c != nil {
		c.started.Add(1)
	}
}

// finished uncounts a task that has finished.
func (n *Nursery) finished() {
	if c := n.cfg.counters; c != nil {
		c.finished.Add(1)
	}
	n.tasks.done()
}

// finishedItem is finished for a task that ran or was dropped from a
// queue; a pool that counted it as started counts it as completed first,
// so that the pool's Stats agree with the nursery's Wait.
func (n *Nursery) finishedItem(it item) {
	if it.pool != nil {
		it.pool.taskCompleted()
	}
	n.finished()
}

// countFailure counts a failed task in the nursery's Counters.
func (n *Nursery) countFailure() {
	if c := n.cfg.counters; c != nil {
		c.failed.Add(1)
	}
}

// submit accepts a task and hands it to the scheduler.
func (n *Nursery) submit(it item) {
	n.accept()
	if n.ctx.Err() != nil {
		n.drop(it, nil)
		return
	}
	if n.sched != nil {
		n.sched.submit(it)
		return
	}
	go n.exec(it, false)
}

// Context returns the nursery's context, which every task receives. It is
// cancelled by the first failure (with that failure as its cause), by
// [Nursery.Cancel], by the parent context, and at the latest when Wait
// returns.
func (n *Nursery) Context() context.Context { return n.ctx }

// Cancel cancels the nursery's context with cause (context.Canceled if
// cause is nil). Tasks that then return the cancellation are not failures:
// cancelling is not failing, so Wait returns nil unless some task failed for
// another reason. Tasks not started yet never start. Cancel does not wait.
func (n *Nursery) Cancel(cause error) {
	n.cancelSelf(cause)
}

func (n *Nursery) cancelSelf(cause error) {
	n.mu.Lock()
	if n.ctx.Err() == nil {
		n.selfCancelled = true
		n.cancel(cause)
	}
	n.mu.Unlock()
}

// Wait blocks until every task of the nursery has returned, including tasks
// started by other tasks while Wait is blocked, then cancels the nursery's
// context and reports:
//
//   - nil if no task failed;
//   - the failures, joined in the order they happened, each a *[TaskError]
//     that names its nursery and task ("outer: worker-3: connection
//     refused") when there is a name or index to give; errors.Is and
//     errors.As reach every one of them, and the joined error's
//     Unwrap() []error lists them;
//   - not a task error that only passes the cancellation on. That is an
//     error returned when the task's context was already done, every leaf
//     of which (each error it joins, followed through wrapping) is
//     context.Canceled, context.DeadlineExceeded if a deadline ended the
//     context, or the context's cause itself — the same value (==), as it
//     is or wrapped (net/http returns a request's cause inside a
//     *url.Error), not another error that errors.Is matches. A nested
//     nursery's error with one real failure in it is a failure. A task
//     that fails with the cause's value before the context is done failed
//     on its own and is reported. A sentinel error is a single value, so a
//     task that returns the same sentinel as the failure that cancelled the
//     nursery, after that cancellation, is taken as passing it on;
//   - an error matching context.Cause of the parent context, once, if the
//     parent's cancellation interrupted a task (it returned the
//     cancellation or never started);
//   - in default mode, a re-panic with the first task's *[PanicError]; its
//     message counts the further failures. With [PanicsAsErrors] the panics
//     are returned among the errors instead.
//
// Wait may be called many times and from many goroutines; every call
// returns the same result (or re-panics the same value). The return of
// every task synchronizes before the return of Wait.
func (n *Nursery) Wait() error {
	n.blocked()
	var c *carrier
	if !n.tasks.idle() {
		c = block()
	}
	n.tasks.wait()
	n.once.Do(n.finish)
	c.unblock()
	if r := n.result; r != nil {
		if r.repnic != nil {
			panic(r.repnic)
		}
		return r.err
	}
	return nil
}

// finish computes Wait's result once every task has returned.
func (n *Nursery) finish() {
	if n.sched != nil {
		n.sched.close()
	}
	n.mu.Lock()
	if n.interrupted && !n.selfCancelled {
		f := n.failuresLocked()
		f.errs = append(f.errs, n.nurseryError(context.Cause(n.parent)))
	}
	f := n.failed
	n.mu.Unlock()

	n.untrack()
	n.cancel(nil)
	if f == nil {
		return
	}
	if len(f.panics) > 0 && !n.cfg.panicErr {
		// A copy: the task's waiters, and the nursery nested in the task
		// that raised it, hold the original.
		p := *f.panics[0]
		p.more += len(f.panics) - 1 + len(f.errs)
		if p.nursery == "" && !p.raised {
			p.nursery = n.cfg.name
		}
		p.raised = true
		f.repnic = &p
	} else {
		f.err = join(f.errs)
	}
	n.result = f
}

// exec claims and runs one task on the calling goroutine. queued says
// whether the task waited in a queue, from which a cancelled nursery drops
// it; a task handed straight to its own goroutine was already started.
func (n *Nursery) exec(it item, queued bool) {
	if it.task == nil && it.tc == nil && it.pool == nil {
		// A plain Go without options, the common case: the shorter path.
		if queued && n.ctx.Err() != nil {
			n.dropClaimed(it, nil)
			return
		}
		n.runFunc(it.fn)
		return
	}
	if it.task != nil && !it.task.claim() {
		// Task.Cancel claimed it and finished it already.
		if it.pool != nil {
			it.pool.taskCompleted()
		}
		return
	}
	n.run(it, queued)
}

// run runs a claimed task on the calling goroutine, recovering its panic
// or runtime.Goexit, and settles its outcome.
func (n *Nursery) run(it item, queued bool) {
	ctx := n.ctx
	if it.task != nil {
		ctx = it.task.context()
	}
	if ctx.Err() != nil && (queued || it.task != nil && it.task.cancelledAlone()) {
		n.dropClaimed(it, nil)
		return
	}
	var (
		err      error
		returned bool
		done     bool // ctx was done when the task returned an error
	)
	defer func() {
		var pe *PanicError
		goexit := false
		if !returned {
			if r := recover(); r != nil {
				pe = asPanicError(r, it.tc)
			} else {
				goexit = true
			}
		}
		n.settle(it, ctx, err, pe, goexit, done)
	}()
	if it.tc != nil && it.tc.hasTimeout {
		var timeout error
		_, timeout, err = within(ctx, it.tc.timeout, it.call)
		if timeout != nil {
			err = timeout // a failure of its own, whatever ctx says
		}
	} else {
		err = it.call(ctx)
	}
	done = err != nil && ctx.Err() != nil
	returned = true
}

func (it item) call(ctx context.Context) error {
	if t := it.tc.debugInfo(); t != nil {
		var alone *atomic.Bool
		if c, ok := ctx.(*taskContext); ok {
			alone = &c.alone
		}
		return t.Run(ctx, alone, it.callPlain)
	}
	return it.callPlain(ctx)
}

func (it item) callPlain(ctx context.Context) error {
	if it.fn != nil {
		return it.fn(ctx)
	}
	return it.task.call(ctx)
}

// settle accounts for a task's outcome and marks it finished. done says
// whether ctx was already done when the task returned err: only then can
// err be the cancellation rather than a failure (see isCancellation).
func (n *Nursery) settle(it item, ctx context.Context, err error, pe *PanicError, goexit, done bool) {
	defer n.finishedItem(it)
	t := it.task
	if goexit {
		err = errGoexit
	}
	if pe != nil {
		err = pe
	}
	if t != nil && t.own(err, pe) {
		return
	}
	switch {
	case pe != nil:
		n.countFailure()
		n.mu.Lock()
		f := n.failuresLocked()
		f.panics = append(f.panics, pe)
		f.raw = append(f.raw, pe)
		if n.cfg.panicErr {
			f.errs = append(f.errs, &TaskError{Nursery: n.cfg.name, Task: it.tc.taskName(), Index: -1, Err: pe})
		}
		n.cancelLocked(pe)
		n.mu.Unlock()
	case goexit:
		n.fail(err, it.tc, true)
	case err == nil:
	case done && isCancellation(err, ctx):
		n.interruptedBy(t)
	case done:
		n.fail(withoutCancellation(err, ctx), it.tc, false)
	default:
		n.fail(err, it.tc, false)
	}
	if t != nil {
		t.finish(err)
	}
}

// fail records a task's failure (or hands it to the error handler) and,
// unless the nursery collects or handles errors,
// cancels it with the failure as cause.
func (n *Nursery) fail(err error, tc *taskConfig, always bool) {
	n.countFailure()
	werr := n.taskError(err, tc)
	if h := n.cfg.handler; h != nil && !always {
		h(werr) // kept nowhere: the nursery's memory stays flat
		return
	}
	n.mu.Lock()
	f := n.failuresLocked()
	f.errs = append(f.errs, werr)
	f.raw = append(f.raw, err)
	if always || !n.cfg.collect {
		n.cancelLocked(err)
	}
	n.mu.Unlock()
}

// cancelLocked cancels the nursery with a failure as the cause; n.mu is
// held.
func (n *Nursery) cancelLocked(cause error) {
	if n.ctx.Err() == nil {
		n.selfCancelled = true
		n.cancel(cause)
	}
}

// has reports whether err is one of the failures, as a task returned it
// (errors.Is both ways: the same value, not one that wraps it).
func (f *failures) has(err error) bool {
	for _, r := range f.raw {
		if errors.Is(err, r) && errors.Is(r, err) {
			return true
		}
	}
	return false
}

// interruptedBy notes that a task ended because of a cancellation; only
// the parent's cancellation is reported by Wait.
func (n *Nursery) interruptedBy(t runner) {
	if t != nil && t.cancelledAlone() {
		return
	}
	n.mu.Lock()
	if !n.selfCancelled && n.parent.Err() != nil {
		n.interrupted = true
	}
	n.mu.Unlock()
}

// drop settles a task that will never run: its context ended first, or
// (refused != nil) the executor refused it. It claims a runner first, so a
// task that a waiter already runs is left alone.
func (n *Nursery) drop(it item, refused error) {
	if it.task != nil && !it.task.claim() {
		return
	}
	n.dropClaimed(it, refused)
}

// dropClaimed is drop for a task the caller has claimed.
func (n *Nursery) dropClaimed(it item, refused error) {
	t := it.task
	defer n.finishedItem(it)
	ctx := n.ctx
	if t != nil {
		ctx = t.context()
	}
	if refused != nil && ctx.Err() == nil {
		if t != nil && t.own(refused, nil) {
			return
		}
		n.fail(refused, it.tc, false)
		if t != nil {
			t.finish(refused)
		}
		return
	}
	cause := context.Cause(ctx)
	if t != nil && t.own(cause, nil) {
		return
	}
	n.interruptedBy(t)
	if t != nil {
		t.finish(cause)
	}
}
