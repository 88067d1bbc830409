package natsexec

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// A codec carries values with encoding/gob, as the subprocess package
// does, but over messages rather than a stream.
//
// A gob stream describes each type once, and decoding a type description
// is what makes gob slow for short messages (a fresh encoder and decoder per
// message cost tens of microseconds, against about one for a long-lived
// pair). NATS messages are independent, so a message cannot rely on an
// earlier one. The codec keeps one long-lived encoder per Go type and sends,
// with every value, the type descriptions that encoder has produced so far
// (a few hundred bytes at most); the receiving codec keeps decoders already
// primed with those exact descriptions, keyed by their bytes, and feeds
// them only the value. A message is thus self-contained, yet encoded and
// decoded at the cost of a gob stream.
//
// Values of types that hold interfaces are the exception: gob describes the
// concrete type of an interface value inside the value itself, and only the
// first time, so that such values cannot be decoded apart from the stream
// they were encoded in. They travel as a whole gob stream each, encoded and
// decoded by a fresh encoder and decoder (correct, and slower).
//
// The wire form of a value is a byte saying which form follows; then
// either uvarint len(defs), defs and the value message, where defs and the
// value message are gob messages as a gob stream holds them, or a whole gob
// stream. A codec is safe for concurrent use.
type codec struct {
	mu   sync.Mutex
	encs map[reflect.Type]*typeEncoder
	decs map[string]*decoderStack // idle decoders, by descriptions
	kept int                      // bytes held by decs (see push)
}

func newCodec() *codec {
	return &codec{encs: make(map[reflect.Type]*typeEncoder), decs: make(map[string]*decoderStack)}
}

// typeEncoder is the long-lived gob encoder of one type.
type typeEncoder struct {
	stream bool // the type holds interfaces: send a whole stream

	mu   sync.Mutex
	buf  bytes.Buffer
	enc  *gob.Encoder
	defs []byte // every type description enc has written
}

// appendEncode appends the wire form of v to dst.
func (c *codec) appendEncode(dst []byte, v any) ([]byte, error) {
	t := reflect.TypeOf(v)
	c.mu.Lock()
	te := c.encs[t]
	if te == nil {
		te = &typeEncoder{stream: holdsInterface(t, make(map[reflect.Type]bool))}
		te.enc = gob.NewEncoder(&te.buf)
		c.encs[t] = te
	}
	c.mu.Unlock()

	if te.stream {
		var buf bytes.Buffer
		buf.WriteByte(formStream)
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			return dst, err
		}
		return append(dst, buf.Bytes()...), nil
	}
	te.mu.Lock()
	defer te.mu.Unlock()
	te.buf.Reset()
	if err := te.enc.Encode(v); err != nil {
		// The encoder may have recorded types it did not send: start over.
		te.enc, te.defs = gob.NewEncoder(&te.buf), nil
		return dst, err
	}
	b := te.buf.Bytes()
	var value []byte
	for len(b) > 0 {
		n, w, ok := gobUint(b)
		if !ok || uint64(len(b)-w) < n {
			return dst, errors.New("natsexec: gob wrote a malformed message")
		}
		msg := b[:w+int(n)]
		id, _, ok := gobInt(b[w : w+int(n)])
		if !ok {
			return dst, errors.New("natsexec: gob wrote a malformed message")
		}
		if id >= 0 {
			value = b // the value, and nothing else, follows the descriptions
			break
		}
		te.defs = append(te.defs, msg...)
		b = b[len(msg):]
	}
	if value == nil {
		return dst, errors.New("natsexec: gob wrote no value")
	}
	dst = append(dst, formPrimed)
	dst = binary.AppendUvarint(dst, uint64(len(te.defs)))
	dst = append(dst, te.defs...)
	dst = append(dst, value...)
	if te.buf.Cap() > maxKeptValue {
		te.buf = bytes.Buffer{} // do not hold the largest value ever sent
	}
	return dst, nil
}

// decode decodes the wire form data into v, a pointer (or nil to discard).
func (c *codec) decode(data []byte, v any) error {
	if len(data) == 0 {
		return errors.New("natsexec: malformed value")
	}
	form, data := data[0], data[1:]
	if form == formStream {
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
			return fmt.Errorf("natsexec: gob: %w", err)
		}
		return nil
	}
	n, w := binary.Uvarint(data)
	if w <= 0 || uint64(len(data)-w) < n {
		return errors.New("natsexec: malformed value")
	}
	defs, value := data[w:w+int(n)], data[w+int(n):]
	d := c.pop(defs)
	if d == nil {
		d = &primedDecoder{}
		d.r.Reset(append(defs[:len(defs):len(defs)], value...))
		d.dec = gob.NewDecoder(&d.r)
	} else {
		d.r.Reset(value)
	}
	if err := d.dec.Decode(v); err != nil {
		return fmt.Errorf("natsexec: gob: %w", err)
	}
	if d.r.Len() != 0 {
		return errors.New("natsexec: malformed value: trailing bytes")
	}
	c.push(defs, d, len(value))
	return nil
}

