package natsexec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/structured-go/nursery/subprocess"
)

// Pool calls registered functions on the workers that [Serve] runs in other
// processes, on this machine or others, over NATS. It implements
// subprocess.WorkerPool, so that subprocess.Func.Call and
// subprocess.Func.Spawn run functions on remote workers exactly as on a
// subprocess.Pool:
//
//	out, err := hash.Call(ctx, pool, path)
//
// A call goes to the worker, among those heard from, with the most room
// for it (see [Concurrency]); when no worker has room, the call waits for
// one. Values travel with encoding/gob, as with subprocess.Pool.
//
// A Pool is safe for concurrent use. It must be closed with [Pool.Close],
// after the calls made through it have returned; the *nats.Conn stays the
// caller's to close, after the pool.
type Pool struct {
	nc      *nats.Conn
	cfg     poolConfig
	codec   *codec
	inbox   string // replies arrive on inbox.ID.NONCE, leases on inbox.0
	subs    []*nats.Subscription
	nextID  atomic.Uint64
	stop    chan struct{} // closed by Close to stop watch
	watched chan struct{} // closed when watch returns

	mu      sync.Mutex
	workers map[string]*remote       // by token
	heard   time.Time                // last news of any worker, or the pool's start or reconnection
	reconns uint64                   // nc's reconnections when heard was last set for one
	foreign map[string]foreignWorker // by name
	calls   map[uint64]*call
	closed  bool
	waiters int           // goroutines waiting on changed
	changed chan struct{} // closed and replaced when a worker may have room
	calling sync.WaitGroup
}

var _ subprocess.WorkerPool = (*Pool)(nil)

// remote is a worker as a pool knows it.
type remote struct {
	token, name, subject string
	capacity             int
	lease                time.Duration
	inflight             int       // this pool's calls there
	full                 bool      // it refused a call: wait for news of room
	gone                 bool      // said goodbye, or NATS had no subscriber for it
	heard                time.Time // last news
}

// call is a call in flight.
type call struct {
	id       uint64
	nonce    string // 128 random bits: see newNonce
	reply    string // inbox.ID.NONCE
	fn       string
	w        *remote
	lastSeen time.Time // last news of the call
	done     chan reply
}

// reply is how a call ended.
type reply struct {
	kind    byte   // kindResult, kindError, kindBusy, kindMismatch, or one of the below
	data    []byte // the result or the WireError, in the codec's form
	err     error  // for kindLost
	version int    // for kindMismatch: the worker's protocol version
}

const (
	kindNoResponders byte = 100 + iota // NATS had no subscriber: not run
	kindLost                           // worker lost: err is a *WorkerLostError
	kindAbandoned                      // cancelled, and the grace ran out
)

// NewPool returns a pool that calls the workers serving with the same
// [Prefix] over nc. It subscribes to the workers' heartbeats and asks every
// worker to announce itself; calls made before any worker is heard from
// wait for one, for up to a [Lease], then fail with [ErrNoWorkers].
//
// A call whose worker is lost fails with a *[WorkerLostError] after at
// most a lease (unless its function is [Idempotent]); cancelling a call's
// context cancels the function's on its worker; the worker's context has
// the caller's deadline. It panics if nc is nil.
func NewPool(nc *nats.Conn, opts ...PoolOption) (*Pool, error) {
	if nc == nil {
		panic("natsexec: NewPool with a nil *nats.Conn")
	}
	p := &Pool{
		nc:      nc,
		cfg:     newPoolConfig(opts),
		codec:   newCodec(),
		inbox:   nc.NewInbox(),
		stop:    make(chan struct{}),
		watched: make(chan struct{}),
		workers: make(map[string]*remote),
		heard:   time.Now(),
		reconns: nc.Stats().Reconnects,
		foreign: make(map[string]foreignWorker),
		calls:   make(map[uint64]*call),
		changed: make(chan struct{}),
	}
	replies, err := nc.Subscribe(p.inbox+".>", p.onReply)
	if err != nil {
		return nil, fmt.Errorf("natsexec: new pool: %w", err)
	}
	p.subs = append(p.subs, replies)
	hb, err := nc.Subscribe(p.cfg.prefix+".hb", p.onHeartbeat)
	if err != nil {
		p.unsubscribe()
		return nil, fmt.Errorf("natsexec: new pool: %w", err)
	}
	p.subs = append(p.subs, hb)
	for _, s := range p.subs {
		s.SetPendingLimits(-1, -1)
	}
	if err := nc.PublishRequest(p.cfg.prefix+".ping", p.inbox+".0", newMsg(kindPing, 0)); err != nil {
		p.unsubscribe()
		return nil, fmt.Errorf("natsexec: new pool: %w", err)
	}
	go p.watch()
	return p, nil
}

