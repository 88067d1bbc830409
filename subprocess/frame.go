package subprocess

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// The protocol between a pool and its workers runs over two pipes that are
// not the worker's standard streams (those stay the user's): the parent
// writes frames to the worker's fd 3 and reads the worker's frames from its
// fd 4. A frame is
//
//	uint32  length of what follows (big endian)
//	uint8   kind
//	uint8   flags
//	uint64  call ID
//	...     kind-specific header (a call: its deadline as int64 Unix seconds
//	        and uint32 nanoseconds, valid if flagDeadline is set, and its
//	        function name, uint16 length first)
//	...     payload: the gob messages of one value
//
// Each direction has one long-lived gob encoder and decoder: gob sends a
// type's description once per stream, so a per-message encoder would
// re-describe every type in every frame (measured at ~21 µs against ~0.7 µs
// per message). The payloads of all frames of a direction are therefore one
// gob stream cut at value boundaries.
const (
	kindHello  byte = iota + 1 // worker → parent, first frame; the ID is protoVersion
	kindCall                   // parent → worker: ID, deadline, name; payload: the input
	kindCancel                 // parent → worker: cancel a call; payload: *WireError of the cause
	kindResult                 // worker → parent: payload: the result
	kindError                  // worker → parent: payload: *WireError
)

// flagReset tells the reader to start a new gob decoder before this frame's
// payload: the writer replaced its encoder after a value failed to encode,
// because a failed Encode may leave the encoder believing it has described
// types whose descriptions were never sent.
const flagReset byte = 1

// flagDeadline marks a call frame whose deadline field holds a deadline.
// The deadline travels as seconds and nanoseconds, which hold any
// time.Time: Unix nanoseconds overflow after the year 2262, and
// context.WithTimeout(ctx, math.MaxInt64) gives such deadlines.
const flagDeadline byte = 2

const (
	protoVersion = 2
	headerSize   = 4 + 1 + 1 + 8
	maxFrame     = 1 << 30
	// maxName is the longest function name a call frame can carry.
	maxName = 1<<16 - 1
)

// errWriterClosed is returned for frames sent after the stream was closed.
var errWriterClosed = errors.New("subprocess: stream closed")

type header struct {
	kind     byte
	id       uint64
	deadline time.Time // kindCall: the zero Time for none
	name     string    // kindCall: the registered function's name, at most maxName bytes
}

// frameWriter writes frames to one stream. Senders append their encoded frame
// to a buffer under the lock; whichever sender finds no write in progress
// becomes the writer and writes everything buffered, again and again until
// the buffer is empty, outside the lock. Under load this turns many frames
// into one write system call without a goroutine of its own; alone, a sender
// writes its own frame at once.
type frameWriter struct {
	mu      sync.Mutex
	w       io.WriteCloser
	buf     []byte // frames waiting to be written
	spare   []byte // the buffer being written, reused
	writing bool
	closed  bool  // no more frames are accepted
	err     error // first write error; frames are then dropped
	enc     *gob.Encoder
	reset   bool // the next frame carries flagReset
	frames  int  // frames accepted, for tests
}

func newFrameWriter(w io.WriteCloser) *frameWriter {
	fw := &frameWriter{w: w}
	fw.enc = gob.NewEncoder(appendWriter{fw})
	return fw
}

// appendWriter is the gob encoder's writer: it appends to the frame buffer.
// It is only used while fw.mu is held.
type appendWriter struct{ fw *frameWriter }

func (a appendWriter) Write(p []byte) (int, error) {
	a.fw.buf = append(a.fw.buf, p...)
	return len(p), nil
}

// send encodes one frame with v as its payload (none if hasPayload is
// false) and writes it, or leaves it for the sender that is writing. An
// error in encoding v is returned and nothing of the frame is sent; write
// errors are recorded and show up as the death of the peer.
func (fw *frameWriter) send(h header, v any, hasPayload bool) error {
	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		return errWriterClosed
	}
	start := len(fw.buf)
	var flags byte
	if fw.reset {
		flags = flagReset
	}
	fw.buf = appendHeader(fw.buf, h, flags)
	if hasPayload {
		if err := fw.encode(v); err != nil {
			fw.buf = fw.buf[:start]
			fw.enc = gob.NewEncoder(appendWriter{fw})
			fw.reset = true
			fw.mu.Unlock()
			return err
		}
	}
	n := len(fw.buf) - start - 4
	if n > maxFrame {
		fw.buf = fw.buf[:start]
		fw.enc = gob.NewEncoder(appendWriter{fw})
		fw.reset = true
		fw.mu.Unlock()
		return fmt.Errorf("subprocess: value of %d bytes exceeds the %d-byte frame limit", n, maxFrame)
	}
	binary.BigEndian.PutUint32(fw.buf[start:], uint32(n))
	fw.reset = false
	fw.frames++
	if fw.writing {
		fw.mu.Unlock()
		return nil
	}
	fw.writing = true
	for len(fw.buf) > 0 {
		b := fw.buf
		fw.buf = fw.spare[:0]
		fw.mu.Unlock()
		var err error
		if fw.err == nil { // fw.err is only written by the writer
			_, err = fw.w.Write(b)
		}
		fw.mu.Lock()
		if err != nil {
			fw.err = err
		}
		if cap(b) <= 1<<20 { // do not keep a huge buffer for ever
			fw.spare = b[:0]
		}
	}
	fw.writing = false
	if fw.closed {
		fw.w.Close()
	}
	fw.mu.Unlock()
	return nil
}

