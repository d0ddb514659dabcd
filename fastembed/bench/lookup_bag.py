"""lookup_bag: pooled bag lookup (sum, mean, max, weighted sum) against NumPy's reduceat,
a SciPy sparse (bags x rows) product, torch's embedding_bag and JAX segment reductions.
Registered when fastembed exports `lookup_bag` (API.md)."""
import numpy as np
import scipy.sparse as sp

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (DTYPE_NAMES, Case, Impl, Timed, close, make_ids,
                                  random_table, register, short, written_empty)

# (n_rows, dim, n_bags, mean bag length, dtype, id distribution, mode, weighted)
SHAPES = {
    "full": [
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "sum", False),
        (1_000_000, 64, 100_000, 20, np.float32, "zipf", "sum", False),
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "mean", False),
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "max", False),
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "sum", True),
        (1_000_000, 64, 100_000, 20, np.float64, "uniform", "sum", False),
        (1_000_000, 64, 100_000, 20, np.float16, "uniform", "sum", False),  # half the bytes
        (1_000_000, 64, 100_000, 20, np.float16, "zipf", "sum", False),
        (1_000_000, 64, 100_000, 1, np.float32, "uniform", "sum", False),   # bags of 1
        (1_000_000, 64, 100_000, 32, np.float32, "uniform", "sum", False),
    ],
    "quick": [
        (250_000, 64, 5_000, 20, np.float32, "uniform", "sum", False),
        (250_000, 64, 5_000, 20, np.float32, "zipf", "mean", False),
    ],
    "tiny": [
        (1_000, 8, 40, 5, np.float32, "uniform", "sum", False),
        (1_000, 8, 40, 5, np.float64, "zipf", "mean", False),
        (1_000, 8, 40, 5, np.float32, "uniform", "max", False),
        (1_000, 8, 40, 5, np.float32, "uniform", "sum", True),
    ],
}


@register("lookup_bag", available=lambda: hasattr(fastembed, "lookup_bag"))
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


def bag_lengths(rng, n_bags, mean_len):
    """Bag lengths uniform in [1, 2 * mean_len - 1] (no empty bags: NumPy's reduceat
    cannot express one)."""
    return rng.integers(1, 2 * mean_len, n_bags)


def random_bags(rng, n_rows, dim, n_bags, mean_len, dtype, dist):
    """A table and bags over it: {"weights", "ids", "offsets" (starts), "lengths"}."""
    w = random_table(rng, n_rows, dim, dtype)
    lengths = bag_lengths(rng, n_bags, mean_len)
    offsets = np.zeros(n_bags, np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    ids = make_ids(rng, dist, int(lengths.sum()), n_rows)
    return {"weights": w, "ids": ids, "offsets": offsets, "lengths": lengths}


def _case(n_rows, dim, n_bags, mean_len, dtype, dist, mode, weighted):
    dtype = np.dtype(dtype)

    def make():
        rng = np.random.default_rng(0)
        d = random_bags(rng, n_rows, dim, n_bags, mean_len, dtype, dist)
        n_ids = d["ids"].size
        psw = rng.random(n_ids, dtype=np.float32).astype(dtype) if weighted else None
        return dict(d, per_sample_weights=psw, out=written_empty((n_bags, dim), dtype))

    def moved(d):  # ids, offsets (and weights) read, rows read, bags written
        isz = dtype.itemsize
        extra = d["per_sample_weights"].nbytes if weighted else 0
        return (d["ids"].nbytes + d["offsets"].nbytes + extra
                + (d["ids"].size + n_bags) * dim * isz)

    label = mode + (" weighted" if weighted else "")
    half = dtype.itemsize == 2
    return Case(
        kernel="lookup_bag",
        name=f"{short(n_rows)}x{dim} {DTYPE_NAMES.get(dtype, 'f16')} {short(n_bags)} bags~{mean_len} "
             f"{dist} {label}",
        params={"n_rows": n_rows, "dim": dim, "n_bags": n_bags, "mean_bag": mean_len,
                "dtype": dtype.name, "ids": dist, "mode": mode,
                "per_sample_weights": weighted},
        make=make,
        # half tables: the reference sums the same values in float32 and rounds once
        reference=lambda d: (numpy_bag(dict(d, weights=d["weights"].astype(np.float32)), mode)
                             .astype(dtype) if half else numpy_bag(d, mode)),
        bytes_moved=moved,
        impls=_impls(mode, weighted, dtype),
        compare=close(rtol_f32=2e-3, rtol_f64=2e-3) if half else close(),
        ratios=[("allocating / out=", "lookup_bag", "lookup_bag(out=)")],
    )


def numpy_bag(d, mode):
    """The NumPy way: gather every row, then reduce each bag with ufunc.reduceat."""
    rows = d["weights"][d["ids"]]
    psw = d["per_sample_weights"]
    if psw is not None:
        rows *= psw[:, None]
    if mode == "max":
        return np.maximum.reduceat(rows, d["offsets"], axis=0)
    total = np.add.reduceat(rows, d["offsets"], axis=0)
    if mode == "mean":
        denom = (np.add.reduceat(psw, d["offsets"]) if psw is not None
                 else d["lengths"].astype(total.dtype))
        total /= denom[:, None]
    return total


def _impls(mode, weighted, dtype):
    impls = [
        Impl("fastembed", "lookup_bag", _fastembed(False, mode), threaded=True),
        Impl("fastembed", "lookup_bag(out=)", _fastembed(True, mode), threaded=True),
    ]
    if dtype.itemsize == 2:  # half tables: torch's half embedding_bag is the peer
        torch = peers.torch()
        if torch is not None:
            impls.append(Impl("torch", "F.embedding_bag", _torch(mode), threaded=True))
        return impls
    impls.append(Impl("numpy", "take + ufunc.reduceat",
                      lambda d, t: Timed(lambda: numpy_bag(d, mode))))
    if mode in ("sum", "mean"):
        impls.append(Impl("scipy", "csr (bags x rows) @ weights", _scipy(mode)))
    torch = peers.torch()
    if torch is not None and not (weighted and mode != "sum"):
        impls.append(Impl("torch", "F.embedding_bag", _torch(mode), threaded=True))
    if (mode in ("sum", "mean") and not weighted and dtype == np.float32
            and peers.fbgemm() is not None):
        impls.append(Impl("fbgemm", "SplitTableBatchedEmbeddingBags forward", _fbgemm(mode),
                          threaded=True))
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(take + segment_" + ("max" if mode == "max" else "sum")
                          + ")", _jax(mode), own_threads=True))
    return impls


