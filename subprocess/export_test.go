package subprocess

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"runtime"
)

// WorkerPids returns the process IDs of the workers that take calls.
func WorkerPids(p *Pool) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, len(p.live))
	for i, w := range p.live {
		pids[i] = w.pid
	}
	return pids
}

// InFlight returns the number of calls the pool's workers are running:
// calls that have not been answered and whose input has started on its
// way (its first piece is queued: from then on the call reaches the
// worker, or is aborted piece by piece if cancelled). A call has a worker
// a moment before that; cancelled in that moment, it never reaches it.
func InFlight(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for w := range p.all {
		w.mu.Lock()
		for _, c := range w.pending {
			if c.queued.Load() {
				n++
			}
		}
		w.mu.Unlock()
	}
	return n
}

// FramesSent returns how many frames the pool sent to its live workers.
func FramesSent(p *Pool) int {
	p.mu.Lock()
	ws := append([]*worker(nil), p.live...)
	p.mu.Unlock()
	n := 0
	for _, w := range ws {
		w.fw.mu.Lock()
		n += w.fw.frames
		w.fw.mu.Unlock()
	}
	return n
}

// CheckType reports why values of type t cannot travel to a worker.
var CheckType = checkType

// ReadFrames reads frames from b as a worker reads its stream, decoding the
// payload of the i-th frame into targets[i] (a pointer), or discarding it
// past the end of targets, until the input ends or is refused.
func ReadFrames(b []byte, targets ...any) error {
	fr := newFrameReader(bytes.NewReader(b))
	for i := 0; ; i++ {
		f, err := fr.next()
		if err != nil {
			return err
		}
		if f.kind != kindCall {
			continue
		}
		var v any
		if i < len(targets) {
			v = targets[i]
		}
		if err := fr.decode(v); err != nil {
			return err
		}
	}
}

// WriteFrames encodes values as call frames, as a pool writes its stream.
func WriteFrames(values ...any) ([]byte, []error) {
	var b closeBuffer
	fw := newFrameWriter(&b)
	var errs []error
	for i, v := range values {
		errs = append(errs, fw.send(context.Background(), header{kind: kindCall, id: uint64(i), name: "f"}, v))
	}
	return b.Bytes(), errs
}

type closeBuffer struct{ bytes.Buffer }

func (*closeBuffer) Close() error { return nil }

// FrameLimit lowers the largest payload a pool sends, to test refusals
// without gigabytes.
func FrameLimit(n int) Option { return optionFunc(func(c *config) { c.frameLimit = n }) }

// CancelPosition sends a call frame with an n-byte input into a pipe and,
// once the frame's first piece has been read from the pipe, a cancel frame.
// It returns the position of the cancel among the frames read, and how
// many frames there were.
func CancelPosition(n int) (cancelAt, frames int, err error) {
	pr, pw := io.Pipe()
	fw := newFrameWriter(pw)
	sent := make(chan error, 1)
	go func() {
		sent <- fw.send(context.Background(), header{kind: kindCall, id: 1, name: "f"}, make([]byte, n))
	}()
	cancelAt = -1
	var cancelled chan error
	last := false
	for {
		var lenb [4]byte
		if _, err := io.ReadFull(pr, lenb[:]); err != nil {
			return cancelAt, frames, err
		}
		body := make([]byte, binary.BigEndian.Uint32(lenb[:]))
		if _, err := io.ReadFull(pr, body); err != nil {
			return cancelAt, frames, err
		}
		if body[0] == kindCancel {
			cancelAt = frames
		}
		frames++
		if cancelled == nil {
			cancelled = make(chan error, 1)
			go func() { cancelled <- fw.sendCancel(1, context.Canceled) }()
			// Read on only once the cancel is queued (or being
			// written), however late its goroutine runs.
			for {
				fw.mu.Lock()
				queued := fw.queued
				fw.mu.Unlock()
				if queued > 0 {
					break
				}
				runtime.Gosched()
			}
		}
		if (body[0] == kindMore || body[0] == kindCall) && body[1]&flagMore == 0 {
			last = true
		}
		if last && cancelAt >= 0 {
			break
		}
	}
	if err := <-sent; err != nil {
		return cancelAt, frames, err
	}
	return cancelAt, frames, <-cancelled
}

// AbortedSend sends a call frame with an n-byte input into a pipe, with a
// context cancelled once the frame's first piece has been read. It returns
// send's error, the frames read, and whether the last was an abort.
func AbortedSend(n int) (sendErr error, frames int, aborted bool, err error) {
	pr, pw := io.Pipe()
	fw := newFrameWriter(pw)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		sent <- fw.send(ctx, header{kind: kindCall, id: 1, name: "f"}, make([]byte, n))
		fw.close()
	}()
	for {
		var lenb [4]byte
		if _, err := io.ReadFull(pr, lenb[:]); err != nil {
			if err == io.EOF {
				err = nil
			}
			return <-sent, frames, aborted, err
		}
		body := make([]byte, binary.BigEndian.Uint32(lenb[:]))
		if _, err := io.ReadFull(pr, body); err != nil {
			return nil, frames, aborted, err
		}
		frames++
		aborted = body[0] == kindMore && body[1]&flagAbort != 0
		cancel()
	}
}
