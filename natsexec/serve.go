package natsexec

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/structured-go/nursery/subprocess"
)

// Serve makes the current process a worker: it serves every function
// registered with subprocess.Register to the pools (see [NewPool]) that use
// the same [Prefix], over nc, until ctx is done.
//
// A worker runs at most [Concurrency] calls at once and takes no more:
// pools send calls to the worker's own subject only while it has room,
// and it refuses, without running them, the calls that several pools sent
// at once beyond its room. It announces itself and renews the leases of
// its running calls every [Heartbeat].
//
// When ctx is done, Serve stops taking calls (the pools send new ones to
// other workers), lets the running calls finish for up to [ShutdownGrace],
// then cancels their contexts with [ErrWorkerStopped] as the cause; it
// returns once every call has returned and its reply has been flushed to
// NATS: no call of the worker runs after Serve returns. It returns nil
// then, or an error if it could not subscribe or nc was closed.
//
// The function of a call runs with a context that is cancelled when the
// caller's is, with the caller's cause, and that has the caller's deadline
// (sent as the time left, so that clocks need not agree). Serve does not
// close nc. It panics if ctx or nc is nil.
func Serve(ctx context.Context, nc *nats.Conn, opts ...ServeOption) error {
	if ctx == nil {
		panic("natsexec: nil Context")
	}
	if nc == nil {
		panic("natsexec: Serve with a nil *nats.Conn")
	}
	cfg := newServeConfig(opts)
	s := &server{
		nc:     nc,
		cfg:    cfg,
		codec:  newCodec(),
		secret: make([]byte, 32),
		calls:  make(map[string]*running),
	}
	rand.Read(s.secret)
	s.token = tokenFor(s.secret)
	sub, err := nc.Subscribe(cfg.prefix+".w."+s.token, s.onMsg)
	if err != nil {
		return fmt.Errorf("natsexec: serve: %w", err)
	}
	// Pools bound what they send; a limit here would drop calls silently.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("natsexec: serve: %w", err)
	}
	ping, err := nc.Subscribe(cfg.prefix+".ping", func(m *nats.Msg) {
		if m.Reply != "" {
			nc.Publish(m.Reply, s.heartbeat().append(nil, kindHeartbeat))
		}
	})
	if err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("natsexec: serve: %w", err)
	}
	defer ping.Unsubscribe()

	hbSubject := cfg.prefix + ".hb"
	nc.Publish(hbSubject, s.heartbeat().append(nil, kindHeartbeat))
	tick := time.NewTicker(cfg.heartbeat)
	defer tick.Stop()
	var loopErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if nc.IsClosed() {
				loopErr = fmt.Errorf("natsexec: serve: %w", nats.ErrConnectionClosed)
				break loop
			}
			nc.Publish(hbSubject, s.heartbeat().append(nil, kindHeartbeat))
			s.renew()
		}
	}

	// Stop taking calls: the calls already delivered are refused (busy),
	// so that their pools send them elsewhere; then wait for the running
	// ones, renewing their leases meanwhile.
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.drain(sub)
	nc.Publish(hbSubject, s.heartbeat().append(nil, kindBye))

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	grace := time.NewTimer(cfg.grace)
	defer grace.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			s.renew()
		case <-grace.C:
			s.mu.Lock()
			for _, r := range s.calls {
				r.cancel(ErrWorkerStopped)
			}
			s.mu.Unlock()
		}
	}
	if !nc.IsClosed() {
		nc.Publish(hbSubject, s.heartbeat().append(nil, kindBye))
		nc.FlushTimeout(cfg.heartbeat + time.Second)
	}
	return loopErr
}

// server is the worker side of Serve.
type server struct {
	nc     *nats.Conn
	cfg    serveConfig
	codec  *codec
	token  string         // tokenFor(secret)
	secret []byte         // told in the goodbye only
	wg     sync.WaitGroup // running calls

	mu       sync.Mutex
	calls    map[string]*running // by reply subject, nonce included
	stopping bool
}

// running is a call being run.
type running struct {
	inbox  string // the pool's inbox: the reply subject less ".ID.NONCE"
	id     uint64
	nonce  string
	cancel context.CancelCauseFunc
}

