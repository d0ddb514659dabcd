"""lookup_bag against torch's F.embedding_bag on the bench's bag cases (issue 15 item 1,
issue 18's half bags), interleaved rounds in one process (each round times every variant
once, in turn), medians of wall and on-CPU time (process CPU time / threads: on a loaded
machine the wall figures include time the threads sat descheduled).

    /work/devenv/bin/python tools/bag_probe.py [rounds=7] [case ...]

Cases (default all): u-sum z-sum u-mean u-max u-wsum u-len1 u-len32 h-u h-z b-u b-z q-u q-z
fb-u fb-z: float32 1M x 64 unless "q-" (--quick: 250K x 64, 5K bags); h-/b- are float16 /
bfloat16 tables, timed beside the float32 kernel on the same ids (the 1.6x target);
fb- is forward + backward (lookup_bag + accumulate_bag against embedding_bag(sparse=True)
forward + backward). Threads 1 and 2.
"""
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fastembed  # noqa: E402
from fastembed.bench.core import make_ids  # noqa: E402
from fastembed.bench.lookup_bag import bag_lengths  # noqa: E402

CASES = {  # name: (n_rows, n_bags, mean_len, dist, mode, weighted, dtype)
    "u-sum": (1_000_000, 100_000, 20, "uniform", "sum", False, "f32"),
    "z-sum": (1_000_000, 100_000, 20, "zipf", "sum", False, "f32"),
    "u-mean": (1_000_000, 100_000, 20, "uniform", "mean", False, "f32"),
    "u-max": (1_000_000, 100_000, 20, "uniform", "max", False, "f32"),
    "u-wsum": (1_000_000, 100_000, 20, "uniform", "sum", True, "f32"),
    "u-len1": (1_000_000, 100_000, 1, "uniform", "sum", False, "f32"),
    "u-len32": (1_000_000, 100_000, 32, "uniform", "sum", False, "f32"),
    "h-u": (1_000_000, 100_000, 20, "uniform", "sum", False, "f16"),
    "h-z": (1_000_000, 100_000, 20, "zipf", "sum", False, "f16"),
    "b-u": (1_000_000, 100_000, 20, "uniform", "sum", False, "bf16"),
    "b-z": (1_000_000, 100_000, 20, "zipf", "sum", False, "bf16"),
    "q-u": (250_000, 5_000, 20, "uniform", "sum", False, "f32"),
    "q-z": (250_000, 5_000, 20, "zipf", "mean", False, "f32"),
    "fb-u": (1_000_000, 100_000, 20, "uniform", "sum", False, "fb"),
    "fb-z": (1_000_000, 100_000, 20, "zipf", "sum", False, "fb"),
}
DIM = 64


def case_inputs(name):
    """The case's float32 table, bag offsets, ids and weights (None unless weighted), and
    the generator for any further draws."""
    n_rows, n_bags, mean_len, dist, mode, weighted, kind = CASES[name]
    rng = np.random.default_rng(0)
    w = rng.random((n_rows, DIM), dtype=np.float32)
    lengths = bag_lengths(rng, n_bags, mean_len)
    offsets = np.zeros(n_bags, np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids = make_ids(rng, dist, int(lengths.sum()), n_rows)
    psw = rng.random(ids.size, dtype=np.float32) if weighted else None
    return w, offsets, ids, psw, rng


def variants(name):
    n_rows, n_bags, mean_len, dist, mode, weighted, kind = CASES[name]
    w, offsets, ids, psw, rng = case_inputs(name)
    out = np.zeros((n_bags, DIM), np.float32)
    wt, it, ot = torch.from_numpy(w), torch.from_numpy(ids), torch.from_numpy(offsets)
    pt = torch.from_numpy(psw) if weighted else None
    kw = {"mode": mode}
    if weighted:
        kw["per_sample_weights"] = psw
    v = {}
    if kind in ("f16", "bf16"):
        if kind == "f16":
            wh, th = w.astype(np.float16), torch.float16
        else:
            import ml_dtypes
            wh, th = w.astype(ml_dtypes.bfloat16), torch.bfloat16
        outh = np.zeros((n_bags, DIM), wh.dtype)
        v["fastembed f32"] = lambda t: fastembed.lookup_bag(w, ids, offsets, out=out,
                                                            num_threads=t, **kw)
        v[f"fastembed {kind}"] = lambda t: fastembed.lookup_bag(wh, ids, offsets, out=outh,
                                                                num_threads=t, **kw)
        wht = wt.to(th)
        v[f"torch {kind}"] = lambda t: (torch.set_num_threads(t),
                                        torch.nn.functional.embedding_bag(it, wht, ot, mode=mode))
        return v, [("fastembed f32", f"fastembed {kind}"), (f"torch {kind}", f"fastembed {kind}")]
    if kind == "fb":
        g = rng.random((n_bags, DIM), dtype=np.float32) - 0.5
        gt = torch.from_numpy(g)
        wg = wt.clone().requires_grad_(True)

        def fe(t):
            fastembed.lookup_bag(w, ids, offsets, out=out, num_threads=t, **kw)
            fastembed.accumulate_bag(ids, offsets, g, n_rows, mode=mode, num_threads=t)

        def tfb(t):
            torch.set_num_threads(t)
            r = torch.nn.functional.embedding_bag(it, wg, ot, mode=mode, sparse=True)
            return torch.autograd.grad(r, wg, gt)[0].coalesce()
        v["fastembed fwd+bwd"] = fe
        v["torch fwd+bwd sparse"] = tfb
        return v, [("torch fwd+bwd sparse", "fastembed fwd+bwd")]
    v["fastembed(out=)"] = lambda t: fastembed.lookup_bag(w, ids, offsets, out=out,
                                                          num_threads=t, **kw)
    v["fastembed"] = lambda t: fastembed.lookup_bag(w, ids, offsets, num_threads=t, **kw)
    v["torch"] = lambda t: (torch.set_num_threads(t),
                            torch.nn.functional.embedding_bag(it, wt, ot, mode=mode,
                                                              per_sample_weights=pt))
    return v, [("torch", "fastembed(out=)"), ("torch", "fastembed")]



def interleaved(calls, threads, rounds):
    """Medians (ms) of wall and on-CPU time (process CPU / threads) of each call in `calls`,
    timed in interleaved rounds (each round calls every one once, in turn)."""
    wall = {k: [] for k in calls}
    cpu = {k: [] for k in calls}
    for _ in range(rounds):
        for k, f in calls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            f(threads)
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return ({k: np.median(x) * 1e3 for k, x in wall.items()},
            {k: np.median(x) * 1e3 / threads for k, x in cpu.items()})

def main():
    args = sys.argv[1:]
    rounds = int(args.pop(0)) if args and args[0].isdigit() else 7
    names = args or list(CASES)
    threads_list = [int(x) for x in os.environ.get("PROBE_THREADS", "1,2").split(",")]
    for name in names:
        v, ratios = variants(name)
        for threads in threads_list:
            for f in v.values():
                f(threads)
            mw, mc = interleaved(v, threads, rounds)
            line = "  ".join(f"{k} {mw[k]:.1f}/{mc[k]:.1f}" for k in v)
            rs = "  ".join(f"time {a} / {b}: wall {mw[a] / mw[b]:.2f}x cpu {mc[a] / mc[b]:.2f}x"
                           for a, b in ratios)
            print(f"{name} t{threads} load {os.getloadavg()[0]:.1f} | {line} ms | {rs}",
                  flush=True)


if __name__ == "__main__":
    main()