def _fastembed(with_out, mode):
    def prepare(d, threads):
        w, ids, offsets = d["weights"], d["ids"], d["offsets"]
        kw = {"mode": mode, "num_threads": threads}
        if d["per_sample_weights"] is not None:
            kw["per_sample_weights"] = d["per_sample_weights"]
        if with_out:
            kw["out"] = d["out"]
        return Timed(lambda: fastembed.lookup_bag(w, ids, offsets, **kw))
    return prepare


def _scipy(mode):
    """A sparse (n_bags, n_rows) matrix whose row b holds bag b's weights, times the table;
    built inside the timed call from the ids and offsets, as a batch would need."""
    def prepare(d, threads):
        w, ids, offsets, lengths = d["weights"], d["ids"], d["offsets"], d["lengths"]
        psw = d["per_sample_weights"]
        indptr = np.append(offsets, ids.size)
        shape = (offsets.size, w.shape[0])

        def call():
            if psw is not None:
                data = psw / np.repeat(np.add.reduceat(psw, offsets), lengths) \
                    if mode == "mean" else psw
            elif mode == "mean":
                data = np.repeat((1 / lengths).astype(w.dtype), lengths)
            else:
                data = np.ones(ids.size, w.dtype)
            return sp.csr_array((data, ids, indptr), shape=shape) @ w
        return Timed(call)
    return prepare


def _torch(mode):
    def prepare(d, threads):
        torch = peers.torch()
        wt, it, ot = (torch.from_numpy(d[k]) for k in ("weights", "ids", "offsets"))
        psw = d["per_sample_weights"]
        pt = torch.from_numpy(psw) if psw is not None else None
        f = torch.nn.functional.embedding_bag
        return Timed(lambda: f(it, wt, ot, mode=mode, per_sample_weights=pt),
                     output=lambda r: r.numpy())
    return prepare


def fbgemm_tables(d, optimizer="EXACT_SGD", learning_rate=0.0, mode="sum", **hyper):
    """FBGEMM's CPU training embedding (one table on the host, float32) holding a copy of
    d["weights"], and its (indices, offsets) tensors for d's bags (offsets with the end)."""
    fb, torch = peers.fbgemm(), peers.torch()
    w = d["weights"]
    pooling = {"sum": fb.PoolingMode.SUM, "mean": fb.PoolingMode.MEAN}[mode]
    tbe = fb.TBE([(w.shape[0], w.shape[1], fb.EmbeddingLocation.HOST, fb.ComputeDevice.CPU)],
                 optimizer=getattr(fb.OptimType, optimizer), learning_rate=learning_rate,
                 pooling_mode=pooling, **hyper)
    with torch.no_grad():
        tbe.split_embedding_weights()[0].copy_(torch.from_numpy(w))
    ids = torch.from_numpy(d["ids"].astype(np.int64, copy=False))
    offsets = torch.from_numpy(np.append(d["offsets"], d["ids"].size).astype(np.int64))
    return tbe, ids, offsets


def _fbgemm(mode):
    def prepare(d, threads):
        torch = peers.torch()
        tbe, ids, offsets = fbgemm_tables(d, mode=mode)

        def call():
            with torch.no_grad():
                return tbe(ids, offsets)
        return Timed(call, output=lambda r: r.numpy())
    return prepare


def _jax(mode):
    def prepare(d, threads):
        jax = peers.jax()
        jnp = jax.numpy
        n_bags = d["offsets"].size
        segments = jnp.asarray(np.repeat(np.arange(n_bags), d["lengths"]))
        w, ids = jnp.asarray(d["weights"]), jnp.asarray(d["ids"])
        counts = jnp.asarray(d["lengths"])
        psw = d["per_sample_weights"]
        p = jnp.asarray(psw) if psw is not None else None

        def pool(w, ids, segments, counts, p):
            rows = jnp.take(w, ids, axis=0)
            if p is not None:
                rows = rows * p[:, None]
            if mode == "max":
                return jax.ops.segment_max(rows, segments, num_segments=n_bags)
            total = jax.ops.segment_sum(rows, segments, num_segments=n_bags)
            if mode == "mean":
                denom = (jax.ops.segment_sum(p, segments, num_segments=n_bags)
                         if p is not None else counts.astype(total.dtype))
                total = total / denom[:, None]
            return total
        f = jax.jit(pool)
        return Timed(lambda: peers.jax_block(f(w, ids, segments, counts, p)), output=np.asarray)
    return prepare
