"""The Python side of bench/subprocess: ProcessPoolExecutor doing what the
Go benchmarks do, measured the same way.

    python3 ppe.py MODE CALLS WORKERS TASK_US

MODE is "latency" (one call at a time, round trips measured one by one),
"throughput" (all calls submitted at once, no-op) or "cpu" (all submitted
at once, each spinning a xorshift loop calibrated here to take TASK_US
microseconds of CPU). Prints one JSON object: calls_per_s, p50_us, p99_us.
"""

import concurrent.futures as cf
import json
import sys
import time

MASK = (1 << 64) - 1


def noop(x):
    return x


def burn(n):
    x = 88172645463325252
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
    return x


def calibrate(us):
    """Rounds of burn that take about us microseconds (median of 7)."""
    probe = 20000
    per = []
    for _ in range(7):
        t = time.perf_counter()
        burn(probe)
        per.append((time.perf_counter() - t) / probe)
    per.sort()
    return max(1, int(us * 1e-6 / per[3]))


def main():
    mode, calls, workers, task_us = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    iters = calibrate(task_us) if mode == "cpu" else 0
    with cf.ProcessPoolExecutor(max_workers=workers) as ex:
        # Start every worker before measuring.
        list(ex.map(noop, range(4 * workers)))
        rtts = []
        start = time.perf_counter()
        if mode == "latency":
            for i in range(calls):
                t = time.perf_counter()
                ex.submit(noop, i).result()
                rtts.append(time.perf_counter() - t)
        elif mode == "throughput":
            for f in [ex.submit(noop, i) for i in range(calls)]:
                f.result()
        elif mode == "cpu":
            for f in [ex.submit(burn, iters) for _ in range(calls)]:
                f.result()
        else:
            sys.exit("unknown mode " + mode)
        elapsed = time.perf_counter() - start
    rtts.sort()

    def pct(p):
        return rtts[int((len(rtts) - 1) * p / 100)] * 1e6 if rtts else 0

    print(json.dumps({"calls_per_s": calls / elapsed, "p50_us": pct(50), "p99_us": pct(99)}))


if __name__ == "__main__":
    main()
