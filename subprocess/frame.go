package subprocess

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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
//	...     kind-specific header (the first frame of a call: its deadline
//	        as int64 Unix seconds and uint32 nanoseconds, valid if
//	        flagDeadline is set, and its function name, uint16 length first)
//	...     payload
//
// The payloads of calls, results and errors ("stream frames") are values
// encoded with one long-lived gob encoder per direction: gob sends a type's
// description once per stream, so a per-message encoder would re-describe
// every type in every frame (measured at ~21 µs against ~0.7 µs per
// message). Those payloads are therefore one gob stream cut at value
// boundaries, and both ends must agree on what the stream has described:
//
//   - A value that fails to encode is not sent (or, if pieces of it were,
//     its frame is aborted), and the writer starts a new encoder; the next
//     stream frame carries flagReset, telling the reader to start a new
//     decoder too.
//   - A payload that fails to decode fails only its call: the frame is
//     self-delimiting, so the stream stays in step, and the reader sends
//     kindReset back, so that the writer starts afresh (a failed decode may
//     have skipped type descriptions nested inside the value).
//   - After a payload of more than resetAfter bytes, both ends start afresh
//     without being told, which frees the buffers gob keeps at their
//     high-water mark.
//
// A stream frame's payload is cut into pieces of at most chunkSize bytes:
// the first piece has the frame's kind, the others kindMore, and all but
// the last have flagMore. Cancel and reset frames ("priority frames") are
// self-contained: they never wait for room behind a large frame, nor for
// the encoder, and may come between the pieces of one, so that a cancel
// never waits for a large input to be written.
const (
	kindHello  byte = iota + 1 // worker → parent, first frame; the ID is protoVersion; payload: the build's fingerprint (raw)
	kindCall                   // parent → worker: ID, deadline, name; payload: the input
	kindCancel                 // parent → worker, priority: cancel a call; payload: a *WireError of the cause in a gob encoding of its own
	kindResult                 // worker → parent: payload: the result
	kindError                  // worker → parent: payload: *WireError
	kindMore                   // either way: the next piece of the stream frame being sent
	kindReset                  // either way, priority: a payload failed to decode; start a new encoder
)

const (
	// flagReset tells the reader to start a new gob decoder before this
	// frame's payload: the writer started a new encoder.
	flagReset byte = 1 << iota
	// flagDeadline marks a call frame whose deadline field holds a
	// deadline. It travels as seconds and nanoseconds, which hold any
	// time.Time: Unix nanoseconds overflow after the year 2262, and
	// context.WithTimeout(ctx, math.MaxInt64) gives such deadlines.
	flagDeadline
	// flagMore says that the frame's payload goes on in a kindMore frame.
	flagMore
	// flagAbort, on a kindMore frame, drops the frame being assembled: its
	// value failed to encode after pieces of it were sent.
	flagAbort
)

const (
	protoVersion = 3
	headerSize   = 4 + 1 + 1 + 8
	callHeader   = 8 + 4 + 2
	maxFrame     = 1 << 30 // the largest payload of a stream frame
	// maxName is the longest function name a call frame can carry.
	maxName = 1<<16 - 1
	// chunkSize is the largest piece of a payload in one frame.
	chunkSize = 256 << 10
	// maxPiece bounds the length field of a frame.
	maxPiece = headerSize - 4 + callHeader + maxName + chunkSize
	// queueLimit is how many bytes of stream frames may wait to be
	// written; a priority frame waits behind at most that much.
	queueLimit = 1 << 20
	// resetAfter is the payload size after which both ends start a new
	// gob encoder and decoder, dropping the buffers grown for it.
	resetAfter = 1 << 20
)

// errWriterClosed is returned for frames sent after the stream was closed.
var errWriterClosed = errors.New("subprocess: stream closed")

// errSendCancelled is returned by send when its context ended before the
// last piece of the frame was queued: the frame was aborted.
var errSendCancelled = errors.New("subprocess: send cancelled")

type header struct {
	kind     byte
	id       uint64
	deadline time.Time // kindCall: the zero Time for none
	name     string    // kindCall: the registered function's name, at most maxName bytes
	// queued, if not nil, is set once the frame's first piece is queued:
	// a call from then on reaches the worker or is aborted. For tests
	// (InFlight).
	queued *atomic.Bool
}