// Bounds on what a codec keeps, so that neither large values nor a peer
// sending ever new type descriptions make it hold much memory: a decoder
// keeps a buffer as large as the largest value it decoded, and the keys
// of decs are the descriptions themselves.
const (
	maxKeptValue    = 64 << 10 // a decoder that decoded a larger value is dropped
	maxKeptDefs     = 16 << 10 // and one primed with larger descriptions
	maxIdleDecoders = 16       // idle decoders kept for one set of descriptions
	maxKeptBytes    = 4 << 20  // the bytes of the idle decoders and their keys
	decoderOverhead = 16 << 10 // a gob decoder's own state, roughly (measured: 10-15 KiB)
)

// pop returns an idle decoder primed with defs, or nil.
func (c *codec) pop(defs []byte) *primedDecoder {
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := c.decs[string(defs)]
	if ds == nil || len(ds.idle) == 0 {
		return nil
	}
	d := ds.idle[len(ds.idle)-1]
	ds.idle = ds.idle[:len(ds.idle)-1]
	c.kept -= d.size
	return d
}

// push keeps d, primed with defs, which decoded a value of size bytes
// without error, for a later value. Decoders that failed are never kept:
// their state is unknown, and the descriptions may be garbage.
func (c *codec) push(defs []byte, d *primedDecoder, size int) {
	if size > maxKeptValue || len(defs) > maxKeptDefs {
		return
	}
	d.r.Reset(nil) // do not hold the message
	d.size = max(d.size, size+decoderOverhead)
	c.mu.Lock()
	defer c.mu.Unlock()
	ds := c.decs[string(defs)]
	cost := d.size
	if ds == nil {
		cost += len(defs)
	}
	if ds != nil && len(ds.idle) >= maxIdleDecoders {
		return
	}
	// Make room, dropping the decoders of other descriptions, whichever
	// the map yields first: peers of one build use few types, so that this
	// happens only with many types, or a hostile peer.
	for k, other := range c.decs {
		if c.kept+cost <= maxKeptBytes {
			break
		}
		if other == ds {
			continue
		}
		delete(c.decs, k)
		c.kept -= len(k)
		for _, o := range other.idle {
			c.kept -= o.size
		}
	}
	if c.kept+cost > maxKeptBytes {
		return
	}
	if ds == nil {
		ds = &decoderStack{}
		c.decs[string(defs)] = ds
	}
	ds.idle = append(ds.idle, d)
	c.kept += cost
}

// The forms of a value on the wire.
const (
	formPrimed byte = iota // descriptions, then the value
	formStream             // a whole gob stream
)

// holdsInterface reports whether values of type t can hold interface
// values that gob would encode (in exported fields, elements, keys).
func holdsInterface(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	for _, m := range []reflect.Type{gobEncoderType, binaryMarshalerType, textMarshalerType} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return false // gob uses the type's own encoding
		}
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem(), seen)
	case reflect.Map:
		return holdsInterface(t.Key(), seen) || holdsInterface(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsInterface(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

var (
	gobEncoderType      = reflect.TypeFor[gob.GobEncoder]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// primedDecoder is a gob decoder that has read some type descriptions.
// Its reader is a bytes.Reader, an io.ByteReader, so that gob reads
// exactly one message per value and never buffers ahead.
type primedDecoder struct {
	r    bytes.Reader
	dec  *gob.Decoder
	size int // what it holds, roughly: see push
}

// decoderStack holds idle decoders primed with the same descriptions.
type decoderStack struct {
	idle []*primedDecoder
}

// gobUint decodes an unsigned integer as gob encodes it: values below 128
// in one byte, others as a negated byte count and big-endian bytes.
func gobUint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1, true
	}
	k := -int(int8(b[0]))
	if k > 8 || len(b) < 1+k {
		return 0, 0, false
	}
	for _, c := range b[1 : 1+k] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + k, true
}

// gobInt decodes a signed integer as gob encodes it.
func gobInt(b []byte) (int64, int, bool) {
	u, n, ok := gobUint(b)
	if u&1 != 0 {
		return ^int64(u >> 1), n, ok
	}
	return int64(u >> 1), n, ok
}
