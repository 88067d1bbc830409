package subprocess

import (
	"io"
	"sync"
)

// tailWriter copies what a worker writes to its standard error to w, and
// keeps the last max bytes for crash reports.
type tailWriter struct {
	w   io.Writer
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailWriter(w io.Writer, max int) *tailWriter {
	return &tailWriter{w: w, max: max}
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.w != nil {
		t.w.Write(p) // the parent's stderr failing must not stop the worker
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return len(p), nil
	}
	if len(t.buf)+len(p) > 2*t.max { // compact now and then, not per write
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-(t.max-len(p)):]...)
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// String returns the last bytes written, at most max.
func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}
