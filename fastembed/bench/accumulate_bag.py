"""accumulate_bag: the row-sparse gradient of lookup_bag (sum, mean) against NumPy (repeat
per position, then np.unique + np.add.at), SciPy ((bags x rows)^T @ grad), torch's
embedding_bag backward (sparse, coalesced) and JAX's scatter-add.
Registered when fastembed exports `accumulate_bag` (API.md)."""
import numpy as np
import scipy.sparse as sp

import fastembed
from fastembed.bench import peers
from fastembed.bench.accumulate import (dense_rows, numpy_sort_reduceat, numpy_unique_add_at,
                                         rows_of)
from fastembed.bench.core import (DTYPE_NAMES, Case, Impl, Timed, make_ids, random_table,
                                  register, short, written_empty)
from fastembed.bench.lookup_bag import bag_lengths

# mode "sum" with scale_grad_by_freq=True: each row's sum divided by its id's count. torch is
# no peer there: its CPU kernel divides by other ids' counts (pytorch#190063)
SCALED = "sum/freq"

# (n_rows, dim, n_bags, mean bag length, dtype, id distribution, mode)
SHAPES = {
    "full": [
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "sum"),
        (1_000_000, 64, 100_000, 20, np.float32, "zipf", "sum"),
        (1_000_000, 64, 100_000, 20, np.float32, "uniform", "mean"),
        (1_000_000, 64, 100_000, 20, np.float32, "zipf", SCALED),
    ],
    "quick": [
        (250_000, 64, 5_000, 20, np.float32, "zipf", "sum"),
    ],
    "tiny": [
        (1_000, 8, 40, 5, np.float32, "uniform", "sum"),
        (1_000, 8, 40, 5, np.float64, "zipf", "mean"),
        (1_000, 8, 40, 5, np.float32, "zipf", SCALED),
    ],
}


@register("accumulate_bag", available=lambda: hasattr(fastembed, "accumulate_bag"))
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


def _position_rows(d, mode):
    """Every position's gradient row: its bag's, divided by the bag's length for mean."""
    g = d["grad_output"]
    if mode == "mean":
        g = g / d["lengths"][:, None].astype(g.dtype)
    return np.repeat(g, d["lengths"], axis=0)


def numpy_grad(d, mode):
    """NumPy's way: the position rows summed per distinct id with np.add.at (then divided
    by each id's count for scale_grad_by_freq)."""
    uniq, values = numpy_unique_add_at(d["ids"], _position_rows(d, mode))
    if mode == SCALED:
        values /= d["counts"][:, None].astype(values.dtype)
    return uniq, values


def exact_grad(d, mode):
    """The reference: per distinct id, the sum of its position rows accumulated in float64,
    and the bound every summation order in the dtype stays within, n * u * sum(|terms|) (the
    recursive-summation bound, u the unit roundoff) plus the final rounding. With Zipf ids
    one id holds most of the 2M positions: NumPy's own float32 np.add.at is then 0.3 away
    from the exact sum, so NumPy cannot be the reference to a fixed tolerance."""
    rows = _position_rows(d, mode)
    # one grouping pass sums the terms, their magnitudes and their count per id
    terms = rows.astype(np.float64)
    stacked = np.hstack([terms, np.abs(terms), np.ones((len(terms), 1))])
    uniq, sums = numpy_sort_reduceat(np.asarray(d["ids"]).reshape(-1), stacked)
    dim = rows.shape[1]
    exact, abs_sum, counts = sums[:, :dim], sums[:, dim:2 * dim], sums[:, 2 * dim:]
    u = float(np.finfo(rows.dtype).eps) / 2
    bound = counts * u * abs_sum + 2 * u * np.abs(exact) + float(np.finfo(rows.dtype).tiny)
    if mode == SCALED:  # one more rounding, of the quotient
        exact, bound = exact / counts, bound / counts + u * np.abs(exact / counts)
    return uniq, exact, bound


def within_bound(got, want):
    gi, gv = got
    wi, exact, bound = want
    gv = np.asarray(gv)
    return (np.array_equal(np.asarray(gi), wi) and gv.shape == exact.shape
            and bool(np.all(np.abs(gv - exact) <= bound)))


