"""A/B of the pooled-lookup kernel between builds, beside torch, in one process: each of the
given extension .so files is loaded with ctypes and its fe_lookup_bag_<value>_i64 called
directly (the Python wrapper's cost left out), torch's F.embedding_bag timed in the same
interleaved rounds (each round times every variant once, in turn); medians of wall and
on-CPU time (process CPU time / threads).

    cp fastembed/_kernels*.so /tmp/a.so   # before a change; rebuild; then
    /work/devenv/bin/python tools/bag_ab.py ROUNDS CASE[,CASE] /tmp/a.so fastembed/_kernels*.so

CASE as in tools/bag_probe.py (u-sum, z-sum, u-mean, u-wsum, h-u, h-z, b-u, b-z, q-u, q-z, ...);
PROBE_THREADS=1,2 by default. Results of every build are checked equal (bit for bit).
"""
import ctypes
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tools.bag_probe import CASES, DIM, case_inputs, interleaved  # noqa: E402

MODES = {"sum": 0, "mean": 1, "max": 2, "sqrtn": 3}


def kernel(path, vsuf):
    lib = ctypes.CDLL(path)
    f = getattr(lib, f"fe_lookup_bag_{vsuf}_i64")
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    f.argtypes = [p, i64, i64, i64, p, i64, p, i64, c_int, p, i64, p, p, c_int, p]
    f.restype = c_int
    return f


def main():
    rounds = int(sys.argv[1])
    names = sys.argv[2].split(",")
    libs = sys.argv[3:]
    threads_list = [int(x) for x in os.environ.get("PROBE_THREADS", "1,2").split(",")]
    for name in names:
        n_rows, n_bags, mean_len, dist, mode, weighted, kind = CASES[name]
        w, offsets, ids, psw, _ = case_inputs(name)
        ids = ids.astype(np.int64)
        bounds = np.append(offsets, ids.size).astype(np.int64)
        vsuf, tdt = "f32", None
        if kind == "f16":
            w, vsuf, tdt = w.astype(np.float16), "f16", torch.float16
        elif kind == "bf16":
            import ml_dtypes
            w, vsuf, tdt = w.astype(ml_dtypes.bfloat16), "bf16", torch.bfloat16
        if psw is not None:
            psw = psw.astype(w.dtype)
        wt = torch.from_numpy(w.view(np.uint16) if kind == "bf16" else w)
        if kind == "bf16":
            wt = wt.view(torch.bfloat16)
        it, ot = torch.from_numpy(ids), torch.from_numpy(offsets)
        pt = None if psw is None else torch.from_numpy(psw)
        v, outs = {}, {}
        bad = ctypes.c_int64(-1)
        for k, path in enumerate(libs):
            f = kernel(path, vsuf)
            out = np.zeros((n_bags, DIM), w.dtype)
            outs[k] = out

            def call(t, f=f, out=out):
                st = f(w.ctypes.data, n_rows, DIM, w.strides[0], ids.ctypes.data, ids.size,
                       bounds.ctypes.data, n_bags, MODES[mode],
                       None if psw is None else psw.ctypes.data, -1, out.ctypes.data, None, t,
                       ctypes.byref(bad))
                assert st == 0, st
            v[f"{chr(65 + k)}:{os.path.basename(path)[:12]}"] = call
        if kind in ("f16", "bf16"):
            f32 = kernel(libs[-1], "f32")
            w32 = w.astype(np.float32)
            o32 = np.zeros((n_bags, DIM), np.float32)
            v["last f32 table"] = lambda t: f32(w32.ctypes.data, n_rows, DIM, w32.strides[0],
                                                ids.ctypes.data, ids.size, bounds.ctypes.data,
                                                n_bags, MODES[mode], None, -1, o32.ctypes.data,
                                                None, t, ctypes.byref(bad))
        v["torch"] = lambda t: (torch.set_num_threads(t),
                                torch.nn.functional.embedding_bag(it, wt, ot, mode=mode,
                                                                  per_sample_weights=pt))
        for threads in threads_list:
            for f in v.values():
                f(threads)
            for k in range(1, len(libs)):
                assert np.array_equal(outs[0].view(np.uint8), outs[k].view(np.uint8)), \
                    f"{name}: build {k} differs"
            mw, mc = interleaved(v, threads, rounds)
            line = "  ".join(f"{k} {mw[k]:.1f}/{mc[k]:.1f}" for k in v)
            last = list(v)[len(libs) - 1]
            rs = "  ".join(f"{k}/{last} {mw[k] / mw[last]:.2f}/{mc[k] / mc[last]:.2f}"
                           for k in v if k != last)
            print(f"{name} t{threads} load {os.getloadavg()[0]:.1f} | wall/cpu ms: {line} | "
                  f"time ratios wall/cpu: {rs}", flush=True)


if __name__ == "__main__":
    main()
