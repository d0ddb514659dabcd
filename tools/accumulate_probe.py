"""Where accumulate's time goes on the bench's headline case (1M x 64 float32, 1M uniform
or Zipf ids), against the copy bandwidth and SciPy's product (issue 15, item 5).

Interleaved rounds in one process, medians; wall and on-CPU clocks (process CPU time /
threads; OMP_WAIT_POLICY=passive unless set, so idle workers do not count): on a loaded
machine the wall figures include time the threads sat descheduled. Bytes are counted as
fastembed/bench/accumulate.py counts them. The lookup gather of the same ids (same rows
moved at random, tools/gather_ceiling.c's ceiling) is timed beside them for scale.

    /work/devenv/bin/python tools/accumulate_probe.py [rounds] [uniform|zipf]
"""
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import fastembed  # noqa: E402
from fastembed import _kernels  # noqa: E402  (a probe: times the grouping alone)
from fastembed.bench.core import make_ids  # noqa: E402
from gather_peers import bench_copy  # noqa: E402  (tools/, this script's directory)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    dist = sys.argv[2] if len(sys.argv) > 2 else "uniform"
    n_rows, dim, n_ids = 1_000_000, 64, 1_000_000
    rng = np.random.default_rng(0)
    ids = make_ids(rng, dist, n_ids, n_rows)
    grad = rng.random((n_ids, dim), dtype=np.float32) - 0.5
    nnz = np.unique(ids).size
    moved = ids.nbytes + grad.nbytes + nnz * (8 + dim * 4)
    table = rng.random((n_rows, dim), dtype=np.float32)
    out = np.ones((n_ids, dim), np.float32)
    copy, copy_bytes, pool = bench_copy(n_rows * dim)

    ones = np.ones(n_ids, np.float32)
    indptr = np.arange(n_ids + 1, dtype=np.int64)
    variants = {
        "copy": (copy, copy_bytes, None),
        "accumulate": (lambda t: fastembed.accumulate(ids, grad, n_rows, num_threads=t),
                       moved, None),
        "  group_ids alone": (lambda t: _kernels.group_ids(ids, n_rows, t, ids), moved, None),
        "lookup(out=) same ids": (lambda t: fastembed.lookup(table, ids, out=out,
                                                             num_threads=t), moved, None),
        "scipy one-hot.T @ grad": (
            lambda t: sp.csr_array((ones, ids, indptr), shape=(n_ids, n_rows)).T @ grad,
            moved, 1),
    }
    for threads in (1, 2):
        wall = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        for f, _, _ in variants.values():
            f(threads)
        for _ in range(rounds):
            for name, (f, _, _) in variants.items():
                c0, t0 = time.process_time(), time.perf_counter()
                f(threads)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        print(f"{dist}, {threads} thread(s), {rounds} rounds, load {os.getloadavg()[0]:.1f}, "
              f"accumulate bytes {moved / 1e6:.0f} MB")
        cw = copy_bytes / np.median(wall["copy"]) / 1e9
        cc = copy_bytes / (np.median(cpu["copy"]) / threads) / 1e9
        acc_w, acc_c = np.median(wall["accumulate"]), np.median(cpu["accumulate"]) / threads
        for name, (_, nbytes, used) in variants.items():
            mw = np.median(wall[name])
            mc = np.median(cpu[name]) / (used or threads)
            print(f"  {name:<24} wall {mw * 1e3:8.2f} ms {nbytes / mw / 1e9 / cw:5.2f} of copy"
                  f" {mw / acc_w:5.2f}x acc | on-CPU {mc * 1e3:8.2f} ms "
                  f"{nbytes / mc / 1e9 / cc:5.2f} of copy {mc / acc_c:5.2f}x acc")
    pool.shutdown()


if __name__ == "__main__":
    main()
