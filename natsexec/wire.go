package natsexec

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The protocol. Every message starts with the protocol byte (0xB0 plus
// the version) and its kind; integers are uvarints, strings a uvarint
// length and their bytes; values and WireErrors travel in the codec's
// wire form. Subjects, under the prefix P:
//
//	P.w.TOKEN   a worker's own subject: calls and cancels for it
//	P.hb        workers' heartbeats and goodbyes, which pools listen to
//	P.ping      a pool asking every worker for a heartbeat at once
//	INBOX.ID.N  a pool's reply subject for call ID (ID > 0), whose nonce N
//	            is 128 random bits (22 characters of unpadded base64url):
//	            the result, or the server's no-responders status
//	INBOX.0     leases the workers renew for the pool's running calls,
//	            and workers' answers to the pool's ping
//
// The nonce is why no other client can take a call's place: a worker
// knows a call by its whole reply subject, and cancels and renewals name
// the nonce too, so that only the worker that received a call, and the
// server, know its subject before its reply. IDs alone, which follow one
// another, would let a client allowed to send calls send one first with
// another pool's next reply subject, which the worker would run in place
// of the genuine call, dropped as a duplicate (version 1 did so).
//
// Messages of the first, unversioned protocol (version 0) began with their
// kind, below 0x80; versions up to 15 can be told apart, later ones would
// be ignored as malformed. Every version keeps a heartbeat's first fields (after
// the protocol byte and the kind: token, name), so that a pool can name the
// workers it cannot talk to; a worker answers any message of another
// version that has a reply subject with kindMismatch.
const (
	protocolVersion      = 2
	protoBase       byte = 0xB0
	protoByte            = protoBase + protocolVersion
)

const (
	kindCall      byte = 1 + iota // timeout, fn, input
	kindCancel                    // reply subject (with its nonce), cause (WireError)
	kindResult                    // free, result
	kindError                     // free, error (WireError)
	kindBusy                      // free: refused, not run
	kindRenew                     // token, (id, nonce) of each running call
	kindHeartbeat                 // token, name, capacity, running, interval
	kindBye                       // token, name, capacity, running, interval, secret: the worker stopped
	kindPing                      // (empty)
	kindMismatch                  // (empty): the worker does not speak the call's version
)

// Bounds on what a heartbeat may claim, so that a wrong or forged one
// cannot name an invalid subject, draw unbounded calls, or stretch leases
// without end (see [Concurrency], [Heartbeat], [WorkerName]).
const (
	maxTokenLen    = 64
	maxNameLen     = 256
	maxConcurrency = 1 << 16
	maxHeartbeat   = time.Minute
)

var errMalformed = errors.New("natsexec: malformed message")

// nonceLen is the length of a call's nonce: 128 random bits in unpadded
// base64url.
const nonceLen = 22

// newNonce returns a call's nonce, from crypto/rand.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (see its documentation)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validNonce reports whether s has the form of a nonce.
func validNonce(s string) bool { return len(s) == nonceLen && validToken(s) }

// parseReplySubject splits a call's reply subject, INBOX.ID.NONCE, into
// the pool's inbox, the call's ID (above 0) and its nonce.
func parseReplySubject(subject string) (inbox string, id uint64, nonce string, ok bool) {
	dot := strings.LastIndexByte(subject, '.')
	if dot < 0 {
		return "", 0, "", false
	}
	rest, nonce := subject[:dot], subject[dot+1:]
	dot = strings.LastIndexByte(rest, '.')
	if dot < 0 || !validNonce(nonce) {
		return "", 0, "", false
	}
	id, err := strconv.ParseUint(rest[dot+1:], 10, 64)
	if err != nil || id == 0 {
		return "", 0, "", false
	}
	return rest[:dot], id, nonce, true
}

// newMsg starts a message of the given kind, with room for n more bytes.
func newMsg(kind byte, n int) []byte {
	return append(make([]byte, 0, 2+n), protoByte, kind)
}

// head splits a message into its protocol version, its kind and the rest.
func head(b []byte) (version int, kind byte, body []byte, ok bool) {
	switch {
	case len(b) == 0:
		return 0, 0, nil, false
	case b[0] < 0x80: // the unversioned protocol
		return 0, b[0], b[1:], true
	case b[0] >= protoBase && b[0] < protoBase+0x10 && len(b) >= 2:
		return int(b[0] - protoBase), b[1], b[2:], true
	}
	return 0, 0, nil, false
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader reads the fields of a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errMalformed
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) string() string { return string(r.bytes()) }

// validToken reports whether s may name a worker's subject: 1 to 64 of
// [A-Za-z0-9_-], so that it is one subject token, without wildcards.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > maxTokenLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// tokenFor returns the token of a worker whose secret is secret. A
// worker's goodbye carries its secret, which no one else knows before
// then: a pool believes a goodbye only if the secret yields the token, so
// that a client that learnt the token cannot evict the worker.
func tokenFor(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// heartbeat is what a worker tells pools about itself.
type heartbeat struct {
	token    string // names the worker's subject
	name     string // for people: host:pid unless set with WorkerName
	capacity int
	running  int
	interval time.Duration
	secret   []byte // in a goodbye only
}

func (h heartbeat) append(b []byte, kind byte) []byte {
	b = append(b, protoByte, kind)
	b = appendString(b, h.token)
	b = appendString(b, h.name)
	b = binary.AppendUvarint(b, uint64(h.capacity))
	b = binary.AppendUvarint(b, uint64(h.running))
	b = binary.AppendUvarint(b, uint64(h.interval))
	if kind == kindBye {
		b = binary.AppendUvarint(b, uint64(len(h.secret)))
		b = append(b, h.secret...)
	}
	return b
}

// parseHeartbeat parses the body of a heartbeat or goodbye of this
// protocol version. It rejects invalid tokens and names, and clamps the
// capacity and the interval to their bounds.
func parseHeartbeat(kind byte, b []byte) (heartbeat, error) {
	r := reader{b: b}
	h := heartbeat{token: r.string(), name: r.string()}
	h.capacity = int(min(r.uint(), maxConcurrency))
	h.running = int(min(r.uint(), maxConcurrency))
	h.interval = time.Duration(min(r.uint(), uint64(maxHeartbeat)))
	if kind == kindBye {
		h.secret = r.bytes()
	}
	switch {
	case r.err != nil:
		return h, r.err
	case !validToken(h.token), len(h.name) > maxNameLen, h.capacity < 1, h.interval <= 0:
		return h, errMalformed
	}
	return h, nil
}

// parseIdentity returns the token and name that begin the body of a
// heartbeat of any protocol version.
func parseIdentity(b []byte) (token, name string, err error) {
	r := reader{b: b}
	token, name = r.string(), r.string()
	if r.err == nil && (len(token) > maxTokenLen || len(name) > maxNameLen) {
		r.err = errMalformed
	}
	return token, name, r.err
}

// parseCall parses the body of a call.
func parseCall(b []byte) (timeout time.Duration, fn string, input []byte, err error) {
	r := reader{b: b}
	timeout = time.Duration(min(r.uint(), 1<<63-1))
	fn = r.string()
	return timeout, fn, r.b, r.err
}

// parseCancel parses the body of a cancel: the call's reply subject and
// the cause's wire form.
func parseCancel(b []byte) (reply string, cause []byte, err error) {
	r := reader{b: b}
	reply = r.string()
	return reply, r.b, r.err
}

// parseReply parses the body of a result, an error or a refusal: the
// worker's free slots and the wire form of the value.
func parseReply(b []byte) (free uint64, data []byte, err error) {
	r := reader{b: b}
	free = r.uint()
	return free, r.b, r.err
}

// renewal is one running call named in a renewal.
type renewal struct {
	id    uint64
	nonce string
}

// parseRenew parses the body of a renewal: the worker's token and the id
// and nonce of each call it runs.
func parseRenew(b []byte) (token string, calls []renewal, err error) {
	r := reader{b: b}
	token = r.string()
	n := r.uint()
	if r.err == nil && n > uint64(len(r.b)/2) { // a call takes two bytes at least
		r.err = errMalformed
	}
	if r.err != nil {
		return token, nil, r.err
	}
	calls = make([]renewal, 0, n)
	for range n {
		calls = append(calls, renewal{id: r.uint(), nonce: r.string()})
	}
	return token, calls, r.err
}
