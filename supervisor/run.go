package supervisor

import (
	"context"
	"errors"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structured-go/nursery"
)

// run is one Serve of a supervisor: its nursery, and the loop's state.
// Only the loop goroutine (the one in Serve) touches it, but for the
// channels.
type run struct {
	s      *Supervisor
	in     *nursery.Nursery
	events chan event    // from the children, Add, Remove and ctx
	done   chan struct{} // closed when the loop has ended

	cancelled bool       // ctx (or the nursery's context) has ended
	requests  []*request // Add and Remove received while busy
	pending   []event    // exits noted and not handled yet, in order
	one       [1]*child  // group's result under OneForOne
	restarts  []int64    // times of the restarts within the intensity period
	exitTurn  bool       // the loop handled an exit last: a request's turn
	adding    *child     // the child an Add is starting, not added yet
	hookErr   error      // the hook panicked: the supervisor fails with this
	errs      []error    // failures and stuck children of stops made during shutdown
}

// event is what the loop receives, all on one channel so that it waits
// with a plain receive rather than a select: a child's ready or exit, an
// Add or Remove, or the end of ctx.
type event struct {
	kind uint8
	c    *child
	gen  uint64
	err  error // the failure; nil for a normal exit
	q    *request
}

const (
	evExit uint8 = iota
	evReady
	evRequest
	evCancel
)

// request is an Add or a Remove.
type request struct {
	add    *Spec
	remove string
	reply  chan error
	state  atomic.Uint32 // reqWaiting, then reqTaken by the loop or reqAbandoned by ask
	after  int64         // an Add waits for the restarts due at or before this; 0 if none
}

const (
	reqWaiting uint32 = iota
	reqTaken
	reqAbandoned
)

// incarnation is one run of a child.
type incarnation struct {
	gen   uint64
	phase atomic.Uint32 // incStarting, incReady, incExited

	mu     sync.Mutex
	cancel context.CancelCauseFunc // made by the runner
	cause  error                   // set if stopped before the runner made cancel
}

const (
	incStarting uint32 = iota
	incReady
	incExited
)

func (inc *incarnation) stop(cause error) {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	if inc.cancel != nil {
		inc.cancel(cause)
	} else if inc.cause == nil {
		inc.cause = cause
	}
}

// errShutdown tells the loop that ctx ended while it was busy.
var errShutdown = errors.New("supervisor: shutting down")

// errGoexit is the failure of a child that called runtime.Goexit.
var errGoexit = errors.New("supervisor: child called runtime.Goexit")

// startFailed carries the failure of a child that exited before ready.
type startFailed struct{ err error }

func (e *startFailed) Error() string { return e.err.Error() }

func (r *run) ask(ctx context.Context, q *request) error {
	q.reply = make(chan error, 1)
	select {
	case r.events <- event{kind: evRequest, q: q}:
	case <-r.done:
		return ErrStopped
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-q.reply:
		return err
	case <-r.done:
	case <-ctx.Done():
		if q.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			return context.Cause(ctx)
		}
		// The loop has begun: wait for the outcome.
		select {
		case err := <-q.reply:
			return err
		case <-r.done:
		}
	}
	select {
	case err := <-q.reply:
		return err
	default:
		return ErrStopped
	}
}

// absorb applies an event that its receiver was not waiting for.
func (r *run) absorb(e event) {
	switch e.kind {
	case evReady, evExit:
		r.note(e)
	case evRequest:
		if e.q.add != nil {
			// The children waiting out a backoff now start before the
			// added one: it waits for their restarts, not for later ones,
			// so that children failing forever cannot starve it.
			for _, c := range r.s.children {
				if c.pending {
					e.q.after = max(e.q.after, c.restartAt)
				}
			}
		}
		r.requests = append(r.requests, e.q)
	case evCancel:
		r.cancelled = true
	}
}

