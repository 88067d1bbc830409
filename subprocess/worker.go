package subprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// worker is the parent's handle on one worker process.
type worker struct {
	p      *Pool
	cmd    *exec.Cmd
	pid    int
	tail   *tailWriter // nil without StderrTail
	fw     *frameWriter
	fr     *frameReader
	rpipe  *os.File
	exited chan struct{} // closed once the process has been reaped
	ended  chan struct{} // closed once its stream to the parent has ended

	// Guarded by p.mu.
	inflight int  // calls acquired and not released
	given    int  // calls ever acquired, for MaxTasksPerWorker
	live     bool // in p.live: takes new calls
	stopping bool // its stream was closed: it exits when it has read it all

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call // sent and not answered
	dead    bool             // pending calls were failed; no more may register
	reaped  bool             // signals must not be sent to its pid any more
	reason  string           // why the pool killed it
}

// call is one call in flight.
type call struct {
	id   uint64
	fn   string
	out  any
	err  error
	done chan struct{} // receives once when err (and out) are set
	// queued is set once the first piece of its input is queued, for
	// tests (InFlight).
	queued atomic.Bool
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func putCall(c *call) {
	c.out, c.err = nil, nil
	c.queued.Store(false)
	callPool.Put(c)
}

// newWorker starts a worker process and waits until it says it is ready.
func (p *Pool) newWorker() (*worker, error) {
	toR, toW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("subprocess: starting worker: %w", err)
	}
	fromR, fromW, err := os.Pipe()
	if err != nil {
		toR.Close()
		toW.Close()
		return nil, fmt.Errorf("subprocess: starting worker: %w", err)
	}
	w := &worker{
		p:       p,
		exited:  make(chan struct{}),
		ended:   make(chan struct{}),
		pending: make(map[uint64]*call),
		rpipe:   fromR,
	}
	w.cmd = &exec.Cmd{
		Path:        p.exe,
		Args:        []string{os.Args[0]},
		Env:         p.env,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		ExtraFiles:  []*os.File{toR, fromW}, // fds 3 and 4
		SysProcAttr: workerAttr(),
		WaitDelay:   p.cfg.grace,
	}
	if p.cfg.stderrTail > 0 {
		w.tail = newTailWriter(os.Stderr, p.cfg.stderrTail)
		w.cmd.Stderr = w.tail
	}
	started := make(chan error, 1)
	p.wg.Add(1)
	go w.proc(started)
	err = <-started
	toR.Close()
	fromW.Close()
	if err != nil {
		toW.Close()
		fromR.Close()
		return nil, fmt.Errorf("subprocess: starting worker: %w", err)
	}
	w.pid = w.cmd.Process.Pid
	w.fw = newFrameWriter(toW)
	w.fw.limit = p.cfg.frameLimit
	w.fr = newFrameReader(fromR)
	p.mu.Lock()
	p.all[w] = struct{}{}
	p.mu.Unlock()

	// Wait for the hello frame, killing a worker that never sends it.
	timedOut := false
	watchdog := time.AfterFunc(p.cfg.startTimeout, func() {
		w.mu.Lock()
		timedOut = true
		w.mu.Unlock()
		w.signal(true)
	})
	stopWatch := context.AfterFunc(p.ctx, func() { w.signal(true) })
	f, err := w.fr.next()
	watchdog.Stop()
	stopWatch()
	if err == nil {
		err = checkHello(f)
	}
	if err != nil {
		w.fw.close()
		if errors.Is(err, io.EOF) {
			// The worker closed its stream: it is exiting, perhaps
			// after saying why on its standard error. Let it, for
			// a grace period, so that the error can quote it.
			t := time.NewTimer(p.cfg.grace)
			select {
			case <-w.exited:
			case <-t.C:
			}
			t.Stop()
		}
		w.signal(true)
		<-w.exited
		fromR.Close()
		p.mu.Lock()
		delete(p.all, w)
		p.mu.Unlock()
		w.mu.Lock()
		to := timedOut
		w.mu.Unlock()
		return nil, w.startError(err, to)
	}
	p.wg.Add(1)
	go w.read()
	return w, nil
}

// startError explains why a worker never became ready.
func (w *worker) startError(err error, timedOut bool) error {
	var msg, line string
	if w.tail != nil {
		line = lastLine(w.tail.String())
	}
	switch ps := w.cmd.ProcessState; {
	case timedOut:
		msg = fmt.Sprintf("was not ready within %v", w.p.cfg.startTimeout)
	case w.p.ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrPoolClosed, context.Cause(w.p.ctx))
	case errors.Is(err, io.EOF) && ps != nil:
		msg = "exited (" + ps.String() + ") before it was ready"
		if !strings.HasPrefix(line, "subprocess: ") { // not Main's own complaint
			msg += "; is subprocess.Main() the first call in main (and in TestMain)?"
		}
	case strings.HasPrefix(err.Error(), "subprocess: "): // a protocol error
		msg = "failed before it was ready: " + strings.TrimPrefix(err.Error(), "subprocess: ")
	default: // checkHello's, which reads after "worker N"
		msg = err.Error()
	}
	if line != "" {
		msg += "; stderr: " + line
	}
	return fmt.Errorf("subprocess: worker %d %s", w.pid, msg)
}

// proc starts the process and reaps it. It keeps its goroutine locked to
// the OS thread that started the process until the process has been
// reaped: on Linux the parent-death signal fires when that thread exits,
// not when the process does (golang/go#27505), and the runtime ends a
// thread when a goroutine locked to it exits.
func (w *worker) proc(started chan<- error) {
	defer w.p.wg.Done()
	runtime.LockOSThread()
	if err := w.cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		close(w.exited)
		started <- err
		return
	}
	started <- nil
	w.cmd.Wait()
	w.mu.Lock()
	w.reaped = true
	w.mu.Unlock()
	// Kill what the worker left behind in its group (programs its
	// functions started without a group of their own).
	killGroup(w.cmd.Process)
	runtime.UnlockOSThread()
	close(w.exited)
}

