// Package nursery brings structured concurrency to Go: every goroutine is
// started in a scope, and the scope does not end until all of them have.
//
// Python's asyncio users learn the rule the hard way — never leave a
// dangling task; make your code a tree of hierarchical gathers — and Trio's
// nursery, Kotlin's coroutineScope and Java's StructuredTaskScope build it
// into the language. A [Nursery] builds it into Go:
//
//	err := nursery.Run(ctx, func(n *nursery.Nursery) error {
//		n.Go(func(ctx context.Context) error { return serve(ctx, l) }, nursery.Name("serve"))
//		users := nursery.Spawn(n, func(ctx context.Context) ([]User, error) { return loadUsers(ctx) })
//		list, err := users.Wait()
//		if err != nil {
//			return err
//		}
//		return report(ctx, list)
//	})
//
// # The rules
//
// Ownership. Every task started with [Nursery.Go], [Spawn] or [Start] belongs
// to its nursery, and [Nursery.Wait] (which [Run] calls) returns only after
// every one of them has returned — including tasks that other tasks start
// while Wait is blocked. Nothing outlives its scope, so nothing leaks.
//
// Errors. The first failure cancels the nursery's context with that
// failure as its cause, so the siblings stop; Wait returns every real
// failure joined, each a *[TaskError] that names its nursery and task
// ("server: conn-17: connection reset"), and errors.Is and errors.As see
// through to the originals. A task that returns the cancellation after its
// context is done — context.Canceled, or the cause itself — is not a
// failure; an error with any real failure in it is (see [Nursery.Wait]). [CollectErrors] turns
// fail-fast into a supervisor that lets the others run. [Nursery.Cancel]
// stops everything without failing: cancelling is not failing. When the
// parent context is cancelled and that interrupts work, Wait says so once,
// so interrupted work is never mistaken for finished work.
//
// Panics. A panicking task cancels its siblings at once, and Wait
// re-panics in the waiting goroutine with a *[PanicError] that holds the
// value, the panicking goroutine's stack and the task's name; with
// [PanicsAsErrors] Wait returns it instead. A panic is never swallowed and
// never crashes the program from a goroutine nobody waits for.
//
// Typed tasks and helpers. [Spawn] returns a [Task] whose Wait gives its
// value. [Start] is Trio's nursery.start: it returns once a service says it
// is ready, with the value it announced (a server's bound address, say).
// [Gather], [Map] and [First] are asyncio.gather, a bounded parallel map and
// happy eyeballs; [AsCompleted] iterates tasks as they finish. All of them
// are structured: they return only after everything they started.
//
// Time. [FailAfter] and [MoveOnAfter] are Trio's deadlines, a task option
// [Timeout] gives one task its own, and [Shield] runs cleanup that must
// survive the cancellation around it. Each reports [ErrTimeout] only when
// its own deadline cut the work short.
//
// Limits and executors. [WithLimit] bounds how many tasks run at once and
// makes every caller of Go wait for room once the queue is full. One rule
// keeps that from deadlocking however nurseries nest: a task blocked in one
// of the library's waits gives its slot (and its [Pool] worker) back until
// the wait is over — so there is no deadlock like the one that bites
// errgroup's SetLimit when a task spawns into its own full group.
// [WithExecutor] runs tasks on a [Pool] of worker goroutines that many
// nurseries may share; package subprocess runs registered functions in
// worker processes for CPU-heavy or crash-prone work.
//
// Misuse — a nil context or function, Go after Wait has returned, a limit
// below one — panics with a message that starts with "nursery: ".
package nursery
