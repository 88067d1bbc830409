package subprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// envWorker marks a process started as a worker; its value is the protocol
// version.
const envWorker = "NURSERY_SUBPROCESS_WORKER"

var workerEnv = envWorker + "=" + fmt.Sprint(protoVersion)

// envProcs gives a worker its GOMAXPROCS. It is not GOMAXPROCS itself,
// which programs the worker starts would inherit.
const envProcs = "NURSERY_SUBPROCESS_GOMAXPROCS"

// servedMain is set when Main starts serving, so that NewPool can tell a
// worker that forgot to call Main (and would otherwise run the program
// again, starting pools of its own) from a program that started a pool.
var servedMain atomic.Bool

// Main makes the program usable as a worker. Call it first in main, and in
// TestMain of every test package that uses a [Pool]:
//
//	func main() {
//		subprocess.Main()
//		...
//	}
//
// In a process started as a worker by a Pool, Main serves calls of the
// registered functions until the pool stops it, then exits the process; it
// never returns. In any other process it returns at once.
//
// Workers run the program's package initialization like any process does
// (that is how they know the registered functions), so keep side effects
// out of init functions and package-level variables.
func Main() {
	fingerprint() // taken now, after package initialization
	v, ok := os.LookupEnv(envWorker)
	if !ok {
		return
	}
	// Programs the worker's functions start must not take themselves for
	// workers, nor inherit the worker's share of the cores.
	os.Unsetenv(envWorker)
	if s, ok := os.LookupEnv(envProcs); ok {
		os.Unsetenv(envProcs)
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			runtime.GOMAXPROCS(n)
		}
	}
	if envWorker+"="+v != workerEnv {
		fmt.Fprintf(os.Stderr, "subprocess: worker started with protocol %q, want %d\n", v, protoVersion)
		os.Exit(2)
	}
	servedMain.Store(true)
	watchParent()
	r, w, err := workerFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(serve(r, w))
}

// server is the worker's side of the protocol.
type server struct {
	fw    *frameWriter
	mu    sync.Mutex
	calls map[uint64]context.CancelCauseFunc // running calls
}

// serve reads calls until the parent closes the stream and returns the exit
// code. Each call runs on a goroutine of its own, so many can be in flight.
// When the stream ends with calls still running, the parent is gone and
// nobody waits for their results: the worker exits at once.
func serve(r io.Reader, w io.WriteCloser) int {
	s := &server{fw: newFrameWriter(w), calls: make(map[uint64]context.CancelCauseFunc)}
	if err := s.fw.sendPriority(kindHello, protoVersion, []byte(fingerprint())); err != nil {
		return 2
	}
	fr := newFrameReader(r)
	for {
		f, err := fr.next()
		if err != nil {
			s.mu.Lock()
			busy := len(s.calls)
			s.mu.Unlock()
			if parentGone() || err == io.EOF && busy > 0 {
				// The parent died (the pool closes the stream of
				// an idle worker only): take everything down.
				orphaned()
			}
			if err != io.EOF {
				fmt.Fprintf(os.Stderr, "subprocess: worker %d: %v\n", os.Getpid(), err)
			}
			// Programs left running by functions that returned die
			// with the worker, even out of its process group (which
			// the pool kills when it has reaped the worker).
			killDescendants()
			// Tell the pool, which gives a stopping worker a
			// grace period to do so, that it is done; exiting
			// may take longer (a race-enabled build sleeps 1s).
			s.fw.close()
			if err == io.EOF {
				return 0
			}
			return 3
		}
		switch f.kind {
		case kindCall:
			s.start(fr, f)
		case kindCancel:
			var we WireError
			if err := decodeSelf(f.payload, &we); err != nil {
				we = WireError{Message: "cancelled (the cause failed to decode: " + err.Error() + ")", Sentinels: []string{"context.Canceled"}}
			}
			s.mu.Lock()
			cancel := s.calls[f.id]
			s.mu.Unlock()
			if cancel != nil {
				cancel(we.Err(""))
			}
		case kindReset:
			s.fw.resetReq.Store(true)
		default:
			fmt.Fprintf(os.Stderr, "subprocess: worker %d: protocol error: frame kind %d\n", os.Getpid(), f.kind)
			return 3
		}
	}
}

// start decodes a call and runs it on a goroutine of its own. A call that
// cannot be served, because its function is unknown or its input fails to
// decode, gets an error reply; the stream goes on.
func (s *server) start(fr *frameReader, f frame) {
	h, ok := lookupBytes(f.name)
	if !ok {
		failed := fr.decode(nil) != nil
		go s.refuse(f.id, "", failed, fmt.Errorf("%w %q in worker %d: register functions during package initialization, so that every process has them",
			ErrUnknownFunc, f.name, os.Getpid()))
		return
	}
	in := h.NewInput()
	if err := fr.decode(in); err != nil {
		go s.refuse(f.id, h.name, true, fmt.Errorf("subprocess: %s: decoding the input in the worker: %w%s", h.name, err, registerHint(err)))
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := func() { cancel(nil) }
	if !f.deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, f.deadline)
		stop = func() { cancelDeadline(); cancel(nil) }
	}
	s.mu.Lock()
	s.calls[f.id] = cancel
	s.mu.Unlock()
	go s.run(ctx, stop, f.id, h, in)
}

// refuse replies to a call that cannot run, first asking the parent for a
// new encoder if its input failed to decode (so that the parent's next
// call, sent after this reply, has one). It runs on a goroutine of its
// own: the reader must not wait for the stream to the parent, which may be
// full while the parent waits for room in the stream to the worker.
func (s *server) refuse(id uint64, fn string, failed bool, err error) {
	if failed {
		s.fw.sendPriority(kindReset, 0, nil)
	}
	s.reply(id, fn, nil, err)
}

// run runs one call and replies. The reply is sent from a deferred call so
// that a function calling runtime.Goexit still gets one.
func (s *server) run(ctx context.Context, stop func(), id uint64, h *Handler, in any) {
	var (
		out      any
		err      error
		returned bool
	)
	defer func() {
		if !returned {
			err = fmt.Errorf("subprocess: %s called runtime.Goexit", h.name)
		}
		// Forget the call before replying: once the parent has every
		// reply, the worker has no call left and may exit when told.
		s.mu.Lock()
		delete(s.calls, id)
		s.mu.Unlock()
		stop()
		s.reply(id, h.name, out, err)
	}()
	out, err = h.Call(ctx, in)
	returned = true
}

// reply sends a call's result, or its error.
func (s *server) reply(id uint64, fn string, out any, err error) {
	if err == nil {
		err = s.fw.send(context.Background(), header{kind: kindResult, id: id}, out)
		if err == nil || errors.Is(err, errWriterClosed) {
			return
		}
		err = fmt.Errorf("subprocess: %s: cannot encode result of type %T: %w", fn, out, err)
	}
	if err := s.fw.send(context.Background(), header{kind: kindError, id: id}, NewWireError(err)); err != nil && !errors.Is(err, errWriterClosed) {
		// A WireError always encodes; if it did not, the stream is
		// broken and the parent will see the worker exit.
		fmt.Fprintf(os.Stderr, "subprocess: worker %d: %v\n", os.Getpid(), err)
		os.Exit(3)
	}
}