func (p *Pool) unsubscribe() {
	for _, s := range p.subs {
		s.Unsubscribe()
	}
}

// Close stops the pool: new calls fail with an error matching
// subprocess.ErrPoolClosed, calls in flight run to completion (cancel
// their contexts to hurry them), then the pool unsubscribes. When Close
// returns, no goroutine of the pool remains. It does not close the
// *nats.Conn. Calling it again returns nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.signal()
	p.mu.Unlock()
	p.calling.Wait()
	close(p.stop)
	<-p.watched
	p.unsubscribe()
	return nil
}

// Invoke implements subprocess.WorkerPool: it runs the function registered
// under the name fn on a worker, with input in, and decodes the result
// into out. subprocess.Func.Call is the typed way to call it and documents
// what it returns; in addition, a call fails with a *[WorkerLostError] if
// its worker is lost, with [ErrNoWorkers] if there is none, and with an
// error matching [ErrDisconnected] while the pool's connection is down.
func (p *Pool) Invoke(ctx context.Context, fn string, in, out any) error {
	if ctx == nil {
		panic("natsexec: nil Context")
	}
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("natsexec: %s: the result must be decoded into a non-nil pointer, not %T", fn, out)
		}
	}
	input, err := p.codec.appendEncode(nil, in)
	if err != nil {
		return fmt.Errorf("natsexec: %s: cannot encode input of type %T: %w", fn, in, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("natsexec: %s: %w", fn, subprocess.ErrPoolClosed)
	}
	p.calling.Add(1)
	p.mu.Unlock()
	defer p.calling.Done()

	var lost *remote // the worker lost while running the first try
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		c, err := p.acquire(ctx, fn, lost)
		if err != nil {
			return err
		}
		b := newMsg(kindCall, 16+len(fn)+len(input))
		var timeout time.Duration
		if d, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(d), 0) + 1
		}
		b = binary.AppendUvarint(b, uint64(timeout))
		b = appendString(b, fn)
		b = append(b, input...)
		if limit := p.nc.MaxPayload(); int64(len(b)) > limit {
			p.complete(c.id, reply{})
			// Matching nats.ErrMaxPayload too, as it did when the publish
			// reported it.
			return fmt.Errorf("natsexec: %s: the input, %d bytes, is above the NATS server's max_payload of %d bytes: %w (%w)", fn, len(b), limit, ErrTooLarge, nats.ErrMaxPayload)
		}
		msg := &nats.Msg{Subject: c.w.subject, Reply: c.reply, Data: b}
		if err := p.nc.PublishMsg(msg); err != nil {
			p.complete(c.id, reply{})
			if errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrReconnectBufExceeded) {
				err = errors.Join(ErrDisconnected, err)
			}
			return fmt.Errorf("natsexec: %s: %w", fn, err)
		}
		r := p.wait(ctx, c)
		switch r.kind {
		case kindResult:
			if out == nil {
				return nil
			}
			if err := p.codec.decode(r.data, out); err != nil {
				return fmt.Errorf("natsexec: %s: decoding the result: %w", fn, err)
			}
			return nil
		case kindError:
			var we subprocess.WireError
			if err := p.codec.decode(r.data, &we); err != nil {
				return fmt.Errorf("natsexec: %s: decoding the error: %w", fn, err)
			}
			return we.Err(fn)
		case kindBusy, kindNoResponders:
			continue // not run: send it again
		case kindMismatch:
			return fmt.Errorf("natsexec: %s: worker %s speaks protocol version %d, this pool version %d (run one build everywhere): %w",
				fn, c.w.name, r.version, protocolVersion, ErrProtocolMismatch)
		case kindLost:
			if p.cfg.idempotent[fn] && lost == nil {
				lost = c.w
				continue
			}
			return r.err
		default: // cancelled
			return context.Cause(ctx)
		}
	}
}

