// Package subprocessbench measures subprocess worker pools (issue 5)
// against in-process goroutines, a process per call (exec-per-call), and
// Python's concurrent.futures.ProcessPoolExecutor (the script ppe.py,
// run when python3 is on PATH), in the same run:
//
//	cd bench && go test -run '^$' -bench . -benchtime 3s ./subprocess/
//
// Each benchmark reports calls/s; the one-call-at-a-time ones also report
// the p50 and p99 round trip in µs. See README.md beside this file for the
// targets and the figures measured.
package subprocessbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Burn spins a deterministic loop of n rounds and returns its result, so
// that the compiler cannot drop it.
func Burn(n int) uint64 {
	x := uint64(88172645463325252)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// Calibrate returns the number of Burn rounds that take about d on this
// machine: the median of several measurements.
func Calibrate(d time.Duration) int {
	const probe = 1 << 20
	var per []float64
	for range 7 {
		start := time.Now()
		runtime.KeepAlive(Burn(probe)) // used, or the compiler drops the loop's body
		per = append(per, float64(time.Since(start))/probe)
	}
	slices.Sort(per)
	return int(float64(d) / per[len(per)/2])
}

// Percentile returns the p-th percentile (0 < p < 100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// PPEResult is what ppe.py measured.
type PPEResult struct {
	CallsPerSec float64 `json:"calls_per_s"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
}

// RunPPE runs ppe.py (path) with python3 in the given mode ("latency",
// "throughput" or "cpu") for n calls on the given number of workers; for
// "cpu", each call spins the same loop as Burn for about task of CPU time
// (calibrated in Python). It returns exec.ErrNotFound (wrapped) when
// python3 is missing.
func RunPPE(path, mode string, n, workers int, task time.Duration) (PPEResult, error) {
	var r PPEResult
	py, err := exec.LookPath("python3")
	if err != nil {
		return r, err
	}
	cmd := exec.Command(py, path, mode, strconv.Itoa(n), strconv.Itoa(workers), strconv.Itoa(int(task/time.Microsecond)))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return r, fmt.Errorf("%s %s: %w: %s", py, path, err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("ppe.py printed %q: %w", out, err)
	}
	return r, nil
}