// signal sends SIGTERM (or SIGKILL if kill) to the worker's process group,
// unless it has been reaped.
func (w *worker) signal(kill bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reaped || w.cmd.Process == nil {
		return
	}
	if kill {
		killGroup(w.cmd.Process)
	} else {
		terminateGroup(w.cmd.Process)
	}
}

// terminate sends SIGTERM to the worker's group and, if it has not exited
// within the grace period, SIGKILL; it returns once the worker is reaped.
func (w *worker) terminate() {
	w.signal(false)
	t := time.NewTimer(w.p.cfg.grace)
	defer t.Stop()
	select {
	case <-w.exited:
		return
	case <-t.C:
	}
	w.signal(true)
	<-w.exited
}

func (w *worker) setReason(reason string) {
	w.mu.Lock()
	if w.reason == "" {
		w.reason = reason
	}
	w.mu.Unlock()
}

// kill takes the worker out of service, terminates it and returns once it
// is reaped; its calls fail with a CrashError giving reason.
func (w *worker) kill(reason string) {
	w.setReason(reason)
	w.p.retire(w)
	w.terminate()
}

// register records a call about to be sent; it fails if the worker died.
func (w *worker) register(fn string, out any) (*call, bool) {
	c := callPool.Get().(*call)
	c.fn, c.out = fn, out
	w.mu.Lock()
	if w.dead {
		w.mu.Unlock()
		putCall(c)
		return nil, false
	}
	w.nextID++
	c.id = w.nextID
	w.pending[c.id] = c
	w.mu.Unlock()
	return c, true
}

// unregister forgets a call that was not sent. It returns false if the
// reader took it first (the worker died and the call was failed).
func (w *worker) unregister(c *call) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending[c.id] != c {
		return false
	}
	delete(w.pending, c.id)
	return true
}

// read delivers the worker's replies until its stream ends, then reaps the
// worker and fails the calls it had not answered.
func (w *worker) read() {
	p := w.p
	defer p.wg.Done()
	err := w.readLoop()
	close(w.ended)
	p.lost(w)
	w.fw.close()
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		// The stream broke while the worker may live on.
		w.setReason(fmt.Sprintf("stream from worker failed: %v", err))
		w.terminate()
	} else {
		t := time.NewTimer(p.cfg.grace)
		select {
		case <-w.exited:
		case <-t.C:
			w.setReason("worker did not exit when its stream ended")
			w.terminate()
		}
		t.Stop()
	}
	<-w.exited
	w.rpipe.Close()

	w.mu.Lock()
	w.dead = true
	pending := w.pending
	w.pending = nil
	reason := w.reason
	w.mu.Unlock()

	ps := w.cmd.ProcessState
	p.mu.Lock()
	delete(p.all, w)
	abortErr := p.abortErr
	if len(pending) == 0 && reason == "" && !ps.Success() && abortErr == nil {
		p.closeErrs = append(p.closeErrs, fmt.Errorf("subprocess: worker %d: %v", w.pid, ps))
	}
	p.mu.Unlock()

	var tail string
	if w.tail != nil && len(pending) > 0 {
		tail = w.tail.String()
	}
	for _, c := range pending {
		if abortErr != nil {
			c.err = abortErr
		} else {
			c.err = &CrashError{
				Func:       c.fn,
				ExitCode:   ps.ExitCode(),
				Signal:     exitSignal(ps),
				StderrTail: tail,
				Pid:        w.pid,
				Reason:     reason,
				Concurrent: len(pending) - 1,
			}
		}
		c.done <- struct{}{}
	}
}

// readLoop delivers replies until the stream fails. A reply that fails to
// decode fails its call only.
func (w *worker) readLoop() error {
	for {
		f, err := w.fr.next()
		if err != nil {
			return err
		}
		switch f.kind {
		case kindResult, kindError:
		case kindReset:
			w.fw.resetReq.Store(true)
			continue
		default:
			return fmt.Errorf("subprocess: protocol error: frame kind %d from worker", f.kind)
		}
		w.mu.Lock()
		c := w.pending[f.id]
		delete(w.pending, f.id)
		w.mu.Unlock()
		if c == nil {
			if err := w.fr.decode(nil); err != nil {
				w.askReset()
			}
			continue
		}
		var derr error
		if f.kind == kindResult {
			if derr = w.fr.decode(c.out); derr != nil {
				c.err = fmt.Errorf("subprocess: %s: decoding the result in the parent: %w%s", c.fn, derr, registerHint(derr))
			}
		} else {
			var we WireError
			if derr = w.fr.decode(&we); derr != nil {
				c.err = fmt.Errorf("subprocess: %s: decoding the error in the parent: %w", c.fn, derr)
			} else {
				c.err = we.Err(c.fn)
			}
		}
		if derr != nil {
			w.askReset()
		}
		c.done <- struct{}{} // c may be reused from here on
	}
}

// askReset asks the worker for a new encoder after a reply failed to
// decode. It sends from a goroutine of its own: the reader must not wait
// for the stream to the worker, which may be full while the worker waits
// for room in the stream to the parent.
func (w *worker) askReset() {
	w.p.wg.Go(func() { w.fw.sendPriority(kindReset, 0, nil) })
}

// registerHint explains gob's complaint about a type missing from its
// registry.
func registerHint(err error) string {
	if strings.Contains(err.Error(), "not registered for interface") {
		return " (register the type with gob.Register during package initialization, so that every process has it)"
	}
	return ""
}
