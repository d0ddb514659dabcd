"""Allocating calls against the same calls into a preallocated out= (issue 15, item 3), with
the buffer pool on (default) and off, interleaved in one process; medians of wall time and
of on-CPU time (process CPU time / threads; OMP_WAIT_POLICY=passive unless set).

    /work/devenv/bin/python tools/alloc_probe.py [rounds] [threads]

Cases: the bench's lookup headline (1M x 64 f32, 1M uniform ids), the issue's 50K x 128 /
500K ids lookup, lookup_bag sum and mean (1M x 64, 100K bags of 1..39 ids) and accumulate
(1M x 64, 1M uniform ids). Prints allocating / out= per case, pool on and off.
"""
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402

import fastembed  # noqa: E402


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = np.random.default_rng(0)
    big = rng.random((1_000_000, 64), dtype=np.float32)
    ids = rng.integers(0, 1_000_000, 1_000_000)
    small = rng.random((50_000, 128), dtype=np.float32)
    ids5 = rng.integers(0, 50_000, 500_000)
    lengths = rng.integers(1, 40, 100_000)
    offsets = np.zeros(lengths.size, np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    bag_ids = rng.integers(0, 1_000_000, int(lengths.sum()))
    grad = rng.random((1_000_000, 64), dtype=np.float32)
    o1 = np.ones((1_000_000, 64), np.float32)
    o2 = np.ones((500_000, 128), np.float32)
    ob = np.ones((100_000, 64), np.float32)
    oa = (np.ones(1_000_000, np.int64), np.ones((1_000_000, 64), np.float32))
    t = threads
    cases = {
        "lookup 1Mx64 1M ids": (
            lambda: fastembed.lookup(big, ids, num_threads=t),
            lambda: fastembed.lookup(big, ids, out=o1, num_threads=t)),
        "lookup 50Kx128 500K ids": (
            lambda: fastembed.lookup(small, ids5, num_threads=t),
            lambda: fastembed.lookup(small, ids5, out=o2, num_threads=t)),
        "lookup_bag sum 100K bags": (
            lambda: fastembed.lookup_bag(big, bag_ids, offsets, num_threads=t),
            lambda: fastembed.lookup_bag(big, bag_ids, offsets, out=ob, num_threads=t)),
        "lookup_bag mean 100K bags": (
            lambda: fastembed.lookup_bag(big, bag_ids, offsets, mode="mean", num_threads=t),
            lambda: fastembed.lookup_bag(big, bag_ids, offsets, mode="mean", out=ob,
                                         num_threads=t)),
        "accumulate 1M ids": (
            lambda: fastembed.accumulate(ids, grad, 1_000_000, num_threads=t),
            lambda: fastembed.accumulate(ids, grad, 1_000_000, out=oa, num_threads=t)),
    }
    cap = fastembed.buffer_pool_info()["max_bytes"] if hasattr(fastembed, "buffer_pool_info") \
        else None
    print(f"{threads} thread(s), {rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for name, (alloc, given) in cases.items():
        wall = {k: [] for k in ("alloc no pool", "alloc", "out=")}
        cpu = {k: [] for k in wall}
        alloc(), given()
        for _ in range(rounds):
            for key in wall:
                if key == "alloc no pool":
                    fastembed.set_buffer_pool(0)
                f = given if key == "out=" else alloc
                c0, t0 = time.process_time(), time.perf_counter()
                r = f()
                wall[key].append(time.perf_counter() - t0)
                cpu[key].append(time.process_time() - c0)
                del r
                if key == "alloc no pool":
                    fastembed.set_buffer_pool(cap)
                    r = alloc()  # untimed: the pool holds a block again, as in steady use
                    del r
        m = {k: (np.median(wall[k]), np.median(cpu[k]) / threads) for k in wall}
        print(f"  {name:<26} out= {m['out='][0] * 1e3:8.2f} ms (on-CPU {m['out='][1] * 1e3:7.2f})"
              f" | alloc/out= {m['alloc'][0] / m['out='][0]:5.2f} (on-CPU "
              f"{m['alloc'][1] / m['out='][1]:5.2f}) | no pool: "
              f"{m['alloc no pool'][0] / m['out='][0]:5.2f} (on-CPU "
              f"{m['alloc no pool'][1] / m['out='][1]:5.2f})")


if __name__ == "__main__":
    main()