// onDone arranges for an evCancel event when ctx ends, and returns a
// function that undoes it, or waits until the event is delivered or the
// loop has ended.
func (r *run) onDone(ctx context.Context) (stop func()) {
	sent := make(chan struct{})
	undo := context.AfterFunc(ctx, func() {
		defer close(sent)
		select {
		case r.events <- event{kind: evCancel}:
		case <-r.done:
		}
	})
	return func() {
		if !undo() {
			<-sent
		}
	}
}

// loop starts the children, supervises them, and stops them.
func (r *run) loop(ctx context.Context, ready func()) error {
	for i := 0; i < len(r.s.children); i++ {
		c := r.s.children[i]
		switch err := r.start(ctx, c); {
		case err == errShutdown:
			return r.shutdown(ctx, nil)
		case err != nil:
			return r.shutdown(ctx, &StartError{Supervisor: r.s.name, Child: c.spec.name, Err: err.(*startFailed).err})
		}
	}
	if r.hookErr != nil {
		return r.shutdown(ctx, nil) // the supervisor failed while it started
	}
	if ready != nil {
		ready()
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if r.cancelled {
			return r.shutdown(ctx, nil)
		}
		// Exits and requests take turns, so that a child restarting at
		// once, forever, cannot starve Add and Remove.
		if len(r.pending) > 0 && (!r.exitTurn || !r.hasRequest()) {
			e := r.pending[0]
			r.pending = slices.Delete(r.pending, 0, 1)
			r.exitTurn = true
			if err := r.handleExit(ctx, e); err != nil {
				return r.shutdown(ctx, err)
			}
			continue
		}
		r.exitTurn = false
		if q := r.takeRequest(); q != nil {
			if err := r.serveRequest(ctx, q); err != nil {
				return r.shutdown(ctx, err)
			}
			continue
		}
		var timerC <-chan time.Time
		if at, ok := r.nextRestart(); ok {
			d := time.Duration(at - time.Now().UnixNano())
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timerC = timer.C
		}
		if timerC == nil {
			r.absorb(<-r.events)
			continue
		}
		select {
		case e := <-r.events:
			r.absorb(e)
		case <-timerC:
			if err := r.restartDue(ctx); err != nil {
				return r.shutdown(ctx, err)
			}
		}
	}
}

func (r *run) setState(c *child, st State) {
	r.s.mu.Lock()
	c.state = st
	r.s.mu.Unlock()
}

// launch starts a new incarnation of c. Each child has a runner: one task
// of the supervisor's nursery, named after it, that runs its incarnations
// one after the other. A restart hands the runner the next incarnation
// instead of starting a goroutine, whose fresh stack would have to grow
// again: that made most of the cost of a restart.
func (r *run) launch(c *child) {
	c.gen++
	inc := &incarnation{gen: c.gen}
	c.inc = inc
	r.setState(c, Starting)
	r.emit(EventStart, c, nil, 0)
	if c.runner == nil {
		if c.taskName == nil {
			c.taskName = nursery.Name(c.spec.name)
		}
		ch := make(chan *incarnation)
		c.runner = ch
		r.in.Go(func(tctx context.Context) error {
			r.runner(tctx, c, ch)
			return nil // the loop has the outcomes: the nursery must not keep them
		}, c.taskName)
	}
	select {
	case c.runner <- inc: // the runner waits: the common case
		return
	default:
	}
	select {
	case c.runner <- inc:
	case <-r.in.Context().Done():
		// A child called runtime.Goexit, and the nursery runs nothing more:
		// the loop is shutting down.
		r.note(event{c: c, gen: inc.gen})
	}
}

// runner runs a child's incarnations until ch is closed: when the child is
// removed, or after the loop.
func (r *run) runner(tctx context.Context, c *child, ch chan *incarnation) {
	for inc := range ch {
		r.body(tctx, c, inc)
	}
}

