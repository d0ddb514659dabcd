"""2 threads against 1 thread with other processes spinning (issue 15, item 4), interleaved
in one process: each round times every kernel at 1 and at 2 threads, in turn; medians.

    /work/devenv/bin/python tools/busy_probe.py [rounds] [busy]

busy (default 1) spinning processes run for the whole probe, as `bench --busy`. Prints per
kernel the 1-thread and 2-thread medians and their ratio (target: at most 1.25 when busy).
"""
import os
import sys
import time

import numpy as np

import fastembed
from fastembed import _kernels  # noqa: F401  (a probe: the grouping alone)
from fastembed.bench import runner
from fastembed.bench.core import make_ids


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    busy = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = np.random.default_rng(0)
    n_rows, dim, n = 250_000, 64, 125_000
    table = rng.random((n_rows, dim), dtype=np.float32)
    uni = make_ids(rng, "uniform", n, n_rows)
    zipf = make_ids(rng, "zipf", n, n_rows)
    grad = rng.random((n, dim), dtype=np.float32)
    out = np.ones((n, dim), np.float32)
    init = fastembed.initializers.get("uniform", seed=1)
    kernels = {
        "lookup(out=) uniform": lambda t: fastembed.lookup(table, uni, out=out, num_threads=t),
        "lookup(out=) zipf": lambda t: fastembed.lookup(table, zipf, out=out, num_threads=t),
        "accumulate uniform": lambda t: fastembed.accumulate(uni, grad, n_rows, num_threads=t),
        "accumulate zipf": lambda t: fastembed.accumulate(zipf, grad, n_rows, num_threads=t),
        "  group_ids zipf": lambda t: _kernels.group_ids(zipf, n_rows, t, zipf),
        "init uniform 250Kx64": lambda t: _with_threads(t, lambda: init((n_rows, dim),
                                                                         "float32")),
    }
    times = {(k, t): [] for k in kernels for t in (1, 2)}
    with runner.busy_processes(busy):
        time.sleep(0.5)
        for f in kernels.values():
            f(1), f(2)
        for _ in range(rounds):
            for name, f in kernels.items():
                for t in (1, 2):
                    t0 = time.perf_counter()
                    f(t)
                    times[(name, t)].append(time.perf_counter() - t0)
    print(f"{busy} busy process(es), {rounds} rounds, load {os.getloadavg()[0]:.1f}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    for name in kernels:
        one, two = np.median(times[(name, 1)]), np.median(times[(name, 2)])
        print(f"  {name:<24} 1 thr {one * 1e3:8.2f} ms  2 thr {two * 1e3:8.2f} ms  "
              f"2/1 {two / one:5.2f}")


def _with_threads(t, f):
    old = fastembed.get_num_threads()
    fastembed.set_num_threads(t)
    try:
        return f()
    finally:
        fastembed.set_num_threads(old)


if __name__ == "__main__":
    main()
