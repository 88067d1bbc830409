package subprocess

import "bytes"

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

// InFlight returns the number of calls the pool's workers are running.
func InFlight(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for w := range p.all {
		n += w.inflight
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
		errs = append(errs, fw.send(header{kind: kindCall, id: uint64(i), name: "f"}, v))
	}
	return b.Bytes(), errs
}

type closeBuffer struct{ bytes.Buffer }

func (*closeBuffer) Close() error { return nil }
