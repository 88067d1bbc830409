// Command ratios runs the benchmarks of package bench with testing.Benchmark
// and prints, per group, each implementation's cost per task and its ratio
// to the group's baseline (raw sync.WaitGroup.Go or errgroup for the core
// groups, the fastest peer for the pool groups).
//
// Run it from the bench module:
//
//	cd bench && go run ./cmd/ratios              # every group, once
//	go run ./cmd/ratios -count 6                 # medians (and minima) of 6 interleaved runs
//	go run ./cmd/ratios -short                   # quick smoke (-benchtime 20x)
//	go run ./cmd/ratios -run 'limit8|spawn-100/' # groups/cases matching a regexp
//	go run ./cmd/ratios -md                      # Markdown tables, for a README
//	go run ./cmd/ratios -soak                    # 10 million tasks through one Pool and nursery
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/structured-go/nursery/bench"
)

func main() {
	testing.Init() // registers -test.benchtime, which testing.Benchmark reads
	var (
		count     = flag.Int("count", 1, "run every case `n` times, interleaved, and print medians")
		short     = flag.Bool("short", false, "quick smoke: sets -benchtime 20x unless it is given")
		benchtime = flag.String("benchtime", "1s", "per-case benchmark time, as go test's -benchtime (`1s`, `100x`)")
		run       = flag.String("run", "", "only cases whose GROUP/impl=CASE matches this `regexp`")
		md        = flag.Bool("md", false, "print Markdown tables")
		soak      = flag.Bool("soak", false, "run only the soak: -soak-tasks tasks through one Pool and nursery")
		soakTasks = flag.Int("soak-tasks", 10_000_000, "tasks in the soak")
		soakEvery = flag.Int("soak-every", 1_000_000, "tasks between two heap samples of the soak")
		soakPool  = flag.Int("soak-workers", 8, "workers of the soak's Pool")
	)
	flag.Parse()
	if flag.NArg() > 0 || *count < 1 || *soakEvery < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *soak {
		if err := runSoak(os.Stdout, *soakTasks, *soakPool, *soakEvery); err != nil {
			fmt.Fprintln(os.Stderr, "ratios:", err)
			os.Exit(1)
		}
		return
	}
	bt := *benchtime
	if *short && !isSet("benchtime") {
		bt = "20x"
	}
	if err := flag.Set("test.benchtime", bt); err != nil {
		fmt.Fprintln(os.Stderr, "ratios: -benchtime:", err)
		os.Exit(2)
	}
	re, err := regexp.Compile(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios: -run:", err)
		os.Exit(2)
	}
	if !runAll(os.Stdout, re, *count, bt, *md) {
		os.Exit(1)
	}
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sample is one testing.Benchmark result, per task.
type sample struct{ ns, allocs, bytes float64 }

type row struct {
	bench.Case
	samples []sample
}

// median returns the median of f over the row's samples.
func (r *row) median(f func(sample) float64) float64 {
	v := make([]float64, len(r.samples))
	for i, s := range r.samples {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return math.NaN()
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// spread returns (max-min)/median of the ns/task samples, as a fraction.
func (r *row) spread() float64 {
	if len(r.samples) < 2 {
		return math.NaN()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range r.samples {
		lo, hi = min(lo, s.ns), max(hi, s.ns)
	}
	return (hi - lo) / r.median(func(s sample) float64 { return s.ns })
}

// min returns the smallest ns/task: on a loaded machine, the closest to the
// cost of the code itself.
func (r *row) min() float64 {
	m := math.Inf(1)
	for _, s := range r.samples {
		m = min(m, s.ns)
	}
	return m
}

func ns(s sample) float64     { return s.ns }
func allocs(s sample) float64 { return s.allocs }
func bytes(s sample) float64  { return s.bytes }

func runAll(w io.Writer, re *regexp.Regexp, count int, benchtime string, md bool) bool {
	groups := bench.Groups()
	rows := make([][]*row, len(groups))
	for i, g := range groups {
		for _, c := range g.Cases {
			if re.MatchString(g.Name + "/impl=" + c.Name) {
				rows[i] = append(rows[i], &row{Case: c})
			}
		}
	}
	fmt.Fprintf(w, "%s %s/%s, GOMAXPROCS=%d, NumCPU=%d, -benchtime %s, -count %d, Spin(%d) ≈ 1µs\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(),
		benchtime, count, bench.SpinIterations())
	ok := true
	// Interleave the repetitions, so that a noisy minute on a shared machine
	// spreads over every case instead of hitting one.
	for rep := range count {
		for i, g := range groups {
			for _, r := range rows[i] {
				fmt.Fprintf(os.Stderr, "\r\033[Krun %d/%d: %s/%s", rep+1, count, g.Name, r.Name)
				res := testing.Benchmark(g.Measure(r.Case))
				if res.N == 0 {
					fmt.Fprintf(os.Stderr, "\nratios: %s/%s failed\n", g.Name, r.Name)
					ok = false
					continue
				}
				t := float64(res.N) * float64(g.Tasks)
				r.samples = append(r.samples, sample{
					ns:     float64(res.T.Nanoseconds()) / t,
					allocs: float64(res.MemAllocs) / t,
					bytes:  float64(res.MemBytes) / t,
				})
			}
		}
	}
	fmt.Fprint(os.Stderr, "\r\033[K")
	for i, g := range groups {
		if len(rows[i]) > 0 {
			printGroup(w, g, rows[i], md)
		}
	}
	return ok
}

// baseline returns the row every ratio of the group is against: its
// Baseline case, or else its fastest Peer by median ns/task.
func baseline(rows []*row) *row {
	var best *row
	for _, r := range rows {
		if len(r.samples) == 0 {
			continue
		}
		if r.Role == bench.Baseline {
			return r
		}
		if r.Role == bench.Peer && (best == nil || r.median(ns) < best.median(ns)) {
			best = r
		}
	}
	return best
}

func printGroup(w io.Writer, g bench.Group, rows []*row, md bool) {
	base := baseline(rows)
	what := "no baseline"
	if base != nil {
		what = "ratio vs " + base.Name
		if base.Role == bench.Peer {
			what += " (fastest peer)"
		}
	}
	cols := []string{"impl", "role", "ns/task", "±", "min", "allocs/task", "B/task", "ratio"}
	fmt.Fprintf(w, "\n%s%s/%s (issue %d), %d tasks/op, %s\n%s\n", map[bool]string{true: "#### ", false: "== "}[md],
		g.Family, g.Name, g.Issue, g.Tasks, what, g.Note)
	var tw *tabwriter.Writer
	line := func(cells ...string) {
		if md {
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		} else {
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	if md {
		fmt.Fprintln(w)
		line(cols...)
		fmt.Fprintf(w, "| --- | --- |%s\n", strings.Repeat(" ---: |", len(cols)-2))
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		line(cols...)
	}
	for _, r := range rows {
		if len(r.samples) == 0 {
			line(r.Name, r.Role.String(), "FAILED", "", "", "", "", "")
			continue
		}
		ratio := ""
		if base != nil {
			ratio = fmt.Sprintf("%.2f×", r.median(ns)/base.median(ns))
		}
		spread := ""
		if s := r.spread(); !math.IsNaN(s) {
			spread = fmt.Sprintf("%.0f%%", 100*s/2)
		}
		line(r.Name, r.Role.String(), fmt.Sprintf("%.1f", r.median(ns)), spread, fmt.Sprintf("%.1f", r.min()),
			fmt.Sprintf("%.2f", r.median(allocs)), fmt.Sprintf("%.1f", r.median(bytes)), ratio)
	}
	if tw != nil {
		tw.Flush()
	}
}

func runSoak(w io.Writer, tasks, workers, every int) error {
	fmt.Fprintf(w, "soak: %d no-op tasks through one nursery on one Pool(%d); %s, GOMAXPROCS=%d\n",
		tasks, workers, runtime.Version(), runtime.GOMAXPROCS(0))
	const format = "%12v  %15v  %10v  %14v\n" // streamed: a tabwriter would wait for the end
	fmt.Fprintf(w, format, "tasks done", "HeapInuse (KiB)", "goroutines", "ns/task so far")
	var first, last bench.SoakSample
	err := bench.Soak(tasks, workers, every, func(s bench.SoakSample) {
		if s.Done == 0 {
			first = s
		}
		last = s
		per := ""
		if s.Done > 0 {
			per = fmt.Sprintf("%.1f", float64(s.Elapsed.Nanoseconds())/float64(s.Done))
		}
		fmt.Fprintf(w, format, s.Done, s.HeapInuse/1024, s.Goroutines, per)
	})
	fmt.Fprintf(w, "HeapInuse start %d KiB, end %d KiB (%+.1f%%) after %d tasks in %v\n",
		first.HeapInuse/1024, last.HeapInuse/1024,
		100*(float64(last.HeapInuse)-float64(first.HeapInuse))/float64(first.HeapInuse),
		last.Done, last.Elapsed.Round(time.Millisecond))
	return err
}