// encode runs the gob encoder, turning its panics (a nil pointer, a
// panicking GobEncode method) into errors.
func (fw *frameWriter) encode(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return fw.enc.Encode(v)
}

// close stops the stream once what is buffered has been written.
func (fw *frameWriter) close() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.closed {
		return
	}
	fw.closed = true
	if !fw.writing { // else the writer closes it when done
		fw.w.Close()
	}
}

func appendHeader(b []byte, h header, flags byte) []byte {
	if h.kind == kindCall && !h.deadline.IsZero() {
		flags |= flagDeadline
	}
	b = append(b, 0, 0, 0, 0, h.kind, flags)
	b = binary.BigEndian.AppendUint64(b, h.id)
	if h.kind == kindCall {
		b = binary.BigEndian.AppendUint64(b, uint64(h.deadline.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(h.deadline.Nanosecond()))
		b = binary.BigEndian.AppendUint16(b, uint16(len(h.name)))
		b = append(b, h.name...)
	}
	return b
}

// frameReader reads the frames of one stream and decodes their payloads with
// the stream's one gob decoder.
type frameReader struct {
	r    *bufio.Reader
	body []byte
	pr   payloadReader
	dec  *gob.Decoder
}

func newFrameReader(r io.Reader) *frameReader {
	fr := &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
	fr.dec = gob.NewDecoder(&fr.pr)
	return fr
}

// frame is a frame's header as read; name aliases the reader's buffer and is
// valid until the next call of next.
type frame struct {
	kind     byte
	id       uint64
	deadline time.Time
	name     []byte
}

// next reads the next frame and makes its payload the decoder's input. The
// previous frame's payload must have been decoded (or discarded with
// decode(nil)) first.
func (fr *frameReader) next() (frame, error) {
	var f frame
	var lenb [4]byte
	if _, err := io.ReadFull(fr.r, lenb[:]); err != nil {
		return f, err
	}
	n := binary.BigEndian.Uint32(lenb[:])
	if n < headerSize-4 || n > maxFrame {
		return f, fmt.Errorf("subprocess: protocol error: frame of %d bytes", n)
	}
	body, err := fr.readBody(int(n))
	if err != nil {
		return f, noEOF(err)
	}
	f.kind, f.id = body[0], binary.BigEndian.Uint64(body[2:10])
	if body[1]&flagReset != 0 {
		fr.dec = gob.NewDecoder(&fr.pr)
	}
	p := body[10:]
	if f.kind == kindCall {
		const fixed = 8 + 4 + 2
		if len(p) < fixed {
			return f, errors.New("subprocess: protocol error: short call frame")
		}
		if body[1]&flagDeadline != 0 {
			sec, nsec := int64(binary.BigEndian.Uint64(p)), binary.BigEndian.Uint32(p[8:])
			if nsec >= 1e9 {
				return f, errors.New("subprocess: protocol error: bad deadline")
			}
			f.deadline = time.Unix(sec, int64(nsec))
		}
		k := int(binary.BigEndian.Uint16(p[12:]))
		if len(p) < fixed+k {
			return f, errors.New("subprocess: protocol error: short call frame")
		}
		f.name, p = p[fixed:fixed+k], p[fixed+k:]
	}
	fr.pr.b = p
	return f, nil
}

// readBody reads n bytes into the reader's buffer. A large frame's buffer
// grows as its bytes arrive, so that a corrupt length cannot make the
// reader allocate a gigabyte up front.
func (fr *frameReader) readBody(n int) ([]byte, error) {
	const chunk = 1 << 20
	if n <= cap(fr.body) {
		body := fr.body[:n]
		_, err := io.ReadFull(fr.r, body)
		return body, err
	}
	body := fr.body[:0]
	for len(body) < n {
		k := min(n-len(body), chunk)
		body = slices.Grow(body, k)
		if _, err := io.ReadFull(fr.r, body[len(body):len(body)+k]); err != nil {
			return nil, err
		}
		body = body[:len(body)+k]
	}
	if cap(body) <= chunk { // do not keep a huge buffer for ever
		fr.body = body
	}
	return body, nil
}

// decode decodes the current frame's payload into v (a pointer), or
// discards it if v is nil. A payload left partly unread means the two ends
// disagree about the stream: errDesync, after which the stream is unusable.
func (fr *frameReader) decode(v any) error {
	err := fr.dec.Decode(v)
	if len(fr.pr.b) != 0 {
		fr.pr.b = nil
		return errDesync
	}
	return err
}

var errDesync = errors.New("subprocess: protocol error: payload not consumed")

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// payloadReader hands the gob decoder the current frame's payload. It is an
// io.ByteReader so that the decoder reads exactly one value's bytes instead
// of buffering ahead.
type payloadReader struct{ b []byte }

func (p *payloadReader) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.b)
	p.b = p.b[n:]
	return n, nil
}

func (p *payloadReader) ReadByte() (byte, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c, nil
}