func (s *server) heartbeat() heartbeat {
	s.mu.Lock()
	n := len(s.calls)
	s.mu.Unlock()
	return heartbeat{token: s.token, name: s.cfg.name, capacity: s.cfg.concurrency, running: n, interval: s.cfg.heartbeat, secret: s.secret}
}

// drain stops the worker's subscription, letting its callback handle (and
// refuse) what was delivered already.
func (s *server) drain(sub *nats.Subscription) {
	if !s.nc.IsConnected() {
		// Draining needs the server; without it, nothing more arrives.
		sub.Unsubscribe()
		return
	}
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := sub.Drain(); err != nil {
		sub.Unsubscribe()
		return
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
		sub.Unsubscribe()
	}
}

// onMsg handles the messages on the worker's subject, one at a time.
func (s *server) onMsg(m *nats.Msg) {
	version, kind, body, ok := head(m.Data)
	if !ok {
		return
	}
	if version != protocolVersion {
		// Say so rather than misread it: the pool fails the call clearly.
		if m.Reply != "" {
			s.nc.Publish(m.Reply, newMsg(kindMismatch, 0))
		}
		return
	}
	switch kind {
	case kindCall:
		s.start(m, body)
	case kindCancel:
		reply, data, err := parseCancel(body)
		if err != nil {
			return
		}
		var we subprocess.WireError
		cause := error(context.Canceled)
		if s.codec.decode(data, &we) == nil {
			cause = we.Err("")
		}
		s.mu.Lock()
		c := s.calls[reply]
		s.mu.Unlock()
		if c != nil {
			c.cancel(cause)
		}
	}
}

