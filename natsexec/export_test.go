package natsexec

// RoundTrip encodes v with one codec and decodes it into out with another,
// as a pool and a worker do.
func RoundTrip(enc, dec any, v, out any) error {
	b, err := enc.(*codec).appendEncode(nil, v)
	if err != nil {
		return err
	}
	return dec.(*codec).decode(b, out)
}

// NewCodec returns a codec.
func NewCodec() any { return newCodec() }

// Waiters returns how many calls wait for a worker with room.
func Waiters(p *Pool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters
}

// CodecKept returns the bytes a codec accounts for holding in idle
// decoders, and how many sets of descriptions it keeps.
func CodecKept(c any) (bytes, sets int) {
	k := c.(*codec)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kept, len(k.decs)
}

// MaxKeptBytes is the bound on CodecKept's bytes.
const MaxKeptBytes = maxKeptBytes

// DecodeWire decodes the wire form b into v with c.
func DecodeWire(c any, b []byte, v any) error { return c.(*codec).decode(b, v) }

// EncodeWire returns the wire form of v, encoded by c.
func EncodeWire(c any, v any) ([]byte, error) { return c.(*codec).appendEncode(nil, v) }