// frameWriter writes frames to one stream.
//
// Stream frames are encoded one at a time (encMu), piece by piece, each
// piece appended to a queue. Whichever sender finds no write in progress
// becomes the writer and writes what is queued, again and again until the
// queue is empty, outside the lock: under load this turns many frames into
// one write system call without a goroutine of its own, and alone, a
// sender writes its own frame at once. A stream sender waits while the
// queue holds queueLimit bytes (and takes over the writing when the writer
// sees it waiting), so a large value is never copied whole; priority
// frames never wait for room, so they are written after at most queueLimit
// bytes of others.
type frameWriter struct {
	encMu    sync.Mutex // held while a stream frame is encoded and queued
	enc      *gob.Encoder
	pw       pieceWriter
	reset    bool        // the next stream frame carries flagReset; guarded by encMu
	resetReq atomic.Bool // the peer asked for a new encoder
	limit    int         // the largest payload accepted

	mu      sync.Mutex
	room    sync.Cond // signalled when the queue shrinks or the writer stops
	w       io.WriteCloser
	q       []byte // frames waiting to be written
	spare   []byte // the buffer being written, reused
	writing bool
	waiting int   // stream senders waiting for room
	closed  bool  // no more frames are accepted
	err     error // first write error; frames are then dropped
	frames  int   // frames accepted, for tests
	queued  int   // priority frames queued, for tests
}

func newFrameWriter(w io.WriteCloser) *frameWriter {
	fw := &frameWriter{w: w, limit: maxFrame}
	fw.room.L = &fw.mu
	fw.pw.fw = fw
	fw.enc = gob.NewEncoder(&fw.pw)
	return fw
}

// newEncoder replaces the encoder; the next stream frame tells the reader.
// encMu must be held.
func (fw *frameWriter) newEncoder() {
	fw.enc = gob.NewEncoder(&fw.pw)
	fw.reset = true
}

