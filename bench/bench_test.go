package bench_test

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/structured-go/nursery/bench"
)

// Every pool a benchmark creates is closed by it: goleak checks after the
// benchmarks too. IgnoreCurrent skips the goroutines of ants' default pool,
// which ants starts in its package init.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// Each family of bench.Groups has one Benchmark here; a sub-benchmark is
// named GROUP/impl=CASE. Per-task metrics (ns/task, allocs/task, B/task) are
// reported next to the usual per-op ones.

func BenchmarkCore(b *testing.B) { bench.RunFamily(b, "Core") }
func BenchmarkPool(b *testing.B) { bench.RunFamily(b, "Pool") }
func BenchmarkSoak(b *testing.B) { bench.RunFamily(b, "Soak") }

// BenchmarkDebug is issue 6's family: debug mode off vs on (debug.go).
func BenchmarkDebug(b *testing.B) { bench.RunFamily(b, "Debug") }

// wired lists the families that have a Benchmark above.
var wired = map[string]bool{"Core": true, "Pool": true, "Soak": true, "Debug": true}

func TestTable(t *testing.T) {
	groups := map[string]bool{}
	for _, g := range bench.Groups() {
		if !wired[g.Family] {
			t.Errorf("group %s: family %q has no Benchmark%s in bench_test.go", g.Name, g.Family, g.Family)
		}
		if groups[g.Name] || strings.ContainsAny(g.Name, " /") {
			t.Errorf("group name %q: duplicate, or holds a space or a slash", g.Name)
		}
		groups[g.Name] = true
		if g.Tasks < 1 || len(g.Cases) == 0 {
			t.Errorf("group %s: %d tasks per op, %d cases", g.Name, g.Tasks, len(g.Cases))
		}
		cases, baselines := map[string]bool{}, 0
		for _, c := range g.Cases {
			if cases[c.Name] || strings.ContainsAny(c.Name, " /") || c.F == nil {
				t.Errorf("group %s: case %q: duplicate, nil, or a space or slash in its name", g.Name, c.Name)
			}
			cases[c.Name] = true
			if c.Role == bench.Baseline {
				baselines++
			}
		}
		if baselines > 1 {
			t.Errorf("group %s: %d baselines, want at most 1", g.Name, baselines)
		}
	}
}