// start starts a call, or refuses it if the worker is full or stopping.
func (s *server) start(m *nats.Msg, body []byte) {
	inbox, id, nonce, ok := parseReplySubject(m.Reply)
	if !ok {
		return
	}
	timeout, fn, input, err := parseCall(body)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.stopping || len(s.calls) >= s.cfg.concurrency {
		free := max(s.cfg.concurrency-len(s.calls), 0)
		if s.stopping {
			free = 0
		}
		s.mu.Unlock()
		s.nc.Publish(m.Reply, binary.AppendUvarint(newMsg(kindBusy, 10), uint64(free)))
		return
	}
	if _, dup := s.calls[m.Reply]; dup {
		// The same call delivered twice. Only its pool, this worker and
		// the server know the subject while the call runs (its nonce is
		// 128 random bits): no other client can have sent it first.
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &running{inbox: inbox, id: id, nonce: nonce, cancel: cancel}
	s.calls[m.Reply] = c
	s.wg.Add(1)
	s.mu.Unlock()

	stop := func() { cancel(nil) }
	if timeout > 0 {
		// timeout is the time the caller had left, plus one so that zero
		// means none.
		var stopTimer context.CancelFunc
		ctx, stopTimer = context.WithTimeout(ctx, timeout-1)
		stop = func() { stopTimer(); cancel(nil) }
	}
	go s.run(ctx, stop, m.Reply, fn, input)
}

// run runs one call and replies. The reply is sent from a deferred call so
// that a function calling runtime.Goexit still gets one.
func (s *server) run(ctx context.Context, stop func(), reply, fn string, input []byte) {
	var (
		out      any
		err      error
		returned bool
	)
	defer func() {
		if !returned {
			err = fmt.Errorf("natsexec: %s called runtime.Goexit", fn)
		}
		stop()
		s.mu.Lock()
		delete(s.calls, reply)
		free := s.cfg.concurrency - len(s.calls)
		s.mu.Unlock()
		s.reply(reply, fn, free, out, err)
		s.wg.Done()
	}()
	out, err = s.call(ctx, fn, input)
	returned = true
}

func (s *server) call(ctx context.Context, fn string, input []byte) (any, error) {
	h, ok := subprocess.Lookup(fn)
	if !ok {
		return nil, fmt.Errorf("%w %q in worker %s: register functions during package initialization, so that every process has them",
			subprocess.ErrUnknownFunc, fn, s.cfg.name)
	}
	in := h.NewInput()
	if err := s.codec.decode(input, in); err != nil {
		return nil, fmt.Errorf("natsexec: %s: decoding input in worker %s: %w", fn, s.cfg.name, err)
	}
	return h.Call(ctx, in)
}

// reply sends a call's result, or its error. A reply that does not fit in
// a NATS message is replaced by a short error saying so: dropping it would
// leave the caller waiting for a lease, then deeming a healthy worker lost
// (and running an idempotent function again).
func (s *server) reply(subject, fn string, free int, out any, err error) {
	limit := int(s.nc.MaxPayload())
	if err == nil {
		b := binary.AppendUvarint(newMsg(kindResult, 10), uint64(free))
		if b, err = s.codec.appendEncode(b, out); err == nil {
			if len(b) <= limit {
				s.nc.Publish(subject, b)
				return
			}
			err = fmt.Errorf("natsexec: %s: the result, %d bytes, is above the NATS server's max_payload of %d bytes: %w", fn, len(b), limit, ErrTooLarge)
		} else {
			err = fmt.Errorf("natsexec: %s: cannot encode result of type %T: %w", fn, out, err)
		}
	}
	head := binary.AppendUvarint(newMsg(kindError, 10), uint64(free))
	b := s.encodeWireError(head, subprocess.NewWireError(err))
	if size := len(b); size > limit {
		b = s.encodeWireError(head, shrinkWireError(subprocess.NewWireError(err), size, limit))
		if len(b) > limit { // a tiny max_payload, or many sentinels
			we := subprocess.NewWireError(fmt.Errorf("natsexec: %s: the error, %d bytes, is above the NATS server's max_payload of %d bytes: %w", fn, size, limit, ErrTooLarge))
			b = s.encodeWireError(head, we)
		}
	}
	s.nc.Publish(subject, b)
}

func (s *server) encodeWireError(head []byte, we *subprocess.WireError) []byte {
	b, err := s.codec.appendEncode(head[:len(head):len(head)], we)
	if err != nil {
		// A WireError is plain data; this cannot happen.
		panic(fmt.Sprintf("natsexec: cannot encode a WireError: %v", err))
	}
	return b
}

// keptText is how much of an error's text and stack a reply keeps when
// the whole error does not fit in a NATS message.
const keptText = 1 << 10

// shrinkWireError returns we cut short to fit, unless limit is tiny, in
// limit bytes, saying so and matching ErrTooLarge as well as we's
// sentinels.
func shrinkWireError(we *subprocess.WireError, size, limit int) *subprocess.WireError {
	short := *we
	keep := min(keptText, limit/8)
	if len(short.Message) > keep {
		short.Message = short.Message[:keep] + "..."
	}
	short.Message += fmt.Sprintf(" [cut short by natsexec: the error, %d bytes, is above the NATS server's max_payload of %d bytes]", size, limit)
	if len(short.Stack) > keep {
		short.Stack = short.Stack[:keep]
	}
	if len(short.Sentinels) > 64 {
		short.Sentinels = short.Sentinels[:64]
	}
	short.Sentinels = append(short.Sentinels[:len(short.Sentinels):len(short.Sentinels)], subprocess.NewWireError(ErrTooLarge).Sentinels...)
	return &short
}

// renewChunk is the most calls one renewal names: at most 10 bytes of id
// and 23 of nonce each, a renewal stays below 9 KB.
const renewChunk = 250

// renew tells each pool with calls running here which of them are, so that
// their leases do not run out.
func (s *server) renew() {
	s.mu.Lock()
	byInbox := make(map[string][]*running)
	for _, c := range s.calls {
		byInbox[c.inbox] = append(byInbox[c.inbox], c)
	}
	s.mu.Unlock()
	for inbox, calls := range byInbox {
		// The nonces too, so that a call another client sent with a
		// pool's inbox and the id of one of its calls cannot renew that
		// call's lease.
		for chunk := range slices.Chunk(calls, renewChunk) {
			b := appendString(newMsg(kindRenew, 0), s.token)
			b = binary.AppendUvarint(b, uint64(len(chunk)))
			for _, c := range chunk {
				b = binary.AppendUvarint(b, c.id)
				b = appendString(b, c.nonce)
			}
			s.nc.Publish(inbox+".0", b)
		}
	}
}