// send encodes one stream frame with v as its payload and queues it. An
// error in encoding v is returned and the frame is not delivered (nothing
// of it is sent, or its pieces are aborted); so is errSendCancelled if ctx
// ends before the frame's last piece is queued. A write
// error is recorded and shows up as the death of the peer.
func (fw *frameWriter) send(ctx context.Context, h header, v any) error {
	fw.encMu.Lock()
	defer fw.encMu.Unlock()
	if fw.resetReq.Swap(false) {
		fw.newEncoder()
	}
	pw := &fw.pw
	pw.ctx, pw.h, pw.total, pw.pieces, pw.err = ctx, h, 0, 0, nil
	defer func() { pw.ctx = nil }()
	pw.pend = pw.pend[:0]
	err := fw.encode(v)
	if err == nil && pw.err != nil {
		err = pw.err
	}
	if err == nil {
		if err = pw.emit(pw.pend, false); err != nil {
			pw.err = err
		}
	}
	pw.pend = pw.pend[:0]
	if err != nil {
		if pw.pieces > 0 && !errors.Is(err, errWriterClosed) {
			fw.put(ctx, appendHeader(nil, header{kind: kindMore, id: h.id}, flagAbort), nil, false)
		}
		fw.newEncoder()
		if pw.err != nil {
			return pw.err // the limit, the stream closed, or ctx
		}
		return err
	}
	if pw.total > resetAfter {
		fw.newEncoder() // drop the buffers gob grew for this value
	}
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

// pieceWriter is the gob encoder's writer: it cuts the frame being encoded
// into pieces and queues them. It is only used while encMu is held.
type pieceWriter struct {
	fw     *frameWriter
	ctx    context.Context // the sender's
	h      header
	pend   []byte // payload bytes not yet queued, less than chunkSize
	total  int    // payload bytes written by the encoder
	pieces int    // pieces queued
	err    error  // why Write failed
}

func (pw *pieceWriter) Write(p []byte) (int, error) {
	n := len(p)
	pw.total += n
	if pw.total > pw.fw.limit {
		pw.err = fmt.Errorf("subprocess: value of more than %d bytes exceeds the %d-byte frame limit", pw.total, pw.fw.limit)
		return 0, pw.err
	}
	// Keep at least one byte back for the last piece, which the encoder's
	// return marks.
	for len(pw.pend)+len(p) > chunkSize {
		var piece []byte
		if len(pw.pend) == 0 {
			piece, p = p[:chunkSize], p[chunkSize:]
		} else {
			k := chunkSize - len(pw.pend)
			pw.pend = append(pw.pend, p[:k]...)
			piece, p = pw.pend, p[k:]
		}
		if err := pw.emit(piece, true); err != nil {
			pw.err = err
			return 0, err
		}
		pw.pend = pw.pend[:0]
	}
	pw.pend = append(pw.pend, p...)
	return n, nil
}

// emit queues the next piece of the frame.
func (pw *pieceWriter) emit(piece []byte, more bool) error {
	fw := pw.fw
	if pw.ctx.Err() != nil {
		return errSendCancelled
	}
	var flags byte
	h := pw.h
	if pw.pieces == 0 {
		if fw.reset {
			flags |= flagReset
		}
	} else {
		h = header{kind: kindMore, id: h.id}
	}
	if more {
		flags |= flagMore
	}
	var hb [headerSize + callHeader]byte
	if err := fw.put(pw.ctx, appendHeader(hb[:0], h, flags), piece, true); err != nil {
		return err
	}
	if pw.pieces == 0 {
		fw.reset = false
		if h.queued != nil {
			h.queued.Store(true)
		}
	}
	pw.pieces++
	if !more {
		fw.mu.Lock()
		fw.frames++
		fw.mu.Unlock()
	}
	return nil
}

// sendPriority queues a frame that waits for nothing: a cancel, a reset
// request, the hello. Its payload is raw bytes.
func (fw *frameWriter) sendPriority(kind byte, id uint64, payload []byte) error {
	var hb [headerSize]byte
	if err := fw.put(context.Background(), appendHeader(hb[:0], header{kind: kind, id: id}, 0), payload, false); err != nil {
		return err
	}
	fw.mu.Lock()
	fw.frames++
	fw.mu.Unlock()
	return nil
}

// sendCancel queues a cancel frame for call id; its payload is the
// cause's WireError in a gob encoding of its own.
func (fw *frameWriter) sendCancel(id uint64, cause error) error {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(NewWireError(cause)); err != nil {
		return err
	}
	return fw.sendPriority(kindCancel, id, b.Bytes())
}

// put queues one frame (or piece): its header, whose length field it
// fills in, and payload. It writes the queue if no one else is. A stream
// piece (stream) waits for room in the queue, and returns
// errSendCancelled if ctx ends meanwhile: the writer may be stuck for good
// (the peer stopped reading), and the sender must not wait with it. Other
// frames never wait for room: they are small, and one per frame at most
// (a priority frame, or the abort that ends a cancelled frame).
func (fw *frameWriter) put(ctx context.Context, hdr, payload []byte, stream bool) error {
	binary.BigEndian.PutUint32(hdr, uint32(len(hdr)-4+len(payload)))
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if stream && fw.writing && len(fw.q) >= queueLimit && !fw.closed {
		stop := context.AfterFunc(ctx, func() {
			fw.mu.Lock()
			fw.room.Broadcast()
			fw.mu.Unlock()
		})
		defer stop()
		for fw.writing && len(fw.q) >= queueLimit && !fw.closed {
			if ctx.Err() != nil {
				return errSendCancelled
			}
			fw.waiting++
			fw.room.Wait()
			fw.waiting--
		}
	}
	if fw.closed {
		return errWriterClosed
	}
	fw.q = append(fw.q, hdr...)
	fw.q = append(fw.q, payload...)
	if !stream && hdr[4] != kindMore { // not an abort
		fw.queued++
	}
	if !fw.writing {
		fw.flushLocked()
	}
	return nil
}

// flushLocked writes the queue until it is empty, or until a stream sender
// waits for room: that sender then becomes the writer. fw.mu is held, and
// released while writing.
func (fw *frameWriter) flushLocked() {
	fw.writing = true
	for len(fw.q) > 0 {
		b := fw.q
		fw.q = fw.spare[:0]
		fw.mu.Unlock()
		var err error
		if fw.err == nil { // fw.err is only written by the writer
			_, err = fw.w.Write(b)
		}
		fw.mu.Lock()
		if err != nil {
			fw.err = err
		}
		fw.spare = nil
		if cap(b) <= 2*queueLimit { // do not keep a huge buffer for ever
			fw.spare = b[:0]
		}
		fw.room.Broadcast()
		if fw.waiting > 0 && !fw.closed {
			break
		}
	}
	fw.writing = false
	fw.room.Broadcast()
	if fw.closed && len(fw.q) == 0 {
		fw.w.Close()
	}
}

// close stops the stream once what is queued has been written.
func (fw *frameWriter) close() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.closed {
		return
	}
	fw.closed = true
	fw.room.Broadcast()
	if !fw.writing { // else the writer closes it when done
		if len(fw.q) > 0 {
			fw.flushLocked()
		} else {
			fw.w.Close()
		}
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

// frameReader reads the frames of one stream, assembles stream frames from
// their pieces, and decodes their payloads with the stream's gob decoder.
type frameReader struct {
	r    *bufio.Reader
	body []byte // the last frame read
	pr   payloadReader
	dec  *gob.Decoder
	big  bool // the current payload is large: start a new decoder after it

	asm      []byte // the payload of the stream frame being assembled
	asmFrame frame  // its header; name is a copy
	asmReset bool   // its first piece had flagReset
	asmOn    bool
}

func newFrameReader(r io.Reader) *frameReader {
	fr := &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
	fr.dec = gob.NewDecoder(&fr.pr)
	return fr
}

// frame is a frame as read. name and payload alias the reader's buffers
// and are valid until the next call of next. The payload of a stream frame
// is read with decode, that of a priority frame is raw.
type frame struct {
	kind     byte
	id       uint64
	deadline time.Time
	name     []byte
	payload  []byte // priority frames only
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("subprocess: protocol error: "+format, args...)
}

// next reads the next whole frame. For a stream frame, it makes its
// payload the decoder's input: it must be decoded (or discarded with
// decode(nil)) before next is called again. Priority frames may arrive
// while a stream frame is being assembled.
func (fr *frameReader) next() (frame, error) {
	for {
		var f frame
		var lenb [4]byte
		if _, err := io.ReadFull(fr.r, lenb[:]); err != nil {
			return f, err
		}
		n := binary.BigEndian.Uint32(lenb[:])
		if n < headerSize-4 || n > maxPiece {
			return f, protoErr("frame of %d bytes", n)
		}
		if int(n) > cap(fr.body) {
			fr.body = make([]byte, n)
		}
		body := fr.body[:n]
		if _, err := io.ReadFull(fr.r, body); err != nil {
			return f, noEOF(err)
		}
		flags := body[1]
		f.kind, f.id = body[0], binary.BigEndian.Uint64(body[2:10])
		p := body[10:]
		switch f.kind {
		case kindHello, kindCancel, kindReset:
			f.payload = p
			return f, nil
		case kindMore:
			if !fr.asmOn || f.id != fr.asmFrame.id {
				return f, protoErr("stray piece of frame %d", f.id)
			}
			if flags&flagAbort != 0 {
				fr.asmOn, fr.asm = false, nil
				continue
			}
			if len(fr.asm)+len(p) > maxFrame {
				return f, protoErr("frame of more than %d bytes", maxFrame)
			}
			fr.asm = append(fr.asm, p...)
			if flags&flagMore != 0 {
				continue
			}
			f, p = fr.asmFrame, fr.asm
			flags = flags&^flagReset | boolFlag(fr.asmReset, flagReset)
			fr.asmOn, fr.asm = false, nil
		case kindCall, kindResult, kindError:
			if fr.asmOn {
				return f, protoErr("frame %d starts inside frame %d", f.id, fr.asmFrame.id)
			}
			if f.kind == kindCall {
				if len(p) < callHeader {
					return f, protoErr("short call frame")
				}
				if flags&flagDeadline != 0 {
					sec, nsec := int64(binary.BigEndian.Uint64(p)), binary.BigEndian.Uint32(p[8:])
					if nsec >= 1e9 {
						return f, protoErr("bad deadline")
					}
					f.deadline = time.Unix(sec, int64(nsec))
				}
				k := int(binary.BigEndian.Uint16(p[12:]))
				if len(p) < callHeader+k {
					return f, protoErr("short call frame")
				}
				f.name, p = p[callHeader:callHeader+k], p[callHeader+k:]
			}
			if flags&flagMore != 0 {
				f.name = append([]byte(nil), f.name...)
				fr.asmFrame, fr.asmReset, fr.asmOn = f, flags&flagReset != 0, true
				fr.asm = append(make([]byte, 0, 2*chunkSize), p...)
				continue
			}
		default:
			return f, protoErr("frame kind %d", f.kind)
		}
		if flags&flagReset != 0 {
			fr.dec = gob.NewDecoder(&fr.pr)
		}
		fr.pr.b = p
		fr.big = len(p) > resetAfter
		return f, nil
	}
}

func boolFlag(b bool, f byte) byte {
	if b {
		return f
	}
	return 0
}

// decode decodes the current stream frame's payload into v (a pointer), or
// discards it if v is nil. An error fails only this frame's value: the
// stream stays in step, and the caller should ask the writer for a new
// encoder (kindReset), since a failed decode may have skipped type
// descriptions.
func (fr *frameReader) decode(v any) error {
	err := fr.dec.Decode(v)
	left := len(fr.pr.b)
	fr.pr.b = nil
	if fr.big { // the writer starts afresh too
		fr.dec = gob.NewDecoder(&fr.pr)
		fr.big = false
	}
	if err == nil && left != 0 {
		err = errNotConsumed
	}
	return err
}

var errNotConsumed = errors.New("subprocess: protocol error: payload not consumed")

// decodeSelf decodes the payload of a priority frame, which is a gob
// encoding of its own, into v.
func decodeSelf(payload []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(payload)).Decode(v)
}

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
