"""A table sharded over Ray actors (`fastembed.distributed.ShardedEmbedding`) against the
one-process kernels on the same table: lookup and Adagrad-step throughput for 1, 2 and 4
shards, and where a sharded call's extra time goes.

In the suite (`python -m fastembed bench --only sharded_lookup --only sharded_step`) it
runs only when Ray is installed and ``FASTEMBED_BENCH_RAY=1`` is set: it starts a local Ray
(loopback only) and its actors, which no other case needs. Standalone, it also breaks a
call down (dedupe, Ray round trip, transfer of the rows, the shards' kernels, scatter)::

    python -m fastembed.bench.distributed --rows 250000 --ids 25000 --shards 1,2,4

Every shard here runs on this machine, so a sharded call can only be slower than one
process: the figures measure the cost of the sharding (docs/distributed.md uses them to
size a real cluster).
"""
import argparse
import importlib.util
import os
import statistics
import time

import numpy as np

import fastembed
from fastembed.bench.core import Case, Impl, Timed, close, make_ids, register, short
from fastembed.bench.optim_step import HYPERS

SHARDS = (1, 2, 4)
SEED = 0
# (n_rows, dim, n_ids, id distribution)
SHAPES = {
    "full": [(1_000_000, 64, 100_000, "zipf")],
    "quick": [(250_000, 64, 25_000, "zipf")],
    "tiny": [(1_000, 8, 500, "uniform")],
}


def _available():
    return (os.environ.get("FASTEMBED_BENCH_RAY") == "1"
            and importlib.util.find_spec("ray") is not None)


def _adagrad():
    return fastembed.optimizers.Adagrad(**HYPERS["Adagrad"])


def _table(n_rows, dim):
    return fastembed.initializers.get("uniform", seed=SEED)((n_rows, dim), "float32")


def _sharded(n_rows, dim, shards):
    from fastembed.distributed import ShardedEmbedding, connect
    connect("local", num_cpus=os.cpu_count() or 2, log_to_driver=False)
    return ShardedEmbedding(n_rows, dim, shards, seed=SEED, optimizer=_adagrad())


def _make(n_rows, dim, n_ids, dist):
    def make():
        rng = np.random.default_rng(0)
        ids = make_ids(rng, dist, n_ids, n_rows)
        return {"table": _table(n_rows, dim), "ids": ids,
                "grad_output": rng.random((n_ids, dim), dtype=np.float32) - 0.5,
                "n_unique": np.unique(ids).size}
    return make


def _params(n_rows, dim, n_ids, dist):
    return {"n_rows": n_rows, "dim": dim, "n_ids": n_ids, "dtype": "float32", "ids": dist,
            "shards": list(SHARDS)}


@register("sharded_lookup", available=_available,
          requires="Ray (pip install ray) and FASTEMBED_BENCH_RAY=1 (starts a local Ray)")
def lookup_cases(size):
    cases = []
    for n_rows, dim, n_ids, dist in SHAPES[size]:
        impls = [Impl("fastembed", "lookup (one process)", _one_lookup, threaded=True)]
        impls += [Impl("ray", f"ShardedEmbedding.lookup, {s} shard{'s' * (s > 1)}",
                       _sharded_lookup(s)) for s in SHARDS]
        cases.append(Case(
            kernel="sharded_lookup", name=f"{short(n_rows)}x{dim} f32 {short(n_ids)} ids {dist}",
            params=_params(n_rows, dim, n_ids, dist), make=_make(n_rows, dim, n_ids, dist),
            reference=lambda d: d["table"][d["ids"]],
            bytes_moved=lambda d: d["ids"].nbytes + 2 * d["ids"].size * d["table"].shape[1] * 4,
            impls=impls))
    return cases


@register("sharded_step", available=_available,
          requires="Ray (pip install ray) and FASTEMBED_BENCH_RAY=1 (starts a local Ray)")
def step_cases(size):
    from fastembed.bench.optim_step import NumpyAdagrad
    cases = []
    for n_rows, dim, n_ids, dist in SHAPES[size]:
        def reference(d):
            w = d["table"].copy()
            NumpyAdagrad(w.shape, w.dtype).step(w, d["ids"], d["grad_output"])
            return w
        impls = [Impl("fastembed", "Adagrad.step (one process)", _one_step, threaded=True)]
        impls += [Impl("ray", f"ShardedEmbedding.step, {s} shard{'s' * (s > 1)}",
                       _sharded_step(s)) for s in SHARDS]
        cases.append(Case(
            kernel="sharded_step", name=f"{short(n_rows)}x{dim} f32 {short(n_ids)} ids {dist}",
            params=dict(_params(n_rows, dim, n_ids, dist), optimizer="Adagrad"),
            make=_make(n_rows, dim, n_ids, dist), reference=reference,
            bytes_moved=lambda d: (d["ids"].nbytes + d["grad_output"].nbytes
                                   + d["n_unique"] * 6 * d["table"].shape[1] * 4),
            impls=impls, compare=close(rtol_f32=1e-4)))
    return cases


def _one_lookup(d, threads):
    return Timed(lambda: fastembed.lookup(d["table"], d["ids"], num_threads=threads))


