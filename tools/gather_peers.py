"""The random-row gather of the bench's headline lookup case (1M x 64 float32 table, 1M
uniform int64 ids, out= already written) by fastembed, NumPy and torch, beside the
sequential copy the bench divides by, at 1 and 2 threads (issue 15, item 5).

Interleaved rounds in one process (each round times every variant once, in turn), medians.
Two clocks: wall time, and on-CPU time (process CPU time / threads): on a loaded machine the
wall figures include time the threads sat descheduled, the on-CPU ones do not. Run with
OMP_WAIT_POLICY=passive (set below unless the caller set it) so idle OpenMP workers sleep
instead of spinning, which on-CPU time would count. tools/gather_ceiling.c measures the
same gather written directly in C.

    /work/devenv/bin/python tools/gather_peers.py [rounds] [--alloc]

--alloc adds the allocating calls (fastembed.lookup, np.take, F.embedding) beside out=.
With GATHER_CEILING_SO naming tools/gather_ceiling.c built as a library (its header says
how), the probe's best C loop (ordinary stores, prefetch 16 rows ahead) runs beside them.
"""
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402

import fastembed  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:
    torch = None
from concurrent.futures import ThreadPoolExecutor  # noqa: E402


def bench_copy(n):
    """The bench's copy (fastembed/bench/runner.py measure_copy) of two written float32
    buffers of n values, as (call(threads), bytes counted, thread pool to shut down)."""
    src = np.ones(n, np.float32)
    dst = np.full(n, 2.0, np.float32)
    pool = ThreadPoolExecutor(2)

    def copy(threads):
        if threads == 1:
            np.copyto(dst, src)
            return
        b = np.linspace(0, n, threads + 1).astype(np.int64)
        list(pool.map(lambda k: np.copyto(dst[b[k]:b[k + 1]], src[b[k]:b[k + 1]]),
                      range(threads)))
    return copy, 2 * src.nbytes, pool


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 9
    alloc = "--alloc" in sys.argv
    n_rows, dim, n_ids = 1_000_000, 64, 1_000_000
    rng = np.random.default_rng(0)
    w = rng.random((n_rows, dim), dtype=np.float32)
    ids = rng.integers(0, n_rows, n_ids, dtype=np.int64)
    raw = np.full(n_ids * dim + 16, 1.0, np.float32)  # out on a 64-byte line: the C probe's
    skip = (-raw.ctypes.data % 64) // 4              # streaming stores need it
    out = raw[skip:skip + n_ids * dim].reshape(n_ids, dim)
    moved = 2 * n_ids * dim * 4 + ids.nbytes
    copy, copy_bytes, pool = bench_copy(n_rows * dim)
    variants = {"copy (np.copyto, the bench's)": (copy, copy_bytes)}
    variants["fastembed.lookup(out=)"] = (
        lambda t: fastembed.lookup(w, ids, out=out, num_threads=t), moved)
    variants["np.take(out=, clip) [1 thr]"] = (
        lambda t: np.take(w, ids, axis=0, out=out, mode="clip"), moved)
    if torch is not None:
        wt, it, ot = torch.from_numpy(w), torch.from_numpy(ids), torch.from_numpy(out)

        def index_select(t):
            torch.set_num_threads(t)
            torch.index_select(wt, 0, it, out=ot)
        variants["torch.index_select(out=)"] = (index_select, moved)
    lib = os.environ.get("GATHER_CEILING_SO")
    if lib:
        import ctypes
        so = ctypes.CDLL(lib)
        p = ctypes.c_void_p
        i64 = ctypes.c_int64
        so.gather_ceiling_call.argtypes = [p, i64, i64, p, i64, p, ctypes.c_int, ctypes.c_int,
                                           ctypes.c_int]
        args = (w.ctypes.data, n_rows, dim * 4, ids.ctypes.data, n_ids, out.ctypes.data)
        for nt_store in (0, 1):
            variants[f"C probe loop, pf16{', NT stores' if nt_store else ''}"] = (
                lambda t, s=nt_store: so.gather_ceiling_call(*args, t, 16, s), moved)
    if alloc:
        variants["fastembed.lookup"] = (lambda t: fastembed.lookup(w, ids, num_threads=t), moved)
        variants["np.take [1 thr]"] = (lambda t: np.take(w, ids, axis=0), moved)
        if torch is not None:
            def embedding(t):
                torch.set_num_threads(t)
                torch.nn.functional.embedding(it, wt)
            variants["torch F.embedding"] = (embedding, moved)
    for threads in (1, 2):
        wall = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        for name, (f, _) in variants.items():
            f(threads)  # warm
        for _ in range(rounds):
            for name, (f, _) in variants.items():
                c0, t0 = time.process_time(), time.perf_counter()
                f(threads)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        used = {k: (1 if "[1 thr]" in k else threads) for k in variants}
        base_w = copy_bytes / np.median(wall["copy (np.copyto, the bench's)"]) / 1e9
        base_c = copy_bytes / (np.median(cpu["copy (np.copyto, the bench's)"]) / threads) / 1e9
        print(f"{threads} thread(s), {rounds} rounds, load {os.getloadavg()[0]:.1f}")
        for name, (_, nbytes) in variants.items():
            mw = np.median(wall[name])
            mc = np.median(cpu[name]) / used[name]
            gw, gc = nbytes / mw / 1e9, nbytes / mc / 1e9
            print(f"  {name:<32} wall {mw * 1e3:8.2f} ms {gw:6.2f} GB/s {gw / base_w:5.2f} of copy"
                  f" | on-CPU {mc * 1e3:8.2f} ms {gc:6.2f} GB/s {gc / base_c:5.2f} of copy")
    pool.shutdown()


if __name__ == "__main__":
    main()