// body runs one incarnation of a child and sends its ready and exit. The
// child's context derives from the runner's task context, so that in debug
// mode the nurseries it creates (a nested supervisor's) appear under its
// task in the live tree, and its pprof labels name it.
func (r *run) body(tctx context.Context, c *child, inc *incarnation) {
	gen := inc.gen
	ctx, cancel := context.WithCancelCause(tctx)
	inc.mu.Lock()
	inc.cancel = cancel
	if inc.cause != nil {
		cancel(inc.cause)
	}
	inc.mu.Unlock()
	var err error
	returned := false
	defer func() {
		if !returned {
			if v := recover(); v != nil {
				err = &nursery.PanicError{Value: v, Stack: debug.Stack(), Task: c.spec.name}
			} else {
				err = errGoexit
			}
		} else if err != nil && ctx.Err() != nil &&
			(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Cause(ctx))) {
			err = nil // its own cancellation: a normal exit
		}
		cancel(nil)
		inc.phase.Store(incExited)
		r.events <- event{kind: evExit, c: c, gen: gen, err: err} // drained after the loop
	}()
	err = c.spec.fn(ctx, func() {
		if inc.phase.CompareAndSwap(incStarting, incReady) {
			select {
			case r.events <- event{kind: evReady, c: c, gen: gen}:
			case <-r.done: // called late, from another goroutine
			}
		}
	})
	returned = true
}

// note applies an event of a child: a ready, or an exit, which it records
// at once (so that no failure is lost, whatever happens next) and leaves to
// handleExit.
func (r *run) note(e event) {
	c := e.c
	if e.gen != c.gen {
		return // an earlier incarnation, or a stuck one
	}
	if e.kind == evReady {
		if c.state == Starting {
			r.setState(c, Running)
			r.emit(EventReady, c, nil, 0)
		}
		return
	}
	r.setState(c, Stopped)
	c.gen++ // the incarnation is over
	r.record(c, e.err)
	r.pending = append(r.pending, e)
}

// start launches c and waits until it is ready or has exited. It returns
// nil when c is ready or exited normally (the exit is then pending), a
// *startFailed when it failed first (pending too), or errShutdown.
func (r *run) start(ctx context.Context, c *child) error {
	if r.cancelled {
		return errShutdown
	}
	r.launch(c)
	gen := c.gen
	for {
		e := <-r.events
		if (e.kind != evReady && e.kind != evExit) || e.c != c || e.gen != gen {
			r.absorb(e)
			if r.cancelled {
				return errShutdown
			}
			continue
		}
		r.note(e)
		switch {
		case e.kind == evReady:
			return nil
		case e.err != nil:
			return &startFailed{e.err}
		}
		return nil
	}
}

// stop cancels c and waits for it, for at most its grace. It returns the
// failure c returned instead of its cancellation, if any, or a
// *StopTimeoutError if c did not return in time.
func (r *run) stop(c *child) (stuck *StopTimeoutError, failed error) {
	r.setState(c, Stopping)
	c.inc.stop(errStopping)
	gen := c.gen
	timer := time.NewTimer(c.spec.grace)
	defer timer.Stop()
	for {
		select {
		case e := <-r.events:
			if (e.kind != evReady && e.kind != evExit) || e.c != c || e.gen != gen {
				r.absorb(e)
				continue
			}
			if e.kind == evReady {
				continue
			}
			c.gen++
			r.setState(c, Stopped)
			r.record(c, e.err)
			return nil, e.err
		case <-timer.C:
			c.gen++ // its exit, if it comes, is stale
			r.setState(c, Stuck)
			err := &StopTimeoutError{Supervisor: r.s.name, Child: c.spec.name, Grace: c.spec.grace, Site: c.spec.site}
			r.emit(EventStopTimeout, c, err, 0)
			return err, nil
		}
	}
}

// record logs an exit and keeps its failure.
func (r *run) record(c *child, err error) {
	if err != nil {
		r.s.mu.Lock()
		c.fails.push(err)
		r.s.mu.Unlock()
	}
	r.emit(EventExit, c, err, 0)
}

func running(c *child) bool { return c.state == Starting || c.state == Running }