// acquire registers a call on the worker with the most room, waiting for
// one if none has room. It avoids the worker avoid if it can.
func (p *Pool) acquire(ctx context.Context, fn string, avoid *remote) (*call, error) {
	var noWorkers *time.Timer
	defer func() {
		if noWorkers != nil {
			noWorkers.Stop()
		}
	}()
	var noWorkersC <-chan time.Time
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("natsexec: %s: %w", fn, subprocess.ErrPoolClosed)
		}
		if !p.nc.IsConnected() {
			p.mu.Unlock()
			return nil, fmt.Errorf("natsexec: %s: %w (%v)", fn, ErrDisconnected, p.nc.Status())
		}
		var best, fallback *remote
		known := false
		for _, w := range p.workers {
			if w.gone {
				continue
			}
			known = true
			if w.full || w.inflight >= w.capacity {
				continue
			}
			if w == avoid {
				fallback = w
				continue
			}
			if best == nil || w.capacity-w.inflight > best.capacity-best.inflight {
				best = w
			}
		}
		if best == nil {
			best = fallback
		}
		if best != nil {
			c := &call{id: p.nextID.Add(1), nonce: newNonce(), fn: fn, w: best, lastSeen: time.Now(), done: make(chan reply, 1)}
			c.reply = p.inbox + "." + strconv.FormatUint(c.id, 10) + "." + c.nonce
			best.inflight++
			p.calls[c.id] = c
			p.mu.Unlock()
			return c, nil
		}
		if known {
			noWorkersC = nil
		} else {
			p.noteReconnect()
			// No worker known: fail once none has been heard from for a
			// lease. A worker is forgotten only a lease after its last
			// news, so that a call waiting for the room of a worker
			// that died fails as soon as the worker is forgotten.
			left := p.cfg.lease - time.Since(p.heard)
			if left <= 0 {
				p.mu.Unlock()
				return nil, p.noWorkersError(fn)
			}
			if noWorkers == nil {
				noWorkers = time.NewTimer(left)
			} else {
				noWorkers.Reset(left)
			}
			noWorkersC = noWorkers.C
		}
		p.waiters++
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			p.waiters--
			p.mu.Unlock()
			return nil, context.Cause(ctx)
		case <-noWorkersC:
		}
		p.mu.Lock()
		p.waiters--
	}
}

// noteReconnect restarts the wait for news of workers when the connection
// to NATS came back since it last looked: the time cut off does not count,
// and workers are asked to announce themselves. p.mu must be held.
func (p *Pool) noteReconnect() {
	if n := p.nc.Stats().Reconnects; n != p.reconns {
		p.reconns = n
		p.heard = time.Now()
		p.nc.PublishRequest(p.cfg.prefix+".ping", p.inbox+".0", newMsg(kindPing, 0))
	}
}

// noWorkersError is the error of a call made while no worker is known.
// p.mu must be held.
func (p *Pool) noWorkersError(fn string) error {
	for name, f := range p.foreign {
		if time.Since(f.heard) <= foreignMemory {
			return fmt.Errorf("natsexec: %s: %w heard from on %s.hb for %v; worker %s speaks protocol version %d, this pool version %d (run one build everywhere): %w",
				fn, ErrNoWorkers, p.cfg.prefix, p.cfg.lease, name, f.version, protocolVersion, ErrProtocolMismatch)
		}
	}
	return fmt.Errorf("natsexec: %s: %w heard from on %s.hb for %v", fn, ErrNoWorkers, p.cfg.prefix, p.cfg.lease)
}

// foreignWorker is a worker heard from that speaks another version of the
// protocol.
type foreignWorker struct {
	version int
	heard   time.Time
}

// maxForeign bounds the workers of other versions a pool remembers, and
// foreignMemory how long: their heartbeats may come at any interval, and
// they only serve to explain ErrNoWorkers.
const (
	maxForeign    = 16
	foreignMemory = 3 * maxHeartbeat
)

