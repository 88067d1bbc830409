// Package subprocess runs Go functions in worker processes under a
// nursery, with crash isolation and no orphans: what Python programs get
// from loop.run_in_executor(ProcessPoolExecutor(), fn, arg), without its
// known faults.
//
// # Registering and calling
//
// A function that should run in a worker is registered by name during
// package initialization, and called through a [WorkerPool], which a
// [Pool] of local worker processes implements:
//
//	var hash = subprocess.Register("hash", func(ctx context.Context, path string) (string, error) {
//		...
//	})
//
//	func main() {
//		subprocess.Main() // in a worker: serve calls, never return
//		ctx := context.Background()
//		pool, err := subprocess.NewPool(ctx)
//		if err != nil { ... }
//		defer pool.Close()
//		err = nursery.Run(ctx, func(n *nursery.Nursery) error {
//			for _, path := range paths {
//				hash.Spawn(n, pool, path)
//			}
//			return nil
//		})
//		...
//	}
//
// Workers are re-executions of the current program (/proc/self/exe on
// Linux) that [Main] turns into servers: [Main] must be the first call in
// main, and in TestMain of tests that start pools. Functions are found by
// name, which is why registration must happen at package initialization,
// in every process alike: a name unknown to the worker gives an error
// matching [ErrUnknownFunc], and registering a name twice panics.
//
// Inputs and results travel with encoding/gob over a pair of pipes passed
// as extra file descriptors; the worker's standard input, output and error
// stay the user's (a worker's output goes to the parent's). Each direction
// is one gob stream, so a type is described once per worker, not once per
// call, and a worker runs many calls at once (see [CallsPerWorker] to
// limit them). Values of more than 256 KiB travel in pieces, between which
// a cancel goes ahead of them; after a value of more than 1 MiB both ends
// start new gob streams, so that a large call leaves no large buffer
// behind, in the parent or in the worker. A value may be up to 1 GiB.
//
// A worker is a re-execution of the same binary on Linux; elsewhere it is
// the file at the program's path, which may have been replaced. Either
// way, a worker proves at start-up that it is the same build as its
// parent (same Go version, module version and version-control revision
// when the build recorded them, the registered functions with their input
// and result types, registered errors): one that is not fails to start
// with an error saying so. Types given to gob.Register are not compared: a
// value of one the other side lacks fails its own call only.
//
// Built with -race, every process waits a second before it exits (the
// race detector's GORACE atexit_sleep_ms), and so does every worker when
// Close stops it; in tests, Env("GORACE=atexit_sleep_ms=0") removes that
// wait.
//
// # Errors, panics and crashes
//
//   - An error returned by the function arrives as a *[RemoteError] with
//     the original text; errors.Is matches the sentinels registered with
//     [RegisterError] (the standard ones, such as fs.ErrNotExist and
//     context.DeadlineExceeded, are registered already).
//   - A panic arrives as a *nursery.PanicError holding the worker's stack.
//     [Func.Spawn] re-raises it in the task, so that it behaves like a
//     panic in an in-process task: the nursery cancels the other tasks and
//     Wait re-panics (or returns it with nursery.PanicsAsErrors), naming
//     the task. The calls it cancels end as cancellations (matching
//     context.Canceled), so the panic is counted once.
//   - A worker that dies (os.Exit, a signal, the OOM killer, a fatal
//     runtime error) fails only the calls it was running, each with a
//     *[CrashError] holding the exit code or signal, the last bytes of its
//     standard error, and how many other calls it was running
//     ([CrashError.Concurrent]): 0 means this call ran alone. The pool
//     starts a replacement and keeps serving: there is no broken pool.
//     With [CallsPerWorker](1) a crash fails only the call that caused it.
//   - A value that gob cannot carry fails the call before anything is
//     sent, with an error that names the offending type or field.
//   - A value that the other process cannot decode, typically because a
//     type inside an interface was registered with gob.Register in one
//     process only, fails only its call, with gob's error naming the type;
//     the worker keeps serving. Register such types during package
//     initialization, like the functions.
//
// # Cancellation
//
// Cancelling the context of a call sends a cancel message, which goes
// ahead of other calls' large inputs; a call cancelled while its own large
// input is still being sent stops sending it, and the function never runs.
// The worker cancels the context the function runs with (its deadline is
// the caller's too, whatever its year). If the function has not returned after a grace period
// ([CancelGrace], 1s by default), the worker and its process group are
// killed (SIGTERM, then SIGKILL) and replaced; so is a worker that has
// not read the input of a cancelled call within the grace period (one
// that was stopped, say). The call returns
// context.Cause(ctx) in either case, and only after the function has
// returned or its worker is gone, so a nursery's Wait still means that
// nothing it started is running.
//
// # No orphans
//
// Workers and the programs started with [Command] run in process groups
// of their own and are killed with their whole group. On Linux:
//
//   - A worker gets a parent-death signal, so that even a parent killed
//     with SIGKILL leaves none behind: it then kills every process below
//     it in the process tree (found in /proc, whatever their process group:
//     the programs its functions started with plain os/exec, and theirs),
//     its group, and itself. The signal is SIGCONT, which also resumes a
//     worker that was stopped (SIGSTOP, SIGTSTP) when its parent died.
//     The OS thread that starts a worker stays locked until it is reaped,
//     because the signal follows the thread, not the process
//     (golang/go#27505).
//   - A worker that the pool stops (Close, [MaxTasksPerWorker]) kills its
//     descendants the same way before it exits; one that has not done so
//     within [CancelGrace] (a stopped one) is killed with its group. One
//     that crashes or is killed by the pool has its process group
//     killed once it is reaped.
//   - Programs started with [Command] get SIGKILL when the parent dies.
//
// What escapes: a process that left the worker's process group and whose
// parent exited before the worker died (a daemon that double-forks and
// calls setsid) is no longer below the worker and survives; so do the
// programs of a worker that crashed or was killed, if they left its
// group. A worker frozen (a cgroup freezer) when its parent dies, or
// stopped again after that, survives with its descendants until it is
// thawed or continued, and then takes them down. Elsewhere on Unix there is no parent-death signal: a worker
// learns of its parent's death when its pipe from the parent ends, and
// then kills its process group (not processes that left it) and exits; a
// worker stopped when its parent dies does so only once it is continued.
//
// # Other transports
//
// [Func.Call] and [Func.Spawn] take any [WorkerPool], so a transport that
// runs the registered functions elsewhere (on other machines, say) can
// stand in for a Pool without changes at call sites. Such a transport
// implements [WorkerPool.Invoke] on the calling side; on the serving side
// it finds functions with [Lookup], decodes inputs into
// [Handler.NewInput], runs [Handler.Call], and carries failures as a
// [WireError] ([NewWireError] and [WireError.Err]), so that errors,
// sentinels and panics arrive exactly as they do from a Pool.
//
// Worker pools need Unix (they are tested on Linux; macOS has no
// parent-death signal, see above); on Windows NewPool returns an error and
// [Command] kills only the program itself.
package subprocess
