// Package bench holds the benchmarks that compare nursery with raw
// sync.WaitGroup, errgroup, conc, ants and pond, in one table that both
// `go test -bench` (bench_test.go) and the ratio command (cmd/ratios) run.
//
// A benchmark body is a func(b *testing.B) that runs one operation per
// iteration of b.Loop; an operation spawns and waits [Group.Tasks] tasks, so
// that every cost can also be read per task. Bodies are grouped: within a
// [Group], each [Case] is compared with the group's baseline — the case whose
// role is [Baseline] or, when the group has none, the fastest [Peer].
//
// To add a group (for instance the debug-mode cost of issue 6), append it to
// [Groups] with a new Family and add one line to bench_test.go:
//
//	func BenchmarkDebug(b *testing.B) { bench.RunFamily(b, "Debug") }
//
// cmd/ratios picks it up by itself.
//
// This module is separate from the library's so that the peer libraries never
// enter the library's go.mod.
package bench

import (
	"fmt"
	"runtime"
	"testing"
)

// Role says how a [Case] counts when a group's ratios are computed.
type Role int

const (
	// Peer is another library, or raw Go written the way a user would. In a
	// group without a Baseline case, the fastest Peer is the baseline.
	Peer Role = iota
	// Baseline is the reference of its group: every ratio is against it.
	Baseline
	// Subject is this project's code: the nursery package.
	Subject
	// Reference is shown for context but is never the baseline, for
	// instance a hand-written channel-fed worker pool that no library ships.
	Reference
)

// String returns the role's name as printed by cmd/ratios.
func (r Role) String() string {
	switch r {
	case Peer:
		return "peer"
	case Baseline:
		return "baseline"
	case Subject:
		return "nursery"
	case Reference:
		return "reference"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// A Case is one implementation of a group's workload.
type Case struct {
	Name string // the sub-benchmark name after "impl="; no spaces or slashes
	Role Role
	F    func(b *testing.B) // runs one operation per iteration of b.Loop
}

// A Group is one workload measured by several implementations.
type Group struct {
	Family string // the BenchmarkXxx in bench_test.go that runs it: "Core", "Pool", "Soak"
	Name   string // the sub-benchmark name; no spaces or slashes
	Issue  int    // the issue whose targets it measures
	Tasks  int    // tasks per operation, to report costs per task
	Note   string // one line for cmd/ratios
	Cases  []Case
}

// Baseline returns the index in g.Cases of the case marked [Baseline], or
// -1 when the baseline is the fastest [Peer], which only a measurement can tell.
func (g Group) Baseline() int {
	for i, c := range g.Cases {
		if c.Role == Baseline {
			return i
		}
	}
	return -1
}

// Measure returns c's body wrapped to report allocations and the per-task
// metrics ns/task, allocs/task and B/task.
func (g Group) Measure(c Case) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c.F(b)
		runtime.ReadMemStats(&after)
		if b.N == 0 || g.Tasks == 0 || b.Skipped() {
			return
		}
		// Tasks per op is fixed, so these are the usual per-op figures divided
		// by Tasks; the memory figures include the body's one-off setup (such
		// as creating a shared pool), which b.Loop's timer excludes but
		// MemStats cannot; it is negligible once b.N is more than a few.
		tasks := float64(b.N) * float64(g.Tasks)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/tasks, "ns/task")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/tasks, "allocs/task")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/tasks, "B/task")
	}
}

// RunFamily runs every group of the family as sub-benchmarks named
// GROUP/impl=CASE, so that `benchstat -col /impl` lays the cases side by side.
func RunFamily(b *testing.B, family string) {
	found := false
	for _, g := range Groups() {
		if g.Family != family {
			continue
		}
		found = true
		b.Run(g.Name, func(b *testing.B) {
			for _, c := range g.Cases {
				b.Run("impl="+c.Name, g.Measure(c))
			}
		})
	}
	if !found {
		b.Fatalf("bench: no group in family %q", family)
	}
}

// Families returns the families of [Groups] in table order.
func Families() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range Groups() {
		if !seen[g.Family] {
			seen[g.Family] = true
			out = append(out, g.Family)
		}
	}
	return out
}

// LimitGOMAXPROCS stands for "limit = GOMAXPROCS" in the pool groups. A
// body reads runtime.GOMAXPROCS when it runs, not when the table is built, so
// `go test -cpu` applies to it.
const LimitGOMAXPROCS = 0

func limit(k int) int {
	if k == LimitGOMAXPROCS {
		return runtime.GOMAXPROCS(0)
	}
	return k
}

