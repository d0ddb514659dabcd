"""accumulate: the row-sparse gradient of a lookup (sum of grad_output rows per distinct id)
against NumPy (np.unique + np.add.at; argsort + reduceat), SciPy (one-hot^T @ grad),
torch's embedding backward (sparse, coalesced; and dense) and JAX's scatter-add.
Registered when fastembed exports `accumulate` (API.md)."""
import numpy as np
import scipy.sparse as sp

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (TINY_SHAPES, Case, Impl, Timed, close, make_ids,
                                  random_table, id_stream_case, register_shapes, written_empty)

# (n_rows, dim, n_ids, dtype, id distribution)
SHAPES = {
    "full": [
        (1_000_000, 64, 1_000_000, np.float32, "uniform"),
        (1_000_000, 64, 1_000_000, np.float32, "zipf"),
        (1_000_000, 64, 1_000_000, np.float64, "uniform"),
        (100_000, 64, 100_000, np.float32, "zipf"),
        (1_000_000, 16, 2_000_000, np.float32, "uniform"),  # 64-byte rows
        (100_000, 512, 100_000, np.float32, "uniform"),     # 2 KB rows
    ],
    "quick": [
        (250_000, 64, 50_000, np.float32, "uniform"),
        (250_000, 64, 50_000, np.float32, "zipf"),
    ],
    "tiny": TINY_SHAPES,
}


def sparse_close(got, want):
    """(indices, values) pairs: indices equal, values close (sums in another order)."""
    gi, gv = got
    wi, wv = want
    return np.array_equal(np.asarray(gi), wi) and close()(gv, wv)


def rows_of(grad):
    """A RowSparseGrad (or anything with indices and values) as an (indices, values) pair."""
    return np.asarray(grad.indices), np.asarray(grad.values)


def numpy_unique_add_at(ids, grad):
    uniq, inverse = np.unique(ids, return_inverse=True)
    values = np.zeros((uniq.size, grad.shape[1]), grad.dtype)
    np.add.at(values, inverse.reshape(-1), grad)
    return uniq, values


def numpy_sort_reduceat(ids, grad):
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if sorted_ids.size == 0:
        return sorted_ids, grad[:0]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return sorted_ids[starts], np.add.reduceat(grad[order], starts, axis=0)


def _case(n_rows, dim, n_ids, dtype, dist):
    dtype = np.dtype(dtype)

    def make():
        rng = np.random.default_rng(0)
        ids = make_ids(rng, dist, n_ids, n_rows)
        grad = random_table(rng, n_ids, dim, dtype) - 0.5
        return {"ids": ids, "grad_output": grad, "n_rows": n_rows,
                "unique": np.unique(ids),
                "out": (written_empty((n_ids,), np.int64), written_empty((n_ids, dim), dtype))}

    def moved(d):  # ids and grad_output read, one (index, row) per distinct id written
        nnz = d["unique"].size
        return d["ids"].nbytes + d["grad_output"].nbytes + nnz * (8 + dim * dtype.itemsize)

    return Case(
        kernel="accumulate",
        **id_stream_case(n_rows, dim, n_ids, dtype, dist),
        make=make,
        reference=lambda d: numpy_unique_add_at(d["ids"], d["grad_output"]),
        bytes_moved=moved,
        impls=_impls(),
        compare=sparse_close,
        ratios=[("allocating / out=", "accumulate", "accumulate(out=)")],
    )


def _impls():
    impls = [
        Impl("fastembed", "accumulate", _fastembed, threaded=True),
        Impl("fastembed", "accumulate(out=)", _fastembed_out, threaded=True),
        Impl("numpy", "np.unique + np.add.at",
             lambda d, t: Timed(lambda: numpy_unique_add_at(d["ids"], d["grad_output"]))),
        Impl("numpy", "argsort + np.add.reduceat",
             lambda d, t: Timed(lambda: numpy_sort_reduceat(d["ids"], d["grad_output"]))),
        Impl("scipy", "one-hot.T @ grad (dense)", _scipy),
    ]
    if peers.torch() is not None:
        impls += [Impl("torch", "embedding_backward(sparse)+coalesce", _torch_sparse,
                       threaded=True),
                  Impl("torch", "embedding_dense_backward", _torch_dense, threaded=True)]
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(zeros.at[ids].add) (dense)", _jax, own_threads=True))
    return impls


def _fastembed(d, threads):
    ids, grad, n_rows = d["ids"], d["grad_output"], d["n_rows"]
    return Timed(lambda: fastembed.accumulate(ids, grad, n_rows, num_threads=threads),
                 output=rows_of)


def _fastembed_out(d, threads):
    ids, grad, n_rows, out = d["ids"], d["grad_output"], d["n_rows"], d["out"]
    return Timed(lambda: fastembed.accumulate(ids, grad, n_rows, out=out, num_threads=threads),
                 output=rows_of)


def dense_rows(unique):
    """Output of a dense-gradient peer as (indices, values): its rows at the distinct ids."""
    return lambda dense: (unique, np.asarray(dense)[unique])


def _scipy(d, threads):
    ids, grad, n_rows = d["ids"], d["grad_output"], d["n_rows"]
    n = ids.size
    ones = np.ones(n, grad.dtype)
    indptr = np.arange(n + 1, dtype=np.int64)

    def call():  # one-hot (n, n_rows), transposed: a CSC view, times grad
        return sp.csr_array((ones, ids, indptr), shape=(n, n_rows)).T @ grad
    return Timed(call, output=dense_rows(d["unique"]))


def _torch_sparse(d, threads):
    torch = peers.torch()
    it, gt = torch.from_numpy(d["ids"]), torch.from_numpy(d["grad_output"])
    n_rows = d["n_rows"]

    def call():
        return torch.ops.aten.embedding_backward(gt, it, n_rows, -1, False, True).coalesce()
    return Timed(call, output=lambda s: (s.indices()[0].numpy(), s.values().numpy()))


def _torch_dense(d, threads):
    torch = peers.torch()
    it, gt = torch.from_numpy(d["ids"]), torch.from_numpy(d["grad_output"])
    n_rows = d["n_rows"]
    return Timed(lambda: torch.ops.aten.embedding_dense_backward(gt, it, n_rows, -1, False),
                 output=lambda t: dense_rows(d["unique"])(t.numpy()))


def _jax(d, threads):
    jax = peers.jax()
    jnp = jax.numpy
    n_rows, dim = d["n_rows"], d["grad_output"].shape[1]
    ids, grad = jnp.asarray(d["ids"]), jnp.asarray(d["grad_output"])
    f = jax.jit(lambda i, g: jnp.zeros((n_rows, dim), g.dtype).at[i].add(g))
    return Timed(lambda: peers.jax_block(f(ids, grad)), output=dense_rows(d["unique"]))


register_shapes("accumulate", SHAPES, _case,
                available=lambda: hasattr(fastembed, "accumulate"))
