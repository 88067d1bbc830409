package subprocess

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Pool runs registered functions in worker processes: re-executions of the
// current program, started by [NewPool], in which [Main] serves calls. Each
// worker runs many calls at once; a call goes to the worker with the fewest
// calls in flight (see [CallsPerWorker] to limit them).
//
// A worker that dies fails only the calls it was running, with a
// *[CrashError], and the pool starts a replacement; the pool never becomes
// unusable because of a worker. Workers run in process groups of their own
// and, on Linux, die with every process below them if the parent dies,
// even by SIGKILL; elsewhere they kill their group and exit as soon as
// their pipe from the parent ends (see the package documentation, "No
// orphans").
//
// A Pool is safe for concurrent use and must not be copied. It must be
// closed with [Pool.Close], after the calls made through it have returned:
// create it outside the nursery whose tasks use it, and close it after
// that nursery's Wait.
type Pool struct {
	cfg       config
	ctx       context.Context
	exe       string
	env       []string
	stopWatch func() bool   // stops watching ctx
	abortDone chan struct{} // closed when abort has finished

	mu        sync.Mutex
	live      []*worker            // workers that take calls
	all       map[*worker]struct{} // started and not yet reaped
	closed    bool                 // Close was called or ctx ended
	watching  bool                 // stopWatch has not been called
	abortErr  error                // set when ctx ended
	quit      chan struct{}        // closed when the pool closes
	changed   chan struct{}        // closed and replaced when live or closed change
	startErr  error                // why the last start failed, if it did
	closeErrs []error              // workers that did not stop cleanly

	wg sync.WaitGroup // every goroutine of the pool
}

var _ WorkerPool = (*Pool)(nil)

// NewPool starts the workers (see [Workers]) and returns once each is ready
// to serve, or returns an error if one fails to start; a worker that exits
// before it is ready usually means that [Main] is not the first call in
// main (or in TestMain).
//
// ctx bounds the pool's life: when it ends, the pool closes at once,
// killing its workers; the calls they were running fail with an error
// matching both [ErrPoolClosed] and the context's cause. Use [Pool.Close]
// to stop the pool gracefully.
//
// NewPool returns an error on systems where workers cannot be given their
// pipes (Windows), and in a worker process that did not call Main.
func NewPool(ctx context.Context, opts ...Option) (*Pool, error) {
	if ctx == nil {
		panic("subprocess: nil Context")
	}
	cfg := newConfig(opts)
	if !poolSupported {
		return nil, fmt.Errorf("subprocess: worker pools are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
	}
	if _, ok := os.LookupEnv(envWorker); ok && !servedMain.Load() {
		// Without this check such a program would start pools of its
		// own in every worker, recursively.
		return nil, errors.New("subprocess: this process was started as a worker but did not call subprocess.Main; call it first in main (and in TestMain)")
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	fingerprint() // taken now, if Main did not
	exe, err := executable()
	if err != nil {
		return nil, fmt.Errorf("subprocess: finding the program to run as workers: %w", err)
	}
	// The workers share the parent's cores instead of each taking them all,
	// unless Env sets GOMAXPROCS. The limit travels in a private variable
	// that Main removes, so that programs the workers start do not inherit
	// it as a GOMAXPROCS of their own.
	env := append(os.Environ(), cfg.env...)
	if !slices.ContainsFunc(cfg.env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(env, fmt.Sprintf("%s=%d", envProcs, max(1, runtime.GOMAXPROCS(0)/cfg.workers)))
	}
	p := &Pool{
		cfg:       cfg,
		ctx:       ctx,
		exe:       exe,
		env:       append(env, workerEnv),
		abortDone: make(chan struct{}),
		all:       make(map[*worker]struct{}),
		quit:      make(chan struct{}),
		changed:   make(chan struct{}),
	}
	type started struct {
		w   *worker
		err error
	}
	results := make(chan started, cfg.workers)
	for range cfg.workers {
		go func() {
			w, err := p.newWorker()
			results <- started{w, err}
		}()
	}
	var errs []error
	for range cfg.workers {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		r.w.live = true
		p.live = append(p.live, r.w)
	}
	if len(errs) > 0 {
		p.Close()
		return nil, errs[0]
	}
	p.watching = true
	p.stopWatch = context.AfterFunc(ctx, p.abort)
	return p, nil
}

// Invoke implements [WorkerPool]: it runs the function registered under
// the name fn in a worker, with input in, and decodes the result into out.
// [Func.Call] is the typed way to call it and documents what it returns.
func (p *Pool) Invoke(ctx context.Context, fn string, in, out any) error {
	if ctx == nil {
		panic("subprocess: nil Context")
	}
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("subprocess: %s: the result must be decoded into a non-nil pointer, not %T", fn, out)
		}
	}
	if len(fn) > maxName {
		return fmt.Errorf("subprocess: function name of %d bytes is longer than the %d bytes a call can carry", len(fn), maxName)
	}
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		w, err := p.acquire(ctx)
		if err != nil {
			return err
		}
		c, ok := w.register(fn, out)
		if !ok { // the worker died since acquire; nothing was sent
			p.release(w)
			continue
		}
		h := header{kind: kindCall, id: c.id, name: fn, queued: &c.queued}
		if d, ok := ctx.Deadline(); ok {
			h.deadline = d
		}
		err = p.send(ctx, w, h, in)
		if errors.Is(err, errSendKilled) {
			// The worker was killed because ctx ended; the reader
			// fails the call (or the reply came first).
			<-c.done
			p.release(w)
			putCall(c)
			return context.Cause(ctx)
		}
		if err != nil {
			if w.unregister(c) {
				p.release(w)
				putCall(c)
				if errors.Is(err, errWriterClosed) {
					continue // the worker died; nothing was sent
				}
				if errors.Is(err, errSendCancelled) {
					return context.Cause(ctx) // the worker dropped the input
				}
				return fmt.Errorf("subprocess: %s: cannot encode input of type %T: %w", fn, in, err)
			}
			// The worker died and its reader already failed the call.
		}
		return p.wait(ctx, w, c)
	}
}

