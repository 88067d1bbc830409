package nursery

import (
	"context"
	"sync"

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

	// ctx is derived from the context given to New, which the nursery
	// does not keep: once ctx is done and the nursery did not cancel it
	// itself, the parent did, and ctx holds the parent's cause.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// cfg is the nursery's settings: the options given to New, and the
	// hooks New decided on (debug mode, the live tree). A nursery made
	// without options, debug mode or tree shares noOptions, which is never
	// written; any other has its own, allocated with it (see New).
	cfg *config

	// tasks counts tasks that were accepted and have not finished:
	// running, queued, or blocked; it closes the nursery in Wait.
	tasks taskCount
	// lim queues tasks when the nursery has a limit or an executor (limit.go);
	// nil means every task gets a new goroutine at once.
	lim scheduler

	mu     sync.Mutex // guards failed and the count's flags (written under it), and tasks' waits
	failed *failures  // nil until something fails: most nurseries never need it; Wait's result once finished

}

// noCopy lets go vet's copylocks check catch copies of a Nursery.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// noOptions is the settings of every nursery made without options, debug
// mode or live tree: the common scope pays for no copy of them.
var noOptions config

// withOptions is a Nursery and its own settings in one allocation.
type withOptions struct {
	n   Nursery
	cfg config
}

// New returns a nursery whose context is derived from ctx. The caller must
// call [Nursery.Wait]; until then the nursery and its tasks stay alive.
// New panics if ctx is nil.
func New(ctx context.Context, opts ...Option) *Nursery {
	if ctx == nil {
		panic("nursery: nil Context")
	}
	var n *Nursery
	if len(opts) == 0 && !observing(ctx) {
		n = &Nursery{cfg: &noOptions}
		n.ctx, n.cancel = context.WithCancelCause(ctx)
		return n
	}
	w := new(withOptions)
	n = &w.n
	n.cfg = &w.cfg
	for _, o := range opts {
		if o == nil {
			panic("nursery: nil Option")
		}
		o.apply(n.cfg)
	}
	n.ctx, n.cancel = context.WithCancelCause(n.enter(ctx))
	if start := n.cfg.sched; start != nil { // WithLimit or WithExecutor
		n.lim = start(n)
	}
	n.track()
	return n
}

// observing reports whether a new nursery without options must enter the
// live tree or debug mode, and so needs settings of its own: something
// that shows the tree is linked in, or the nursery is to be in debug mode
// (tree.go, debug.go).
func observing(parent context.Context) bool {
	if live.On() {
		return true
	}
	dm := debughook.Mode
	if !debugBuild || dm == nil || !debughook.Active.Load() {
		return false
	}
	// Debug mode is in use in this program: a nursery without options is
	// in it only if created inside a nursery that is (or the environment
	// says so). Ask before allocating, so that the others stay small.
	up, _ := live.Scope(parent)
	return dm.Wants(nil, up)
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
// Run's own Wait is the one that reports the body's error: a Wait that
// returns before the body does — the body's own n.Wait(), or one in a
// goroutine the nursery was handed to — cannot include it, and once such a
// Wait has returned the nursery accepts no more tasks. Run then returns the
// body's failure joined with that result.
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
	var late error
	if bodyErr != nil {
		late = n.settleBody(bodyErr, n.ctx.Err() != nil)
	}
	err := n.Wait()
	if late != nil {
		// A Wait returned before the body did — the body's own, or
		// another goroutine's: the body's failure is not in that result,
		// but Run must not lose it.
		if err == nil {
			return late
		}
		return join([]error{err, late})
	}
	return err
}

