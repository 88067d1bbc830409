// Package supervisor runs long-lived services as a tree that starts in
// order, restarts what fails and stops cleanly in reverse — Erlang/OTP's
// supervisor, built on structured concurrency: a [Supervisor] is a task of
// a nursery, its children are tasks of its own nursery, and nothing it
// starts outlives the scope that owns it.
//
//	sup := supervisor.New("app", supervisor.RestForOne)
//	sup.Add(ctx, supervisor.Child("db", db.Serve))        // ready once connected
//	sup.Add(ctx, supervisor.Child("http", srv.Serve))     // starts after db is ready
//	sup.Add(ctx, supervisor.Child("worker", work, supervisor.Transient))
//	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
//		return supervisor.Start(n, sup) // returns once all three are ready
//	})
//
// # Children
//
// A child is a [Service], func(ctx, ready) error, with a name, a [Restart]
// type and a [Grace] period. Children start in the order they were added,
// each once the one before called ready (or returned nil without calling
// it: a one-shot), and stop in reverse order: each is cancelled and given
// its grace to return. A child that does not is reported by name — logged,
// given to the hook, and returned in a *[StopTimeoutError] — and, since a
// goroutine cannot be killed, still waited for: nothing leaks, and nothing
// hangs silently. A child can be anything a task can run: another
// supervisor ([Supervisor.Serve] is a Service), a server, or a worker that
// calls package subprocess, whose processes never outlive their callers — a
// supervised pool of process workers.
//
// # Restarts
//
// Restart types and strategies have Erlang's meaning. [Permanent] children
// are always restarted, [Transient] ones only after a failure (an error
// other than their own cancellation, or a panic, which arrives as a
// *nursery.PanicError with its stack), [Temporary] ones never. [OneForOne]
// restarts the child alone; [OneForAll] stops the others in reverse order
// and restarts all in order; [RestForOne] does so for the children started
// after it. Restarted children start in order and wait for readiness again.
//
// More than [Intensity] restarts within its period (default 5 in 30 s,
// suture's numbers; Erlang's are 1 in 5 s) and the supervisor gives up: it stops its children and
// [Supervisor.Serve] returns a *[GiveUpError] naming the child and carrying
// its last failures, which fails the supervisor's own task — and, under a
// parent supervisor, makes the parent apply its strategy. Between restarts
// of a child that keeps failing, an exponential [Backoff] with jitter
// applies; the first restart after a quiet spell is immediate.
//
// A supervisor keeps at most [MaxFailures] failures per child and its
// intensity's restart times, so its memory stays flat however many
// failures happen.
//
// # Observing
//
// Every start, ready, exit, restart, stuck child and give-up is an [Event],
// logged through log/slog ([Logger]; slog.Default() unless set) and given
// to an optional [Hook] for metrics. [Supervisor.Children] returns each
// child's state, restart count and last failures. The supervisor's nursery
// is named after it, and the live tree (nurserytree.Write, JSON and
// Handler) shows beside it each child's state, restarts and last failure
// ("db: running; http: restarting, 2 restarts, last: connection refused");
// nested supervisors appear under their parents. In nursery debug mode the
// tree also lists the children's tasks by name.
//
// Children may be added and removed while the supervisor runs
// ([Supervisor.Add], [Supervisor.Remove]): an added child starts after the
// others (after those waiting out a backoff are running again), and Remove
// stops it with its grace. Remove waits for the child to return, so a
// child that calls Remove on itself waits out its own grace and gets a
// *[StopTimeoutError]; a child that is done for good returns instead — nil
// if it is [Transient], anything if it is [Temporary].
package supervisor
