"""The floor under a quantized bag: interleaved rounds of fastembed's lookup_bag on a
QuantizedTable, torch's quantized embedding_bag op (same bytes), fastembed's float32 bag
(same values) and a "touch" loop that only loads every cache line of every row the bag
reads, with the same prefetch (compiled here with the system C compiler). A random-row
gather from a table far larger than the caches waits on memory, so the touch loop's time
is the least any kernel can take; torch's time / the touch loop's is the most any kernel
can gain over torch on this machine.

    python tools/quant_floor_probe.py [--bits 8] [--dim 64] [--rows 1000000] [--rounds 21]

One thread; times are CPU time of the calling thread (a shared machine deschedules the
process for much of the wall time), ratios are medians of per-round ratios."""
import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import fastembed  # noqa: E402
from fastembed.bench.core import make_ids  # noqa: E402
from fastembed.bench.lookup_bag import bag_lengths  # noqa: E402
from fastembed.bench.quantized import packed_torch_layout, quantized_rows  # noqa: E402

TOUCH_C = r"""
#include <stdint.h>
uint64_t touch_rows(const uint8_t *t, int64_t rb, const int64_t *ids, int64_t m, int64_t d)
{
    uint64_t acc = 0;
    for (int64_t k = 0; k < m; k++) {
        if (k + d < m) {
            const uint8_t *p = t + ids[k + d] * rb;
            for (int64_t o = 0; o < rb; o += 64)
                __builtin_prefetch(p + o);
            __builtin_prefetch(p + rb - 1);
        }
        const uint8_t *p = t + ids[k] * rb;
        for (int64_t o = 0; o < rb; o += 64)
            acc += p[o];
        acc += p[rb - 1];
    }
    return acc;
}
"""


def touch_library(tmp):
    src, lib = os.path.join(tmp, "touch.c"), os.path.join(tmp, "touch.so")
    with open(src, "w") as f:
        f.write(TOUCH_C)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", src, "-o", lib], check=True)
    touch = ctypes.CDLL(lib).touch_rows
    touch.restype = ctypes.c_uint64
    touch.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                      ctypes.c_int64]
    return touch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bags", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--prefetch", type=int, default=32, help="the touch loop's distance")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    codes, scale, bias = quantized_rows(rng, args.rows, args.dim, args.bits)
    qt = fastembed.QuantizedTable.from_packed(
        packed_torch_layout(codes, scale, bias, args.bits), args.bits, dim=args.dim)
    lengths = bag_lengths(rng, args.bags, 20)
    offsets = np.zeros(args.bags, np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids = make_ids(rng, "uniform", int(lengths.sum()), args.rows)
    weights = qt.dequantize()
    with tempfile.TemporaryDirectory() as tmp:
        touch = touch_library(tmp)
        calls = {
            "fastembed quantized": lambda: fastembed.lookup_bag(qt, ids, offsets,
                                                                num_threads=1),
            "fastembed float32": lambda: fastembed.lookup_bag(weights, ids, offsets,
                                                              num_threads=1),
            "touch every line": lambda: touch(qt.packed.ctypes.data, qt.packed.shape[1],
                                              ids.ctypes.data, ids.size, args.prefetch),
        }
        try:
            import torch
            torch.set_num_threads(1)
            q = torch.ops.quantized
            op = (q.embedding_bag_byte_rowwise_offsets if args.bits == 8
                  else q.embedding_bag_4bit_rowwise_offsets)
            packed, tids, toffsets = (torch.from_numpy(a) for a in (qt.packed, ids, offsets))
            calls["torch"] = lambda: op(packed, tids, toffsets)
        except ImportError:
            pass
        for call in calls.values():
            call()
        times = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                t = time.thread_time()
                call()
                times[name].append(time.thread_time() - t)
    base = times["fastembed quantized"]
    print(f"{args.rows} x {args.dim} {args.bits}-bit, {ids.size} ids in {args.bags} bags, "
          f"1 thread, {args.rounds} interleaved rounds (CPU time)")
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        print(f"  {name:22s} median {statistics.median(ts) * 1e3:7.1f} ms   "
              f"this / fastembed quantized {ratio:5.2f}")
    if "torch" in times:
        floor = statistics.median(t / f for t, f in zip(times["torch"],
                                                        times["touch every line"]))
        print(f"  torch / touch loop {floor:.2f}: the most any kernel can gain over torch here")


if __name__ == "__main__":
    main()