// send sends a call's input. If ctx ends while the input is being sent and
// the send has not finished within the grace period, the worker is killed
// as if its function had not returned: the sender may be the writer, stuck
// writing to a worker that does not read (one stopped with SIGSTOP), which
// no context can interrupt (and which holds up every sender behind it).
func (p *Pool) send(ctx context.Context, w *worker, h header, in any) error {
	if ctx.Done() == nil {
		return w.fw.send(ctx, h, in)
	}
	sent := make(chan struct{})
	watched := make(chan struct{})
	killed := false // written by the watch before it closes watched
	stop := context.AfterFunc(ctx, func() {
		defer close(watched)
		t := time.NewTimer(p.cfg.grace)
		defer t.Stop()
		select {
		case <-sent:
		case <-t.C:
			killed = true
			w.kill(fmt.Sprintf("the input of %s could not be sent within %v of its cancellation", h.name, p.cfg.grace))
		}
	})
	err := w.fw.send(ctx, h, in)
	close(sent)
	if !stop() {
		<-watched // the watch ran: let it finish, killing or not
		if killed {
			return errSendKilled
		}
	}
	return err
}

// errSendKilled is returned by Pool.send when it killed the worker.
var errSendKilled = errors.New("subprocess: worker killed while the input was sent")

// wait waits for the call's reply; see Func.Call for the rules.
func (p *Pool) wait(ctx context.Context, w *worker, c *call) error {
	select {
	case <-c.done:
		err := c.err
		p.release(w)
		putCall(c)
		var ce *CrashError
		if ctx.Err() != nil && errors.As(err, &ce) {
			// The worker died after the call was cancelled,
			// perhaps killed for it (a call stuck sending its
			// input): a cancelled call returns its cause.
			return context.Cause(ctx)
		}
		return err
	case <-ctx.Done():
	}
	cause := context.Cause(ctx)
	w.fw.sendCancel(c.id, cause)
	t := time.NewTimer(p.cfg.grace)
	select {
	case <-c.done:
		t.Stop()
	case <-t.C:
		w.kill(fmt.Sprintf("%s did not return within %v of its cancellation", c.fn, p.cfg.grace))
		<-c.done
	}
	p.release(w)
	putCall(c)
	return cause
}

// acquire picks the live worker with the fewest calls in flight, waiting
// for one if there is none (after a crash, while its replacement starts)
// or if all run as many calls as CallsPerWorker allows.
func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	p.mu.Lock()
	for {
		if p.closed {
			err := p.abortErr
			if err == nil {
				err = ErrPoolClosed
			}
			p.mu.Unlock()
			return nil, err
		}
		var best *worker
		for _, w := range p.live {
			if p.cfg.perWorker > 0 && w.inflight >= p.cfg.perWorker {
				continue
			}
			if best == nil || w.inflight < best.inflight {
				best = w
			}
		}
		if best != nil {
			best.inflight++
			best.given++
			if p.cfg.maxTasks > 0 && best.given >= p.cfg.maxTasks {
				p.retireLocked(best)
			}
			p.mu.Unlock()
			return best, nil
		}
		if err := p.startErr; err != nil && len(p.live) == 0 {
			p.mu.Unlock()
			return nil, err
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		p.mu.Lock()
	}
}

