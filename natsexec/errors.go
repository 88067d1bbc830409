package natsexec

import (
	"errors"
	"fmt"

	"github.com/structured-go/nursery/subprocess"
)

var (
	// ErrNoWorkers is the error of a call made, or waiting for a worker
	// with room, when no worker has been heard from for a lease (see
	// [Lease]): a call waiting for the room of a worker that dies fails
	// with it as soon as the pool forgets that worker.
	ErrNoWorkers = errors.New("natsexec: no workers")

	// ErrDisconnected is matched by the error of a call made while the
	// pool's connection to NATS is down, and of the calls in flight when it
	// went down (as a *[WorkerLostError]): their results cannot arrive.
	ErrDisconnected = errors.New("natsexec: not connected to NATS")

	// ErrProtocolMismatch is matched by the error of a call that found only
	// workers speaking another version of natsexec's wire protocol (with
	// [ErrNoWorkers]), or whose worker answered that it does not speak the
	// pool's version: run one build of natsexec in every process.
	ErrProtocolMismatch = errors.New("natsexec: workers and pool speak different protocol versions")

	// ErrTooLarge is matched by the error of a call whose input, result
	// or error does not fit in one NATS message (the server's
	// max_payload, 1 MiB by default). Such a call fails at once and is
	// never retried: an input that is too large is not sent; a result that
	// is too large is replaced by a short error naming its size and the
	// limit; an error whose text (or stack) is too large arrives cut short,
	// matching its sentinels and ErrTooLarge too. It is registered with
	// subprocess.RegisterError.
	ErrTooLarge = subprocess.RegisterError("natsexec.ErrTooLarge", errors.New("natsexec: message above the NATS server's max_payload"))

	// ErrWorkerStopped is the cause with which a stopping worker cancels
	// the calls still running after its [ShutdownGrace]. It is registered
	// with subprocess.RegisterError, so that the error of a call that
	// returns it matches it.
	ErrWorkerStopped = subprocess.RegisterError("natsexec.ErrWorkerStopped", errors.New("natsexec: worker stopped"))
)

// WorkerLostError is the error of a call whose worker was lost while it
// was running the call: the pool heard neither a result nor a renewal of
// the call's lease for the lease time (the worker died, was cut off, or
// never got the call), or the pool's own connection went down. The
// function may have run, wholly or partly; unless it was declared
// [Idempotent], the call is not retried.
type WorkerLostError struct {
	// Worker is the lost worker's name (see [WorkerName]).
	Worker string
	// Func is the name of the registered function that was called.
	Func string
	// Reason says how the loss was detected.
	Reason string
	// Err is ErrDisconnected when the pool's connection went down, or nil.
	Err error
}

var _ error = (*WorkerLostError)(nil)

// Error names the worker, the function and the reason.
func (e *WorkerLostError) Error() string {
	return fmt.Sprintf("natsexec: worker %s running %s was lost: %s", e.Worker, e.Func, e.Reason)
}

// Unwrap returns Err.
func (e *WorkerLostError) Unwrap() error { return e.Err }