// handleExit applies the restart type and the strategy to an exit noted
// earlier.
func (r *run) handleExit(ctx context.Context, e event) error {
	c := e.c
	if e.gen+1 != c.gen {
		// Stale: note ended incarnation e.gen by setting c.gen to e.gen+1,
		// and c has been started (or stopped) since — its group was
		// restarted meanwhile, which absorbs this exit, as OTP ignores the
		// 'EXIT' of a pid already replaced. One failure, one restart.
		return nil
	}
	if !slices.Contains(r.s.children, c) || c.pending {
		return nil // removed, or already waiting to restart with its group
	}
	switch c.spec.restart {
	case Temporary:
		r.removeChild(c)
		return nil
	case Transient:
		if e.err == nil {
			return nil
		}
	}
	cfg := &r.s.cfg
	now := time.Now().UnixNano()
	if cfg.intensity >= 0 {
		cut := now - int64(cfg.period)
		i := 0
		for i < len(r.restarts) && r.restarts[i] <= cut {
			i++
		}
		r.restarts = r.restarts[:copy(r.restarts, r.restarts[i:])]
		if len(r.restarts) >= cfg.intensity {
			r.s.mu.Lock()
			fails := c.fails.list()
			r.s.mu.Unlock()
			err := &GiveUpError{Supervisor: r.s.name, Child: c.spec.name, Restarts: cfg.intensity, Period: cfg.period, Failures: fails}
			r.emit(EventGiveUp, c, err, 0)
			return err
		}
		r.restarts = append(r.restarts, now)
	}
	if c.lastRestart == 0 || now-c.lastRestart >= int64(cfg.period) {
		c.streak = 0
	}
	c.streak++
	c.lastRestart = now
	delay := cfg.delay(c.streak)

	group := r.group(c)
	for i := len(group) - 1; i >= 0; i-- {
		if m := group[i]; running(m) {
			if stuck, _ := r.stop(m); stuck != nil {
				return stuck
			}
		}
	}
	at := now + int64(delay)
	for _, m := range group {
		if m.spec.restart == Temporary {
			r.removeChild(m)
			continue
		}
		m.pending, m.restartAt = true, at
		r.s.mu.Lock()
		m.state = Restarting
		m.restarts++
		r.s.mu.Unlock()
		r.emitCause(EventRestart, m, nil, delay, c)
	}
	if delay == 0 {
		return r.restartDue(ctx)
	}
	return nil
}

// group returns the children the strategy restarts when c must be.
func (r *run) group(c *child) []*child {
	switch r.s.cfg.strategy {
	case OneForAll:
		return slices.Clone(r.s.children)
	case RestForOne:
		return slices.Clone(r.s.children[slices.Index(r.s.children, c):])
	}
	r.one[0] = c
	return r.one[:]
}

