// Package natsexec runs the functions registered with subprocess.Register on
// workers in other processes, on this machine or on others, over NATS
// (https://nats.io), inside the same nurseries and with the same errors,
// panics, cancellation and typed results as a subprocess.Pool.
//
// A worker is any process of the program that calls [Serve] (a goroutine
// of a process that also makes pools will do, as in tests); the calling
// side makes a [Pool], which implements subprocess.WorkerPool, so that the
// call sites do not change:
//
//	// worker
//	nc, _ := nats.Connect(url)
//	err := natsexec.Serve(ctx, nc)
//
//	// caller
//	pool, err := natsexec.NewPool(nc)
//	...
//	defer pool.Close()
//	sum, err := hash.Call(ctx, pool, path)   // or hash.Spawn(n, pool, path)
//
// # Protocol
//
// Under a subject prefix ([Prefix], "nursery" by default), each worker
// subscribes to a subject of its own and announces itself, its capacity
// ([Concurrency]) and its load with a heartbeat on PREFIX.hb. A pool sends
// each call to the worker with the most room, with a reply subject of its
// own per call (ending with 128 random bits, so that no other client can
// guess it), and never more calls than a worker has room for: a busy
// worker is not sent work it cannot start (when several pools fill one
// worker at once, it refuses the surplus without running it, and the pool
// sends it elsewhere). This explicit credit is why calls do not go through
// a NATS queue group, which would pick workers at random whatever their
// load. Inputs and results travel with encoding/gob, like a
// subprocess.Pool's; errors as subprocess.WireError. Every message carries
// the protocol version (2): workers and pools of different versions fail
// calls with [ErrProtocolMismatch] rather than misread each other.
//
// # Failures
//
//   - The function's error arrives as a *subprocess.RemoteError matching the
//     registered sentinels, a panic as a *nursery.PanicError with the
//     worker's stack, an unknown function as subprocess.ErrUnknownFunc:
//     exactly as from a subprocess.Pool.
//   - Cancelling a call's context sends a cancel message: the function's
//     context is cancelled with the caller's cause, and the call returns that
//     cause once the worker has replied, or after [CancelGrace]. The
//     function's context also has the caller's deadline.
//   - While it runs a call, a worker renews the call's lease with every
//     heartbeat ([Heartbeat]). A call without news for a [Lease] (its worker
//     was killed, or cut off, or the call's message lost) fails with a
//     *[WorkerLostError] naming the worker; a call that NATS could not deliver
//     (the worker had gone) or that the worker refused is sent to another
//     worker, since it did not run. No call is silently lost, and none runs
//     twice, except that a call of a function declared [Idempotent] is
//     retried once on another worker when its worker is lost.
//   - When the pool's connection to NATS goes down, the calls in flight
//     fail at once with a *WorkerLostError matching [ErrDisconnected], new
//     calls fail with ErrDisconnected, and the pool serves again as soon as
//     the connection and the workers are back (nats.go reconnects by itself).
//   - An input, result or error above the NATS server's max_payload fails
//     the call at once with an error matching [ErrTooLarge], and is never
//     retried; an error too large arrives cut short, keeping its sentinels.
//   - A call that finds no worker, or waits for room while the last worker
//     dies, fails with [ErrNoWorkers] a lease after the last news of any
//     worker (or after the pool's connection to NATS came back); when only
//     workers of another protocol version were heard, the error also
//     matches [ErrProtocolMismatch].
//
// # Trust
//
// natsexec has no authentication of its own, and relies on the NATS
// server's permissions: on a server where every client may use every
// subject, any client can run any registered function with any input and
// read its result, receive calls by announcing itself as a worker, learn
// the workers' tokens, and forge results and lease renewals. By itself,
// natsexec rejects malformed messages, worker tokens that are not 1 to 64
// of [A-Za-z0-9_-], and names above 256 bytes; clamps the capacity and
// heartbeat interval a worker claims (65536, one minute); believes a
// worker's goodbye only if it reveals the secret behind the worker's
// token; and bounds the memory of its decoders. With the prefix P, give a
// worker's user publish on P.hb and _INBOX.> and subscribe on P.w.* and
// P.ping; a pool's user publish on P.w.* and P.ping and subscribe on P.hb
// and _INBOX.> (or, so that pools cannot read one another's replies, each
// its own inbox prefix, set with nats.CustomInboxPrefix); and everyone
// else neither P.> nor _INBOX.>. Pools and
// workers still trust each other: a worker sees its calls' inputs and
// answers as it likes; a pool may call any registered function, fill the
// workers' room, and, with the shared _INBOX.>, read other pools' results,
// errors and renewals. A pool cannot cancel, pre-empt, suppress, answer
// or renew another pool's calls: a call's reply subject ends with a nonce
// of 128 bits from crypto/rand, which only the pool, the worker the call
// went to and the server know until the worker has replied and forgotten
// the call; a worker knows calls, and a pool replies and renewals, by
// their whole subject. The package's README gives a server configuration.
//
// Registration works as for subprocess: functions are found by name, so
// every process, callers and workers alike, must register them during
// package initialization.
package natsexec