// onForeign notes a heartbeat of another protocol version, to name its
// worker in the error of calls that find no worker.
func (p *Pool) onForeign(version int, kind byte, body []byte) {
	if kind != kindHeartbeat {
		return // the kind of a heartbeat is the same in every version
	}
	_, name, err := parseIdentity(body)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, f := range p.foreign {
		if time.Since(f.heard) > foreignMemory {
			delete(p.foreign, n)
		}
	}
	if _, ok := p.foreign[name]; ok || len(p.foreign) < maxForeign {
		p.foreign[name] = foreignWorker{version: version, heard: time.Now()}
	}
}

// signal wakes the calls waiting for room. p.mu must be held.
func (p *Pool) signal() {
	if p.waiters > 0 {
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// wait waits for the call's reply; when ctx is done first, it asks the
// worker to cancel the call and waits for the reply for up to the grace.
func (p *Pool) wait(ctx context.Context, c *call) reply {
	select {
	case r := <-c.done:
		return r
	case <-ctx.Done():
	}
	p.cancel(c, context.Cause(ctx))
	t := time.NewTimer(p.cfg.grace)
	defer t.Stop()
	select {
	case r := <-c.done:
		if r.kind == kindBusy || r.kind == kindNoResponders {
			return r // not run: Invoke returns the cause at the top of its loop
		}
	case <-t.C:
		p.complete(c.id, reply{kind: kindAbandoned})
	}
	return reply{kind: kindAbandoned}
}

// cancel asks the call's worker to cancel it with cause.
func (p *Pool) cancel(c *call, cause error) {
	head := appendString(newMsg(kindCancel, 0), c.reply)
	we := subprocess.NewWireError(cause)
	b, err := p.codec.appendEncode(head, we)
	if limit := int(p.nc.MaxPayload()); err == nil && len(b) > limit {
		b, err = p.codec.appendEncode(head[:len(head):len(head)], shrinkWireError(we, len(b), limit))
	}
	if err == nil {
		p.nc.Publish(c.w.subject, b)
	}
}

// complete ends the call id with r, if it is still in flight.
func (p *Pool) complete(id uint64, r reply) bool {
	p.mu.Lock()
	c, ok := p.calls[id]
	if ok {
		delete(p.calls, id)
		c.w.inflight--
		p.signal()
	}
	p.mu.Unlock()
	if ok {
		c.done <- r
	}
	return ok
}

// onReply handles what arrives on the pool's inbox.
func (p *Pool) onReply(m *nats.Msg) {
	var id uint64 // 0 for inbox.0
	if m.Subject != p.inbox+".0" {
		inbox, n, _, ok := parseReplySubject(m.Subject)
		if !ok || inbox != p.inbox {
			return
		}
		// Only a call's worker (and the server) knows its nonce before
		// the call has ended: a reply to a subject that is not the
		// call's is not its reply.
		p.mu.Lock()
		c := p.calls[n]
		ours := c != nil && c.reply == m.Subject
		p.mu.Unlock()
		if !ours {
			return
		}
		id = n
	}
	if len(m.Data) == 0 {
		if id != 0 && m.Header.Get("Status") == "503" {
			// No responders: the worker's subscription is gone.
			p.mu.Lock()
			if c := p.calls[id]; c != nil {
				c.w.gone = true
				p.signal()
			}
			p.mu.Unlock()
			p.complete(id, reply{kind: kindNoResponders})
		}
		return
	}
	version, kind, body, ok := head(m.Data)
	if !ok {
		return
	}
	if id == 0 {
		switch {
		case kind == kindHeartbeat || version != protocolVersion:
			p.onHeartbeat(m) // an answer to the ping
		case kind == kindRenew:
			p.onRenew(body)
		}
		return
	}
	var r reply
	switch {
	case version != protocolVersion || kind == kindMismatch:
		r = reply{kind: kindMismatch, version: version}
	case kind == kindResult, kind == kindError, kind == kindBusy:
		free, data, err := parseReply(body)
		if err != nil {
			return
		}
		r = reply{kind: kind, data: data}
		p.mu.Lock()
		if c := p.calls[id]; c != nil {
			c.w.heard = time.Now()
			c.w.full = kind == kindBusy && free == 0
		}
		p.mu.Unlock()
	default:
		return
	}
	p.complete(id, r)
}

// onRenew renews the leases of the calls a worker says it is running.
func (p *Pool) onRenew(b []byte) {
	token, calls, err := parseRenew(b)
	if err != nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.workers[token]; w != nil {
		w.heard, p.heard = now, now
	}
	for _, r := range calls {
		if c := p.calls[r.id]; c != nil && c.w.token == token && c.nonce == r.nonce {
			c.lastSeen = now
		}
	}
}

// onHeartbeat learns of workers, and of the room they have.
func (p *Pool) onHeartbeat(m *nats.Msg) {
	version, kind, body, ok := head(m.Data)
	if !ok {
		return
	}
	if version != protocolVersion {
		p.onForeign(version, kind, body)
		return
	}
	if kind != kindHeartbeat && kind != kindBye {
		return
	}
	h, err := parseHeartbeat(kind, body)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[h.token]
	if kind == kindBye {
		// Only the worker knows the secret behind its token, until it
		// says goodbye: a goodbye forged by a client that learnt the
		// token (from a heartbeat) is ignored.
		if w != nil && tokenFor(h.secret) == h.token {
			w.gone = true
			delete(p.workers, h.token)
			p.signal() // calls waiting for its room may have no worker left
		}
		return
	}
	if w == nil {
		w = &remote{token: h.token, subject: p.cfg.prefix + ".w." + h.token}
		p.workers[h.token] = w
	}
	w.name, w.capacity = h.name, h.capacity
	w.lease = max(p.cfg.lease, 3*h.interval) // the interval is at most maxHeartbeat
	w.heard = time.Now()
	p.heard = w.heard
	w.gone = false
	w.full = h.running >= h.capacity
	p.signal()
}

// watch enforces leases: it fails the calls of lost workers, forgets
// workers not heard from, and fails every call in flight when the
// connection goes down.
func (p *Pool) watch() {
	defer close(p.watched)
	period := min(p.cfg.lease/8, 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		connected := p.nc.IsConnected()
		if connected {
			p.mu.Lock()
			p.noteReconnect()
			p.mu.Unlock()
		}
		// News of the calls may be waiting in the pool's own queue, when
		// the process is too busy to read it: leases run out only when
		// the pool has read everything that arrived.
		behind := false
		if n, _, err := p.subs[0].Pending(); err == nil && n > 0 {
			behind = true
		}
		var lost []reply
		var lostIDs []uint64
		var lostCalls []*call
		p.mu.Lock()
		for id, c := range p.calls {
			lease := max(c.w.lease, p.cfg.lease)
			var e *WorkerLostError
			switch {
			case !connected:
				e = &WorkerLostError{Worker: c.w.name, Func: c.fn, Err: ErrDisconnected,
					Reason: fmt.Sprintf("the pool lost its connection to NATS (%v)", p.nc.Status())}
			case !behind && now.Sub(c.lastSeen) > lease:
				e = &WorkerLostError{Worker: c.w.name, Func: c.fn,
					Reason: fmt.Sprintf("no news of the call for %v", lease)}
			default:
				continue
			}
			lost = append(lost, reply{kind: kindLost, err: e})
			lostIDs = append(lostIDs, id)
			lostCalls = append(lostCalls, c)
		}
		for token, w := range p.workers {
			if !behind && now.Sub(w.heard) > max(w.lease, p.cfg.lease) {
				w.gone = true
				delete(p.workers, token)
				// The calls waiting for its room may have no worker
				// left: wake them to fail with ErrNoWorkers.
				p.signal()
			}
		}
		p.mu.Unlock()
		for i, id := range lostIDs {
			if p.complete(id, lost[i]) {
				// In case the worker lives on, but the call's messages
				// were lost: do not let it run for nobody. While the
				// connection is down, NATS buffers the message.
				p.cancel(lostCalls[i], lost[i].err)
			}
		}
	}
}
