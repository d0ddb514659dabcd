"""Interleaved A/B probe of the gather/bag/scatter kernels at 1 and 2 threads.

Every round runs each case once, in the same order, so machine noise (other processes on
a shared box) hits all cases alike; the medians over rounds and their ratios are printed.
Cases: fastembed lookup(out=) / allocating lookup, lookup_bag (every mode, out= and
allocating), accumulate, torch F.embedding_bag and the threaded copy that fastembed.bench
uses for bandwidth. Run from a worktree root:

    python tools/probe_threads.py [--rounds 9] [--only bag,lookup] [--busy 1]

`--busy N` starts N spinning processes for the run (a shared core), and stops them.
"""
import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fastembed


def make_bags(rng, n_rows, n_bags, mean_len, dist):
    from fastembed.bench.core import make_ids
    lengths = rng.integers(1, 2 * mean_len, n_bags)
    offsets = np.zeros(n_bags, np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids = make_ids(rng, dist, int(lengths.sum()), n_rows)
    return ids, offsets


def copy_call(n_bytes, threads, pool):
    n = n_bytes // 4
    src = np.ones(n, np.float32)
    dst = np.full(n, 2.0, np.float32)
    b = np.linspace(0, n, threads + 1).astype(np.int64)
    chunks = [(dst[x:y], src[x:y]) for x, y in zip(b[:-1], b[1:])]
    if threads == 1:
        return lambda: np.copyto(dst, src)
    return lambda: list(pool.map(lambda c: np.copyto(*c), chunks))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--only", default="lookup,bag,accumulate,copy,torch")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dist", default="uniform")
    ap.add_argument("--modes", default="sum")
    ap.add_argument("--busy", type=int, default=0)
    args = ap.parse_args()
    only = set(args.only.split(","))
    threads = [int(t) for t in args.threads.split(",")]
    rng = np.random.default_rng(0)
    n_rows, dim = 1_000_000, 64
    table = rng.random((n_rows, dim), dtype=np.float32)
    ids, offsets = make_bags(rng, n_rows, 100_000, 20, args.dist)
    psw = rng.random(ids.size, dtype=np.float32)
    grad = rng.random((ids.size, dim), dtype=np.float32)
    acc_ids = ids[:1_000_000].copy()
    acc_grad = grad[:1_000_000]
    out_g = np.zeros((ids.size, dim), np.float32)
    out_b = np.zeros((offsets.size, dim), np.float32)
    pool = ThreadPoolExecutor(2)
    cases = {}
    for t in threads:
        if "copy" in only:
            cases[f"copy {ids.size * dim * 4 >> 20} MB t{t}"] = copy_call(ids.size * dim * 4, t, pool)
        if "lookup" in only:
            cases[f"lookup out= t{t}"] = lambda t=t: fastembed.lookup(table, ids, out=out_g,
                                                                    num_threads=t)
            cases[f"lookup alloc t{t}"] = lambda t=t: fastembed.lookup(table, ids, num_threads=t)
        if "bag" in only:
            for m in args.modes.split(","):
                w = psw if m == "wsum" else None
                mode = "sum" if m == "wsum" else m
                cases[f"bag {m} out= t{t}"] = (
                    lambda t=t, mode=mode, w=w: fastembed.lookup_bag(
                        table, ids, offsets, mode=mode, per_sample_weights=w, out=out_b,
                        num_threads=t))
                cases[f"bag {m} alloc t{t}"] = (
                    lambda t=t, mode=mode, w=w: fastembed.lookup_bag(
                        table, ids, offsets, mode=mode, per_sample_weights=w, num_threads=t))
        if "accumulate" in only:
            cases[f"accumulate t{t}"] = lambda t=t: fastembed.accumulate(
                acc_ids, acc_grad, n_rows, num_threads=t)
    if "torch" in only:
        import torch
        import torch.nn.functional as F
        tt, ti, to = torch.from_numpy(table), torch.from_numpy(ids), torch.from_numpy(offsets)
        tw = torch.from_numpy(psw)
        for t in threads:
            for m in args.modes.split(","):
                w = tw if m == "wsum" else None
                mode = "sum" if m == "wsum" else m

                def tcall(t=t, mode=mode, w=w):
                    torch.set_num_threads(t)
                    with torch.no_grad():
                        F.embedding_bag(ti, tt, to, mode=mode, per_sample_weights=w)
                cases[f"torch bag {m} t{t}"] = tcall
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    try:
        for f in cases.values():
            f()
        times = {k: [] for k in cases}
        for _ in range(args.rounds):
            for k, f in cases.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    finally:
        for p in busy:
            p.kill()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(ids)} ids, {offsets.size} bags, dist={args.dist}, busy={args.busy}, "
          f"rounds={args.rounds}")
    for k, v in med.items():
        extra = ""
        if k.endswith("t2") and k[:-1] + "1" in med:
            extra = f"  t2/t1 = {v / med[k[:-1] + '1']:.2f}"
        print(f"{k:28s} {v * 1e3:9.2f} ms{extra}")
    return med


if __name__ == "__main__":
    main()
