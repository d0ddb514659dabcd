"""lookup: fastembed.lookup against np.take, fancy indexing, a SciPy one-hot product,
torch's embedding / index_select and jnp.take under jit, on the same table and ids."""
import numpy as np
import scipy.sparse as sp

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (TINY_SHAPES, Case, Impl, Timed, table_and_ids,
                                  id_stream_case, register_shapes, written_empty)

# (n_rows, dim, n_ids, dtype, id distribution)
SHAPES = {
    "full": [
        (1_000_000, 64, 1_000_000, np.float32, "uniform"),  # 256 MB table: the headline
        (1_000_000, 64, 1_000_000, np.float32, "zipf"),
        (1_000_000, 64, 1_000_000, np.float64, "uniform"),
        (1_000_000, 16, 2_000_000, np.float32, "uniform"),  # 64-byte rows
        (50_000, 128, 500_000, np.float32, "uniform"),      # a cached table, a large result
        (100_000, 512, 100_000, np.float32, "uniform"),     # 2 KB rows
        (100_000, 64, 100, np.float32, "uniform"),          # per-call overhead
    ],
    "quick": [
        (250_000, 64, 125_000, np.float32, "uniform"),
        (250_000, 64, 125_000, np.float32, "zipf"),
        (100_000, 64, 100, np.float32, "uniform"),
    ],
    "tiny": TINY_SHAPES,
}


def _case(n_rows, dim, n_ids, dtype, dist):
    dtype = np.dtype(dtype)

    def make():
        w, ids, _ = table_and_ids(n_rows, dim, n_ids, dtype, dist)
        return {"weights": w, "ids": ids, "out": written_empty((n_ids, dim), dtype)}

    def moved(d):  # rows read + rows written + ids read
        return 2 * n_ids * dim * dtype.itemsize + d["ids"].nbytes

    return Case(
        kernel="lookup",
        **id_stream_case(n_rows, dim, n_ids, dtype, dist),
        make=make,
        reference=lambda d: d["weights"][d["ids"]],
        bytes_moved=moved,
        impls=_impls(),
        ratios=[("allocating / out=", "lookup", "lookup(out=)")],
    )


def _impls():
    impls = [
        Impl("fastembed", "lookup", _fastembed, threaded=True),
        Impl("fastembed", "lookup(out=)", _fastembed_out, threaded=True),
        Impl("numpy", "np.take(axis=0)", _numpy_take),
        Impl("numpy", "weights[ids]", _numpy_fancy),
        Impl("numpy", "np.take(out=, mode=clip)", _numpy_take_out, compare_to="lookup(out=)"),
        Impl("scipy", "one-hot csr @ weights", _scipy_onehot),
    ]
    if peers.torch() is not None:
        impls += [Impl("torch", "F.embedding", _torch_embedding, threaded=True),
                  Impl("torch", "index_select(out=)", _torch_index_select_out, threaded=True,
                       compare_to="lookup(out=)")]
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(jnp.take)", _jax_take, own_threads=True))
    return impls


def _fastembed(d, threads):
    w, ids = d["weights"], d["ids"]
    return Timed(lambda: fastembed.lookup(w, ids, num_threads=threads))


def _fastembed_out(d, threads):
    w, ids, out = d["weights"], d["ids"], d["out"]
    return Timed(lambda: fastembed.lookup(w, ids, out=out, num_threads=threads))


def _numpy_take(d, threads):
    w, ids = d["weights"], d["ids"]
    return Timed(lambda: np.take(w, ids, axis=0))


def _numpy_take_out(d, threads):
    """NumPy's fastest gather into a given buffer; mode="clip" because mode="raise" with
    out= gathers into a temporary first. It clips bad ids instead of reporting them."""
    w, ids, out = d["weights"], d["ids"], d["out"]
    return Timed(lambda: np.take(w, ids, axis=0, out=out, mode="clip"))


def _numpy_fancy(d, threads):
    w, ids = d["weights"], d["ids"]
    return Timed(lambda: w[ids])


def _scipy_onehot(d, threads):
    """The SciPy way to gather rows: a one-hot (n_ids, n_rows) CSR matrix times the table,
    the matrix built from the ids inside the timed call (each batch has new ids)."""
    w, ids = d["weights"], d["ids"]
    n = len(ids)
    ones = np.ones(n, w.dtype)
    indptr = np.arange(n + 1, dtype=np.int64)

    def call():
        return sp.csr_array((ones, ids, indptr), shape=(n, w.shape[0])) @ w
    return Timed(call)


def _torch_embedding(d, threads):
    torch = peers.torch()
    wt, it = torch.from_numpy(d["weights"]), torch.from_numpy(d["ids"])
    return Timed(lambda: torch.nn.functional.embedding(it, wt), output=lambda r: r.numpy())


def _torch_index_select_out(d, threads):
    torch = peers.torch()
    wt, it, ot = (torch.from_numpy(d[k]) for k in ("weights", "ids", "out"))
    return Timed(lambda: torch.index_select(wt, 0, it, out=ot), output=lambda r: r.numpy())


def _jax_take(d, threads):
    jax = peers.jax()
    jnp = jax.numpy
    w, ids = jnp.asarray(d["weights"]), jnp.asarray(d["ids"])
    take = jax.jit(lambda w, i: jnp.take(w, i, axis=0))
    return Timed(lambda: peers.jax_block(take(w, ids)), output=np.asarray)


register_shapes("lookup", SHAPES, _case,
                available=lambda: hasattr(fastembed, "lookup"))