def _sharded_lookup(shards):
    def prepare(d, threads):
        table = _sharded(*d["table"].shape, shards)
        return Timed(lambda: table.lookup(d["ids"]))
    return prepare


def _one_step(d, threads):
    w, opt = d["table"].copy(), _adagrad()
    return Timed(lambda: opt.step(w, d["ids"], d["grad_output"], num_threads=threads),
                 output=lambda _: w)


def _sharded_step(shards):
    def prepare(d, threads):
        table = _sharded(*d["table"].shape, shards)
        return Timed(lambda: table.step(d["ids"], d["grad_output"]),
                     output=lambda _: table.to_numpy())
    return prepare


# ---- standalone: throughput and the breakdown of a sharded call ---------------------------

def _median_times(calls, rounds):
    """Median seconds of each of `calls` ({name: fn}), timed in alternating rounds (one call
    of each per round) so a burst of load from elsewhere falls on all of them alike."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def breakdown(n_rows, dim, n_ids, dist, shards, rounds):
    """Median seconds per call of the one-process kernels, the sharded calls, and the parts
    of a sharded call, on one `shards`-shard table."""
    import ray
    d = _make(n_rows, dim, n_ids, dist)()
    ids, grad_output, table = d["ids"], d["grad_output"], d["table"]
    sharded = _sharded(n_rows, dim, shards)
    try:
        w, opt = table.copy(), _adagrad()
        uniq, inverse = np.unique(ids, return_inverse=True)
        rows = table[uniq]
        cuts = np.searchsorted(uniq, sharded.bounds)
        per_shard = [uniq[a:b] - lo for a, b, lo in zip(cuts[:-1], cuts[1:], sharded.bounds)]
        biggest = max(range(shards), key=lambda i: per_shard[i].size)
        local = table[sharded.bounds[biggest]:sharded.bounds[biggest + 1]]
        grad = fastembed.accumulate(ids, grad_output, n_rows)
        calls = {
            "one-process lookup": lambda: fastembed.lookup(table, ids),
            "sharded lookup": lambda: sharded.lookup(ids),
            "one-process step": lambda: opt.step(w, ids, grad_output),
            "sharded step": lambda: sharded.step(ids, grad_output),
            # the parts of a sharded lookup
            "dedupe (np.unique)": lambda: np.unique(ids, return_inverse=True),
            "route (searchsorted)": lambda: np.searchsorted(uniq, sharded.bounds),
            "Ray round trip, all shards (no-op)":
                lambda: ray.get([a.ping.remote() for a in sharded.actors]),
            "fetch from the shards (requests + replies)":
                lambda: ray.get([a.lookup.remote(ids_i)
                                 for a, ids_i in zip(sharded.actors, per_shard) if ids_i.size]),
            "rows through the object store (put+get)":
                lambda: ray.get(ray.put(rows)),
            "largest shard's lookup kernel, 1 thread":
                lambda: fastembed.lookup(local, per_shard[biggest], num_threads=1),
            "scatter back (fastembed.lookup)": lambda: fastembed.lookup(rows, inverse),
            # the parts of a sharded step
            "accumulate on the client": lambda: fastembed.accumulate(ids, grad_output, n_rows),
            "gradient rows through the object store":
                lambda: ray.get(ray.put(grad.values)),
        }
        for fn in calls.values():  # warm-up
            fn()
        medians = _median_times(calls, rounds)
    finally:
        sharded.shutdown()
    return medians, {"n_unique": int(uniq.size), "row_bytes": dim * 4}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastembed.bench.distributed",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=250_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--ids", type=int, default=25_000)
    p.add_argument("--dist", choices=("uniform", "zipf"), default="zipf")
    p.add_argument("--shards", default=",".join(map(str, SHARDS)))
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=1,
                   help="threads of this process's kernels (one-process and client side; "
                        "each shard runs on the 1 thread Ray gives a fractional-CPU actor)")
    args = p.parse_args(argv)
    fastembed.set_num_threads(args.threads)
    print(f"table {args.rows} x {args.dim} float32, {args.ids} ids ({args.dist}), "
          f"Adagrad; {args.threads} client thread(s); median of {args.rounds} alternating "
          "rounds; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for shards in (int(s) for s in args.shards.split(",")):
        med, info = breakdown(args.rows, args.dim, args.ids, args.dist, shards, args.rounds)
        print(f"\n{shards} shard{'s' * (shards > 1)} ({info['n_unique']} distinct ids, "
              f"{info['n_unique'] * info['row_bytes'] / 2**20:.1f} MiB of distinct rows)")
        for name, s in med.items():
            rate = f"{args.ids / s / 1e6:9.2f} M ids/s" if name.split()[0] in (
                "one-process", "sharded") else ""
            print(f"  {name:<44} {s * 1e3:9.3f} ms {rate}")
        for kind in ("lookup", "step"):
            extra = med[f"sharded {kind}"] - med[f"one-process {kind}"]
            print(f"  sharded {kind}: {med[f'sharded {kind}'] / med[f'one-process {kind}']:.1f}x "
                  f"the one-process time, {extra * 1e3:.3f} ms more per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
