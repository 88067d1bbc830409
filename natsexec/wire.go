package natsexec

import (
	"encoding/binary"
	"errors"
	"time"
)

// The protocol. Every message starts with its kind; integers are uvarints,
// strings a uvarint length and their bytes; values and WireErrors travel
// in the codec's wire form. Subjects, under the prefix P:
//
//	P.w.TOKEN   a worker's own subject: calls and cancels for it
//	P.hb        workers' heartbeats and goodbyes, which pools listen to
//	P.ping      a pool asking every worker for a heartbeat at once
//	INBOX.ID    a pool's reply subject for call ID (ID > 0): the result,
//	            or the server's no-responders status
//	INBOX.0     leases the workers renew for the pool's running calls
const (
	kindCall      byte = 1 + iota // timeout, fn, input
	kindCancel                    // reply subject, cause (WireError)
	kindResult                    // free, result
	kindError                     // free, error (WireError)
	kindBusy                      // free: refused, not run
	kindRenew                     // token, ids of running calls
	kindHeartbeat                 // token, name, capacity, running, interval
	kindBye                       // token, name: the worker stopped
	kindPing                      // (empty)
)

var errMalformed = errors.New("natsexec: malformed message")

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

// heartbeat is what a worker tells pools about itself.
type heartbeat struct {
	token    string // names the worker's subject
	name     string // for people: host:pid unless set with WorkerName
	capacity int
	running  int
	interval time.Duration
}

func (h heartbeat) append(b []byte, kind byte) []byte {
	b = append(b, kind)
	b = appendString(b, h.token)
	b = appendString(b, h.name)
	b = binary.AppendUvarint(b, uint64(h.capacity))
	b = binary.AppendUvarint(b, uint64(h.running))
	return binary.AppendUvarint(b, uint64(h.interval))
}

func parseHeartbeat(b []byte) (heartbeat, error) {
	r := reader{b: b}
	h := heartbeat{
		token:    r.string(),
		name:     r.string(),
		capacity: int(r.uint()),
		running:  int(r.uint()),
		interval: time.Duration(r.uint()),
	}
	return h, r.err
}
