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