// release ends a call's claim on w, and stops w if it is retired and idle.
func (p *Pool) release(w *worker) {
	p.mu.Lock()
	w.inflight--
	if !w.live && w.inflight == 0 {
		p.stopLocked(w)
	}
	if w.live && p.cfg.perWorker > 0 {
		p.broadcastLocked() // a call may be waiting for a free worker
	}
	p.mu.Unlock()
}

// retire takes w out of service and starts its replacement.
func (p *Pool) retire(w *worker) {
	p.mu.Lock()
	p.retireLocked(w)
	p.mu.Unlock()
}

func (p *Pool) retireLocked(w *worker) {
	if !w.live {
		return
	}
	w.live = false
	for i, x := range p.live {
		if x == w {
			p.live = append(p.live[:i], p.live[i+1:]...)
			break
		}
	}
	if !p.closed {
		p.startReplacementLocked()
	}
	if w.inflight == 0 {
		p.stopLocked(w)
	}
	p.broadcastLocked()
}

// stopLocked asks an idle worker to exit by closing its stream; its reader
// then waits for it to exit and reaps it. A worker that has not closed its
// stream back within the grace period (one stopped with SIGSTOP never
// will) is terminated: its reader would otherwise wait for ever, and Close
// with it. Once the worker has closed its stream, the reader gives it the
// grace again to exit.
func (p *Pool) stopLocked(w *worker) {
	if w.stopping {
		return
	}
	w.stopping = true
	w.fw.close()
	// Every caller runs while the worker's reader is alive (it is the
	// reader, or the reader sets stopping before it ends), so the
	// WaitGroup's count is above zero here.
	p.wg.Go(func() {
		t := time.NewTimer(p.cfg.grace)
		defer t.Stop()
		select {
		case <-w.ended:
		case <-t.C:
			// Like a worker that does not exit once its stream
			// has ended (see worker.read), this is not an error
			// of Close's: on a loaded machine a worker may just be
			// slow to finish.
			w.setReason(fmt.Sprintf("worker did not finish within %v of being told to stop", p.cfg.grace))
			w.terminate()
		}
	})
}

func (p *Pool) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// startReplacementLocked starts a worker in the background, retrying with
// backoff while starting fails; calls waiting for a worker fail with the
// start error meanwhile.
func (p *Pool) startReplacementLocked() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		delay := 50 * time.Millisecond
		for {
			w, err := p.newWorker()
			p.mu.Lock()
			if err == nil {
				p.startErr = nil
				if p.closed {
					p.stopLocked(w)
				} else {
					w.live = true
					p.live = append(p.live, w)
				}
				p.broadcastLocked()
				p.mu.Unlock()
				return
			}
			if p.closed {
				p.mu.Unlock()
				return
			}
			p.startErr = err
			p.broadcastLocked()
			quit := p.quit
			p.mu.Unlock()
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-quit:
				t.Stop()
				return
			}
			delay = min(2*delay, 5*time.Second)
		}
	}()
}

// lost takes a worker whose stream ended out of service.
func (p *Pool) lost(w *worker) {
	p.mu.Lock()
	p.retireLocked(w)
	w.stopping = true
	p.mu.Unlock()
}

// abort closes the pool when its context ends: it kills every worker.
func (p *Pool) abort() {
	defer close(p.abortDone)
	p.mu.Lock()
	p.abortErr = fmt.Errorf("%w: %w", ErrPoolClosed, context.Cause(p.ctx))
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	for _, w := range p.live {
		w.live = false
	}
	p.live = nil
	ws := make([]*worker, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.broadcastLocked()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		w.setReason("the pool's context ended")
		wg.Go(w.terminate)
	}
	wg.Wait()
}

// Close stops the pool gracefully: new calls fail with [ErrPoolClosed],
// calls in flight run to completion, then every worker is told to exit
// and is reaped. When Close returns, no worker process and no goroutine of
// the pool remains. Close waits for calls in flight however long they take:
// cancel their contexts (or the pool's) to hurry it. It returns an error
// if a worker did not exit cleanly; calling it again returns nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	for _, w := range p.live {
		w.live = false
		if w.inflight == 0 {
			p.stopLocked(w)
		}
	}
	p.live = nil
	p.broadcastLocked()
	p.mu.Unlock()

	p.wg.Wait()

	p.mu.Lock()
	watching := p.watching
	p.watching = false
	errs := p.closeErrs
	p.closeErrs = nil
	p.mu.Unlock()
	if watching && !p.stopWatch() {
		<-p.abortDone // abort ran or is running: wait for it to finish
	}
	return errors.Join(errs...)
}