// Groups returns the benchmark table. Each call builds it anew; it is cheap.
func Groups() []Group {
	var gs []Group

	// Issue 3: spawn-and-wait of no-op tasks, against raw sync.WaitGroup.Go.
	for _, n := range []int{1, 100, 10_000} {
		gs = append(gs, Group{
			Family: "Core", Name: fmt.Sprintf("spawn-%d", n), Issue: 3, Tasks: n,
			Note: "New+Go×n+Wait of no-op tasks; target: nursery-go ≤ 1.1× waitgroup-go per task (issue 14), ≤ 2 allocs/task; spawn ≤ 3 allocs/task",
			Cases: []Case{
				{"waitgroup-go", Baseline, WaitGroupGo(n)},
				{"errgroup", Peer, ErrgroupGroup(n)},
				{"errgroup-ctx", Peer, ErrgroupWithContext(n)},
				{"conc-waitgroup", Peer, ConcWaitGroup(n)},
				{"conc-pool-errors", Peer, ConcPoolWithErrors(n)},
				{"nursery-go", Subject, NurseryGo(n)},
				{"nursery-spawn", Subject, NurserySpawn(n)},
			},
		})
	}
	gs = append(gs,
		Group{
			Family: "Core", Name: "empty", Issue: 3, Tasks: 1,
			Note: "create and Wait a scope with no task (per op); target: nursery-new ≤ 1.2× errgroup-ctx (issue 14)",
			Cases: []Case{
				{"errgroup-ctx", Baseline, ErrgroupWithContext(0)},
				{"waitgroup-cancel", Peer, WaitGroupCancel(0)},
				{"conc-pool-ctx", Peer, ConcPoolContextEmpty},
				{"nursery-new", Subject, NurseryGo(0)},
				{"nursery-run", Subject, NurseryRunEmpty},
			},
		},
		Group{
			Family: "Core", Name: "failfast-100", Issue: 3, Tasks: 100,
			Note: "the last of 100 tasks fails; the others block on ctx until cancelled",
			Cases: []Case{
				{"waitgroup-cancel", Baseline, FailFastWaitGroup(100)},
				{"errgroup-ctx", Peer, FailFastErrgroup(100)},
				{"conc-pool-cancel", Peer, FailFastConc(100)},
				{"nursery", Subject, FailFastNursery(100)},
			},
		},
		Group{
			Family: "Core", Name: "gather-1000", Issue: 3, Tasks: 1000,
			Note: "1000 funcs returning an int, results in input order",
			Cases: []Case{
				{"errgroup-results", Baseline, GatherErrgroup(1000)},
				{"waitgroup-results", Peer, GatherWaitGroup(1000)},
				{"nursery-gather", Subject, NurseryGather(1000)},
			},
		},
		Group{
			Family: "Core", Name: "map-1000", Issue: 3, Tasks: 1000,
			Note: "map 1000 ints through a func, results in input order",
			Cases: []Case{
				{"errgroup-results", Baseline, MapErrgroup(1000)},
				{"waitgroup-results", Peer, MapWaitGroup(1000)},
				{"conc-iter-maperr", Peer, MapConcIter(1000)},
				{"nursery-map", Subject, NurseryMap(1000)},
			},
		},
	)

	// Issue 4: bounded concurrency and pools, against the fastest peer.
	for _, l := range []struct {
		name string
		n, k int
		work Work
	}{
		{"limit8-noop-10000", 10_000, 8, NoWork},
		{"limit8-noop-1000", 1000, 8, NoWork}, // the issue's own peer figures are per 1000 tasks
		{"limitP-noop-10000", 10_000, LimitGOMAXPROCS, NoWork},
		{"limitP-1us-10000", 10_000, LimitGOMAXPROCS, CPUWork},
	} {
		n, k, w := l.n, l.k, l.work
		note := fmt.Sprintf("%d no-op tasks, at most 8 at once; targets: nursery-pool ≤ 0.5×, nursery-limit ≤ 1.0× the fastest peer, ≤ 1 alloc/task", n)
		if k == LimitGOMAXPROCS {
			note = fmt.Sprintf("%d no-op tasks, at most GOMAXPROCS at once", n)
		}
		if w == CPUWork {
			note = fmt.Sprintf("%d tasks of ~1µs CPU work each (calibrated loop), at most GOMAXPROCS at once", n)
		}
		gs = append(gs, Group{
			Family: "Pool", Name: l.name, Issue: 4, Tasks: n, Note: note,
			Cases: []Case{
				{"errgroup-setlimit", Peer, ErrgroupSetLimit(n, k, w)},
				{"conc-pool-maxgoroutines", Peer, ConcPoolMaxGoroutines(n, k, w)},
				{"ants-shared", Peer, AntsShared(n, k, w)},
				{"pond-group-shared", Peer, PondGroupShared(n, k, w)},
				{"pond-pool-stopandwait", Peer, PondPoolPerOp(n, k, w)},
				{"semaphore-chan", Peer, SemaphoreChan(n, k, w)},
				{"naive-worker-pool", Reference, NaiveWorkerPool(n, k, w)},
				{"nursery-limit", Subject, NurseryLimit(n, k, w)},
				{"nursery-pool", Subject, NurseryPool(n, k, w)},
			},
		})
	}
	gs = append(gs, Group{
		Family: "Pool", Name: "shared8-100x100", Issue: 4, Tasks: 100 * 100,
		Note: "100 concurrent groups of 100 no-op tasks on one pool of 8 workers",
		Cases: []Case{
			{"ants-shared", Peer, SharedAnts(100, 100, 8)},
			{"pond-group-shared", Peer, SharedPond(100, 100, 8)},
			{"semaphore-chan-shared", Peer, SharedSemaphore(100, 100, 8)},
			{"naive-worker-pool-shared", Reference, SharedNaiveWorkerPool(100, 100, 8)},
			{"nursery-pool", Subject, SharedNurseryPool(100, 100, 8)},
		},
	})

	// Issue 4: one long-lived pool and nursery; run with
	// -benchtime 10000000x for the 10-million-task soak.
	gs = append(gs, Group{
		Family: "Soak", Name: "soak", Issue: 4, Tasks: 1,
		Note: "one op = one no-op task through a long-lived Pool(8) and nursery; reports HeapInuse at start and end",
		Cases: []Case{
			{"nursery-pool", Subject, SoakBenchmark(8)},
		},
	})

	// Issue 6: debug mode off vs on (debug.go).
	gs = append(gs, debugGroups()...)
	return gs
}