func (r *run) removeChild(c *child) {
	if c.runner != nil {
		close(c.runner)
		c.runner = nil
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if i := slices.Index(r.s.children, c); i >= 0 {
		r.s.children = slices.Delete(r.s.children, i, i+1)
	}
}

// nextRestart returns the earliest time a child waits to restart at.
func (r *run) nextRestart() (int64, bool) {
	var at int64
	ok := false
	for _, c := range r.s.children {
		if c.pending && (!ok || c.restartAt < at) {
			at, ok = c.restartAt, true
		}
	}
	return at, ok
}

// restartDue starts, in order, the children whose restart time has come.
// A child that fails before ready stops the round: its exit is pending, and
// handling it reschedules the rest.
func (r *run) restartDue(ctx context.Context) error {
	now := time.Now().UnixNano()
	for i := 0; i < len(r.s.children); i++ {
		c := r.s.children[i]
		if !c.pending || c.restartAt > now {
			continue
		}
		c.pending = false
		switch err := r.start(ctx, c); {
		case err == errShutdown:
			return err
		case err != nil:
			return nil
		}
	}
	return nil
}

// hasRequest reports whether takeRequest would return a request.
func (r *run) hasRequest() bool {
	return slices.ContainsFunc(r.requests, r.servable)
}

// takeRequest removes and returns the first request the loop can serve
// now, or nil.
func (r *run) takeRequest() *request {
	i := slices.IndexFunc(r.requests, r.servable)
	if i < 0 {
		return nil
	}
	q := r.requests[i]
	r.requests = slices.Delete(r.requests, i, i+1)
	return q
}

// servable reports whether the loop can serve q now. Children start in
// the order they were added, so an Add waits until the children that were
// waiting out a backoff when it came have been restarted. A Remove never
// waits (removing a child in its backoff is the point of it). The Add
// stays in the queue meanwhile, and its caller may still give up.
func (r *run) servable(q *request) bool {
	if q.add == nil || q.after == 0 {
		return true
	}
	return !slices.ContainsFunc(r.s.children, func(c *child) bool {
		return c.pending && c.restartAt <= q.after
	})
}

// serveRequest adds or removes a child.
func (r *run) serveRequest(ctx context.Context, q *request) error {
	if !q.state.CompareAndSwap(reqWaiting, reqTaken) {
		return nil // its caller's context ended first
	}
	s := r.s
	if q.add != nil {
		if s.indexLocked(q.add.name) >= 0 {
			q.reply <- s.duplicate(q.add.name)
			return nil
		}
		c := &child{spec: *q.add}
		s.mu.Lock()
		s.children = append(s.children, c)
		s.mu.Unlock()
		r.adding = c
		err := r.start(ctx, c)
		r.adding = nil
		switch {
		case err == errShutdown:
			// Not added either: stop it (it is the last child, so the
			// shutdown's reverse order holds) and take it out before Add
			// returns, so that ErrStopped means "not added" like every
			// other error of Add.
			if running(c) {
				r.stopForShutdown(c)
			}
			r.pending = slices.DeleteFunc(r.pending, func(e event) bool { return e.c == c })
			r.removeChild(c)
			q.reply <- ErrStopped
			return err
		case err != nil:
			// Not added: take its exit out of the pending ones.
			r.pending = slices.DeleteFunc(r.pending, func(e event) bool { return e.c == c })
			r.removeChild(c)
			q.reply <- &StartError{Supervisor: s.name, Child: c.spec.name, Err: err.(*startFailed).err}
			return nil
		}
		q.reply <- nil
		return nil
	}
	i := s.indexLocked(q.remove)
	if i < 0 {
		q.reply <- s.unknown(q.remove)
		return nil
	}
	c := s.children[i]
	var err error
	if running(c) {
		if stuck, _ := r.stop(c); stuck != nil {
			err = stuck
		}
	}
	r.removeChild(c)
	q.reply <- err
	return nil
}

// stopForShutdown stops c as part of the shutdown, and keeps its failure or
// its *StopTimeoutError for the supervisor's result.
func (r *run) stopForShutdown(c *child) {
	stuck, failed := r.stop(c)
	if failed != nil {
		r.errs = append(r.errs, &childError{child: c.spec.name, err: failed})
	}
	if stuck != nil {
		r.errs = append(r.errs, stuck)
	}
}

// shutdown stops every running child in reverse order and returns the
// supervisor's result: cause, or context.Cause(ctx), joined with the
// failures and stuck children of the stop.
func (r *run) shutdown(ctx context.Context, cause error) error {
	var errs []error
	if r.hookErr != nil {
		errs = append(errs, r.hookErr)
	}
	if cause != nil && cause != errShutdown {
		errs = append(errs, cause)
	}
	for i := len(r.s.children) - 1; i >= 0; i-- {
		if c := r.s.children[i]; running(c) {
			r.stopForShutdown(c)
		}
	}
	errs = append(errs, r.errs...)
	r.pending = nil
	for _, q := range r.requests {
		q.reply <- ErrStopped
	}
	r.requests = nil
	r.s.mu.Lock()
	for _, c := range r.s.children {
		c.pending = false
		if c.state != Stuck {
			c.state = Stopped
		}
	}
	r.s.mu.Unlock()
	if len(errs) == 0 && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return errors.Join(errs...)
}