// settleBody accounts for the error Run's body returned, as settle does for
// a task's; done says whether the nursery's context was done by then. The
// body is not a counted task, so a Wait may have finished the nursery
// already (called by the body itself, or by another goroutine the
// nursery was handed to): then settleBody returns the failure for Run to
// report, since it is in no Wait's result.
func (n *Nursery) settleBody(err error, done bool) (late error) {
	cancelled := done && isCancellation(err, n.ctx)
	if done && !cancelled {
		err = withoutCancellation(err, n.ctx)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tasks.markBody() {
		if cancelled || n.failed != nil && n.failed.has(err) {
			return nil // nothing to report, or reported from a task already
		}
		return n.nurseryError(err)
	}
	if cancelled {
		n.interruptedLocked()
		return nil
	}
	f := n.failuresLocked()
	if !f.has(err) {
		f.errs = append(f.errs, n.nurseryError(err))
		f.raw = append(f.raw, err)
	}
	n.cancelLocked(err)
	return nil
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
	if len(opts) == 0 && n.lim == nil && n.cfg.dbg == nil && n.ctx.Err() == nil {
		// The common case gets its own path: one allocation (the
		// goroutine's closure), as small as sync.WaitGroup.Go's.
		n.accept()
		go n.runFunc(fn)
		return
	}
	n.submit(item{fn: fn, tc: n.taskConfig(opts)})
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
	n.mu.Lock()
	if n.ctx.Err() == nil {
		n.tasks.set(countSelfCancelled)
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
// every task synchronizes before the return of Wait. A task must not call
// its own nursery's Wait: it would wait for itself, and never return (as
// with sync.WaitGroup); to wait for some tasks from another, use
// [Task.Wait] or a nested nursery.
func (n *Nursery) Wait() error {
	n.blocked()
	var c *carrier
	if !n.tasks.idle() {
		c = block()
	}
	if n.tasks.wait(&n.mu) {
		n.finish()
		n.tasks.finished(&n.mu)
	} else {
		n.tasks.waitFinished(&n.mu)
	}
	c.unblock()
	// n.failed no longer changes: it is Wait's result.
	if f := n.failed; f != nil {
		if f.panicWith != nil {
			panic(f.panicWith)
		}
		return f.err
	}
	return nil
}

// finish computes Wait's result once every task has returned; the Wait
// that closed the count calls it, once.
func (n *Nursery) finish() {
	if n.lim != nil {
		n.lim.close()
	}
	// Every task has finished, and the count's atomics ordered what they
	// wrote before this point; from now on nothing writes failed, which is
	// Wait's result. Run's body may not have finished (see settleBody):
	// if it has begun to account for its error, the lock waits for it.
	// The common case, where nothing happened, takes no lock.
	locked := n.tasks.has(countBody)
	if locked {
		n.mu.Lock()
	}
	if n.tasks.has(countInterrupted) {
		if !locked {
			n.mu.Lock()
			locked = true
		}
		if !n.tasks.has(countSelfCancelled) {
			f := n.failuresLocked()
			f.errs = append(f.errs, n.nurseryError(context.Cause(n.ctx)))
		}
	}
	f := n.failed
	if locked {
		n.mu.Unlock()
	}

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
		f.panicWith = &p
	} else {
		f.err = join(f.errs)
	}
}

// Starting, running and finishing tasks.

// taskConfig returns the settings of a task that Go, Spawn or Start — its
// only callers — start; in debug mode they include the task's record,
// which notes the spawn site.
func (n *Nursery) taskConfig(opts []TaskOption) *taskConfig {
	tc := newTaskConfig(opts)
	if d := n.cfg.dbg; debugBuild && d != nil {
		if tc == nil {
			tc = new(taskConfig)
		}
		tc.dbg = d.Task(tc.name)
	}
	return tc
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

// submit accepts a task and hands it to the limiter, or to a goroutine of
// its own.
func (n *Nursery) submit(it item) {
	n.accept()
	if n.ctx.Err() != nil {
		n.drop(it, nil)
		return
	}
	if n.lim != nil {
		n.lim.submit(it)
		return
	}
	go n.exec(it)
}

// runFunc runs a plain task started by Go without options.
func (n *Nursery) runFunc(fn func(context.Context) error) {
	var out outcome
	defer func() {
		if out.how == stillRunning {
			// recover must be called by the deferred function itself.
			out = ended(recover(), nil)
		}
		if out.how == returned && out.err == nil {
			n.finished()
			return
		}
		defer n.finished() // after settle has returned: see runItem
		n.settle(item{}, n.ctx, out)
	}()
	out = returnedFrom(fn(n.ctx), n.ctx)
}

// exec claims and runs one task on the calling goroutine, which the task
// was handed to directly (Start, and Go and Spawn without a limiter).
func (n *Nursery) exec(it item) {
	if it.task == nil {
		n.execClaimed(it, false)
		return
	}
	if it.task.claim() { // else Task.Cancel claimed it and finished it already
		// Straight to runItem: a frame less on the task's small stack,
		// which a deeper call chain would make grow (a copy per task).
		n.runItem(it, false)
	}
}

// execClaimed runs one claimed task on the calling goroutine. queued says
// whether the task waited in a queue, from which a cancelled nursery drops
// it; a task handed straight to its own goroutine was already started.
func (n *Nursery) execClaimed(it item, queued bool) {
	if it.task == nil && it.tc == nil && it.pool == nil {
		// A plain Go without options, the common case: the shorter path.
		if queued && n.ctx.Err() != nil {
			n.dropClaimed(it, nil)
			return
		}
		n.runFunc(it.fn)
		return
	}
	n.runItem(it, queued)
}

// runItem runs a claimed task on the calling goroutine, recovering its
// panic or runtime.Goexit, and settles its outcome.
func (n *Nursery) runItem(it item, queued bool) {
	ctx := n.ctx
	if it.task != nil {
		ctx = it.task.context()
	}
	if ctx.Err() != nil && (queued || it.task != nil && it.task.cancelledAlone()) {
		n.dropClaimed(it, nil)
		return
	}
	var out outcome
	defer func() {
		if out.how == stillRunning {
			out = ended(recover(), it.tc)
		}
		// Deferred here, to run once settle has returned (and even if an
		// error handler panics in it): the last task may wake a blocked
		// Wait, which goes deep into the runtime, and settle's frame
		// still on the task's small stack would make it grow — a copy per
		// nursery.
		defer n.finishedItem(it)
		n.settle(it, ctx, out)
	}()
	var err error
	if it.tc != nil && it.tc.hasTimeout {
		var timeout error
		_, timeout, err = runWithDeadline(ctx, it.tc.timeout, it.call)
		if timeout != nil {
			err = timeout // a failure of its own, whatever ctx says
		}
	} else {
		err = it.call(ctx)
	}
	out = returnedFrom(err, ctx)
}

// settle accounts for a task's outcome; its caller then marks it finished.
func (n *Nursery) settle(it item, ctx context.Context, out outcome) {
	t := it.task
	err := out.failure()
	if t != nil && t.ownsOutcome(err, out.panic) {
		return
	}
	switch out.how {
	case panicked:
		n.countFailure()
		n.mu.Lock()
		f := n.failuresLocked()
		f.panics = append(f.panics, out.panic)
		f.raw = append(f.raw, out.panic)
		if n.cfg.panicErr {
			f.errs = append(f.errs, &TaskError{Nursery: n.cfg.name, Task: it.tc.taskName(), Index: -1, Err: out.panic})
		}
		n.cancelLocked(out.panic)
		n.mu.Unlock()
	case exited:
		n.fail(err, it.tc, true)
	case returnedLate:
		if isCancellation(err, ctx) {
			n.interruptedBy(t)
		} else {
			n.fail(withoutCancellation(err, ctx), it.tc, false)
		}
	case returned:
		if err != nil {
			n.fail(err, it.tc, false)
		}
	}
	if t != nil {
		t.finish(err)
	}
}

// fail records a task's failure (or hands it to the error handler) and,
// unless the nursery collects or handles errors, cancels it with the
// failure as cause; always makes it cancel (runtime.Goexit is a bug, not a
// failure to collect).
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

// interruptedBy notes that a task ended because of a cancellation; only
// the parent's cancellation is reported by Wait.
func (n *Nursery) interruptedBy(t runner) {
	if t != nil && t.cancelledAlone() {
		return
	}
	n.mu.Lock()
	n.interruptedLocked()
	n.mu.Unlock()
}

// interruptedLocked notes that the parent's cancellation interrupted a
// task (or Run's body), unless the nursery cancelled itself first; n.mu is
// held.
func (n *Nursery) interruptedLocked() {
	if !n.tasks.has(countSelfCancelled) && n.ctx.Err() != nil {
		n.tasks.set(countInterrupted)
	}
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
		if t != nil && t.ownsOutcome(refused, nil) {
			return
		}
		n.fail(refused, it.tc, false)
		if t != nil {
			t.finish(refused)
		}
		return
	}
	cause := context.Cause(ctx)
	if t != nil && t.ownsOutcome(cause, nil) {
		return
	}
	n.interruptedBy(t)
	if t != nil {
		t.finish(cause)
	}
}

// finished uncounts a task that has finished.
func (n *Nursery) finished() {
	if c := n.cfg.counters; c != nil {
		c.finished.Add(1)
	}
	n.tasks.done(&n.mu)
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

// Failures and cancellation.

// failuresLocked returns n.failed, made on first use; n.mu is held.
func (n *Nursery) failuresLocked() *failures {
	if n.failed == nil {
		n.failed = new(failures)
	}
	return n.failed
}

// cancelLocked cancels the nursery with a failure as the cause; n.mu is
// held.
func (n *Nursery) cancelLocked(cause error) {
	if n.ctx.Err() == nil {
		n.tasks.set(countSelfCancelled)
		n.cancel(cause)
	}
}

// taskError names a task's failure for Wait's report: a *TaskError with
// the names of the nursery and task and, in debug mode, the task's path
// and spawn site.
func (n *Nursery) taskError(err error, tc *taskConfig) error {
	ix, indexed := err.(*indexed)
	t := tc.debugInfo()
	if t == nil && n.cfg.name == "" && tc.taskName() == "" && !indexed {
		// Nothing to name: the error as the task returned it, so that
		// comparing Wait's result with a sentinel works as with errgroup.
		return err
	}
	te := &TaskError{Nursery: n.cfg.name, Task: tc.taskName(), Index: -1, Err: err}
	if indexed {
		te.Index, te.Err = ix.index, ix.err
	}
	if t == nil {
		return te
	}
	if inner := asTaskError(te.Err); inner != nil && inner.origin != nil && inner.origin.Within(t) {
		// The error of a nursery nested in this task already names the
		// whole path down to the task that failed.
		if te.Index < 0 {
			return te.Err
		}
		return &TaskError{Index: te.Index, Err: te.Err}
	}
	te.origin = t
	return te
}

// nurseryError names an error that is the nursery's, not one task's (the
// body's error, the parent's cancellation): a *TaskError with only the
// nursery's name, or err itself when the nursery has none.
func (n *Nursery) nurseryError(err error) error {
	if n.cfg.name == "" {
		return err
	}
	return &TaskError{Nursery: n.cfg.name, Index: -1, Err: err}
}

// The live tree and debug mode (tree.go, debug.go).

// enter decides whether the nursery is in debug mode and in the live
// tree, and returns the context that the nursery's own context is to
// derive from. New calls it before making n.ctx, and track once n is
// complete.
func (n *Nursery) enter(parent context.Context) context.Context {
	c := n.cfg
	dm := debughook.Mode
	if !debugBuild {
		dm = nil
	}
	tree := live.On()
	if !tree && (dm == nil || c.debug == nil && !debughook.Active.Load()) {
		return parent // nothing to look up
	}
	up, upTask := live.Scope(parent)
	if dm != nil && dm.Wants(c.debug, up) {
		c.dbg = dm.Nursery(debughook.Args{
			Parent:    parent,
			Up:        up,
			UpTask:    upTask,
			Name:      c.name,
			Status:    c.status,
			Settings:  c.debug,
			Count:     &n.tasks.state,
			CountMask: countMask,
		})
		return c.dbg.Context()
	}
	if !tree {
		return parent
	}
	c.node = &live.Node{Up: up, Name: c.name, Entry: (*entry)(n)}
	return live.WithNode(parent, c.node)
}

// track registers the nursery in the tree of live nurseries.
func (n *Nursery) track() {
	if d := n.cfg.dbg; debugBuild && d != nil {
		d.Track(n, n.ctx)
	} else if nd := n.cfg.node; nd != nil {
		nd.Register()
	}
}

// blocked notes that Wait has been called.
func (n *Nursery) blocked() {
	if d := n.cfg.dbg; debugBuild && d != nil {
		d.WaitStarted()
	} else if nd := n.cfg.node; nd != nil && !nd.Waiting.Load() {
		nd.Waiting.Store(true)
	}
}

// untrack removes the nursery from the tree once its tasks have all
// returned; Wait's finish calls it.
func (n *Nursery) untrack() {
	if d := n.cfg.dbg; debugBuild && d != nil {
		d.Done()
	} else if nd := n.cfg.node; nd != nil {
		nd.Unregister()
	}
}
