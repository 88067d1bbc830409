package natsexec

import (
	"encoding/binary"
	"time"
)

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

// ForgeHeartbeat returns a heartbeat of this protocol version, or with
// bye a goodbye carrying secret, saying what a hostile client wants.
func ForgeHeartbeat(token, name string, capacity uint64, interval time.Duration, bye bool, secret []byte) []byte {
	kind := kindHeartbeat
	if bye {
		kind = kindBye
	}
	b := appendString(newMsg(kind, 0), token)
	b = appendString(b, name)
	b = binary.AppendUvarint(b, capacity)
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(interval))
	if bye {
		b = binary.AppendUvarint(b, uint64(len(secret)))
		b = append(b, secret...)
	}
	return b
}

// HeartbeatV0 returns a heartbeat of the unversioned protocol.
func HeartbeatV0(token, name string, capacity int) []byte {
	b := appendString([]byte{kindHeartbeat}, token)
	b = appendString(b, name)
	b = binary.AppendUvarint(b, uint64(capacity))
	b = binary.AppendUvarint(b, 0)
	return binary.AppendUvarint(b, uint64(time.Second))
}

// HeartbeatToken returns the token in a heartbeat of this version.
func HeartbeatToken(b []byte) (string, error) {
	_, kind, body, ok := head(b)
	if !ok {
		return "", errMalformed
	}
	h, err := parseHeartbeat(kind, body)
	return h.token, err
}

// Message returns a message of protocol version v and the given kind.
func Message(v int, kind byte, body []byte) []byte {
	return append([]byte{protoBase + byte(v), kind}, body...)
}

// The protocol version and the kinds the tests forge.
const (
	ProtocolVersion = protocolVersion

	KindCall     = kindCall
	KindResult   = kindResult
	KindMismatch = kindMismatch
	KindPing     = kindPing
	ProtoByte    = protoByte
)

// WorkerInfo returns what the pool believes of the worker with token.
func WorkerInfo(p *Pool, token string) (capacity int, lease time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[token]
	if w == nil || w.gone {
		return 0, 0, false
	}
	return w.capacity, w.lease, true
}

// WorkerTokens returns the tokens of the workers the pool knows.
func WorkerTokens(p *Pool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var tokens []string
	for t, w := range p.workers {
		if !w.gone {
			tokens = append(tokens, t)
		}
	}
	return tokens
}

// Inbox returns the pool's inbox.
func Inbox(p *Pool) string { return p.inbox }

// CallMsg returns a call of fn with v as input, as a pool sends it.
func CallMsg(fn string, v any) []byte {
	in, err := newCodec().appendEncode(nil, v)
	if err != nil {
		panic(err)
	}
	b := binary.AppendUvarint(newMsg(kindCall, 0), 0)
	return append(appendString(b, fn), in...)
}

// ParseMessage parses b as the pools and workers do, whatever its kind,
// and returns the heartbeat it holds, if any.
func ParseMessage(b []byte) (hb *ParsedHeartbeat, err error) {
	version, kind, body, ok := head(b)
	if !ok {
		return nil, errMalformed
	}
	if version != protocolVersion {
		_, _, err := parseIdentity(body)
		return nil, err
	}
	switch kind {
	case kindCall:
		_, _, _, err = parseCall(body)
	case kindCancel:
		_, _, err = parseCancel(body)
	case kindResult, kindError, kindBusy:
		_, _, err = parseReply(body)
	case kindRenew:
		_, _, err = parseRenew(body)
	case kindHeartbeat, kindBye:
		h, err := parseHeartbeat(kind, body)
		if err != nil {
			return nil, err
		}
		return &ParsedHeartbeat{Token: h.token, Name: h.name, Capacity: h.capacity, Interval: h.interval}, nil
	}
	return nil, err
}

// ParsedHeartbeat is what ParseMessage found in a heartbeat.
type ParsedHeartbeat struct {
	Token, Name string
	Capacity    int
	Interval    time.Duration
}

// Bounds on heartbeats.
const (
	MaxConcurrency = maxConcurrency
	MaxHeartbeat   = maxHeartbeat
)

// ValidToken reports whether a pool takes s as a token.
func ValidToken(s string) bool { return validToken(s) }

// RenewMsg returns a renewal, by the worker with token, of the call id
// whose reply subject ends with nonce.
func RenewMsg(token string, id uint64, nonce string) []byte {
	b := appendString(newMsg(kindRenew, 0), token)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, id)
	return appendString(b, nonce)
}
