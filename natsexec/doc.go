// Package natsexec runs the functions registered with subprocess.Register on
// workers in other processes, on this machine or on others, over NATS
// (https://nats.io), inside the same nurseries and with the same errors,
// panics, cancellation and typed results as a subprocess.Pool.
//
// A worker is any process of the program that calls [Serve]; the calling
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
// own per call, and never more calls than a worker has room for: a busy
// worker is not sent work it cannot start (when several pools fill one
// worker at once, it refuses the surplus without running it, and the pool
// sends it elsewhere). This explicit credit is why calls do not go through
// a NATS queue group, which would pick workers at random whatever their
// load. Inputs and results travel with encoding/gob, like a
// subprocess.Pool's; errors as subprocess.WireError.
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
//
// Registration works as for subprocess: functions are found by name, so
// every process, callers and workers alike, must register them during
// package initialization.
package natsexec