def _case(n_rows, dim, n_bags, mean_len, dtype, dist, mode):
    dtype = np.dtype(dtype)

    def make():
        rng = np.random.default_rng(0)
        lengths = bag_lengths(rng, n_bags, mean_len)
        offsets = np.zeros(n_bags, np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        ids = make_ids(rng, dist, int(lengths.sum()), n_rows)
        grad = random_table(rng, n_bags, dim, dtype) - 0.5
        unique, counts = np.unique(ids, return_counts=True)
        return {"ids": ids, "offsets": offsets, "lengths": lengths, "grad_output": grad,
                "n_rows": n_rows, "unique": unique, "counts": counts,
                # torch's autograd needs the table (its values do not matter for sum/mean)
                "weights": written_empty((n_rows, dim), dtype) if peers.torch() else None}

    def moved(d):  # ids, offsets, grad_output read; one (index, row) per distinct id written
        nnz = d["unique"].size
        return (d["ids"].nbytes + d["offsets"].nbytes + d["grad_output"].nbytes
                + nnz * (8 + dim * dtype.itemsize))

    return Case(
        kernel="accumulate_bag",
        name=f"{short(n_rows)}x{dim} {DTYPE_NAMES[dtype]} {short(n_bags)} bags~{mean_len} "
             f"{dist} {mode}",
        params={"n_rows": n_rows, "dim": dim, "n_bags": n_bags, "mean_bag": mean_len,
                "dtype": dtype.name, "ids": dist, "mode": mode},
        make=make,
        reference=lambda d: exact_grad(d, mode),
        bytes_moved=moved,
        impls=_impls(mode),
        compare=within_bound,
    )


def _impls(mode):
    impls = [
        Impl("fastembed", "accumulate_bag", _fastembed(mode), threaded=True),
        Impl("numpy", "repeat + np.unique + np.add.at",
             lambda d, t: Timed(lambda: numpy_grad(d, mode))),
        Impl("scipy", "csr(bags x rows).T @ grad (dense)", _scipy(mode)),
    ]
    if mode == SCALED:  # SciPy and JAX have no such option; torch's gives other numbers
        return impls[:2]
    if peers.torch() is not None:
        impls.append(Impl("torch", "embedding_bag backward(sparse)", _torch(mode),
                          threaded=True))
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(zeros.at[ids].add) (dense)", _jax(mode),
                          own_threads=True))
    return impls


def _fastembed(mode):
    def prepare(d, threads):
        ids, offsets, grad, n_rows = d["ids"], d["offsets"], d["grad_output"], d["n_rows"]
        kernel_mode, scaled = ("sum", True) if mode == SCALED else (mode, False)
        return Timed(lambda: fastembed.accumulate_bag(ids, offsets, grad, n_rows,
                                                      mode=kernel_mode,
                                                      scale_grad_by_freq=scaled,
                                                      num_threads=threads),
                     output=rows_of)
    return prepare


def _scipy(mode):
    def prepare(d, threads):
        ids, offsets, lengths, grad = d["ids"], d["offsets"], d["lengths"], d["grad_output"]
        indptr = np.append(offsets, ids.size)
        shape = (offsets.size, d["n_rows"])

        def call():
            if mode == "mean":
                data = np.repeat((1 / lengths).astype(grad.dtype), lengths)
            else:
                data = np.ones(ids.size, grad.dtype)
            return sp.csr_array((data, ids, indptr), shape=shape).T @ grad
        return Timed(call, output=dense_rows(d["unique"]))
    return prepare


def _torch(mode):
    """The backward alone: the forward graph is built once, untimed, and kept."""
    def prepare(d, threads):
        torch = peers.torch()
        w = torch.from_numpy(d["weights"]).requires_grad_(True)
        it, ot = torch.from_numpy(d["ids"]), torch.from_numpy(d["offsets"])
        gt = torch.from_numpy(d["grad_output"])
        out = torch.nn.functional.embedding_bag(it, w, ot, mode=mode, sparse=True)

        def call():
            return torch.autograd.grad(out, w, gt, retain_graph=True)[0].coalesce()
        return Timed(call, output=lambda s: (s.indices()[0].numpy(), s.values().numpy()))
    return prepare


def _jax(mode):
    def prepare(d, threads):
        jax = peers.jax()
        jnp = jax.numpy
        n_rows, dim = d["n_rows"], d["grad_output"].shape[1]
        lengths = d["lengths"]
        segments = jnp.asarray(np.repeat(np.arange(lengths.size), lengths))
        scale = jnp.asarray((1 / lengths) if mode == "mean" else np.ones(lengths.size),
                            d["grad_output"].dtype)
        ids, grad = jnp.asarray(d["ids"]), jnp.asarray(d["grad_output"])

        def backward(ids, segments, grad, scale):
            rows = jnp.take(grad * scale[:, None], segments, axis=0)
            return jnp.zeros((n_rows, dim), grad.dtype).at[ids].add(rows)
        f = jax.jit(backward)
        return Timed(lambda: peers.jax_block(f(ids, segments, grad, scale)),
                     output=dense_rows(d["unique"]))
    return prepare
