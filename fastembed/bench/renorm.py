"""renorm_: in-place max-norm of the rows a batch touches, against NumPy (np.unique, norms,
scaled rows written back), torch.embedding_renorm_ and a JAX scatter under jit with the
table donated. Each timed call starts from the same table (restored untimed before it).
Registered when fastembed exports `renorm_` (API.md)."""
import numpy as np

import fastembed
from fastembed.bench import peers
from fastembed.bench.core import (TINY_SHAPES, Case, Impl, Timed, close,
                                  id_stream_case, register_shapes, table_and_ids)

# (n_rows, dim, n_ids, dtype, id distribution)
SHAPES = {
    "full": [
        (1_000_000, 64, 1_000_000, np.float32, "uniform"),
        (1_000_000, 64, 1_000_000, np.float32, "zipf"),
        (1_000_000, 64, 100_000, np.float64, "uniform"),
    ],
    "quick": [
        (250_000, 64, 50_000, np.float32, "zipf"),
    ],
    "tiny": TINY_SHAPES,
}
EPS = 1e-7  # PyTorch's: rows above max_norm are scaled by max_norm / (norm + EPS)


def numpy_renorm_(w, ids, max_norm):
    uniq = np.unique(ids)
    rows = w[uniq]
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
    above = norms > max_norm
    scale = (max_norm / (norms[above] + EPS)).astype(w.dtype)
    w[uniq[above]] = rows[above] * scale[:, None]


def _case(n_rows, dim, n_ids, dtype, dist):
    dtype = np.dtype(dtype)

    def make():
        w0, ids, _ = table_and_ids(n_rows, dim, n_ids, dtype, dist)
        uniq = np.unique(ids)
        norms = np.linalg.norm(w0[uniq].astype(np.float64), axis=1)
        max_norm = float(np.median(norms))  # about half of the touched rows are scaled
        return {"table": w0, "ids": ids, "max_norm": max_norm, "n_unique": uniq.size,
                "n_above": int((norms > max_norm).sum())}

    def reference(d):
        w = d["table"].copy()
        numpy_renorm_(w, d["ids"], d["max_norm"])
        return w

    def moved(d):  # ids read, every touched row read, the rows above max_norm written
        row = dim * dtype.itemsize
        return d["ids"].nbytes + (d["n_unique"] + d["n_above"]) * row

    return Case(
        kernel="renorm_",
        **id_stream_case(n_rows, dim, n_ids, dtype, dist, norm_type=2.0,
                         max_norm="median touched-row norm"),
        make=make,
        reference=reference,
        bytes_moved=moved,
        impls=_impls(),
        compare=close(),
    )


def _impls():
    impls = [
        Impl("fastembed", "renorm_", _fastembed, threaded=True),
        Impl("numpy", "unique + norms + scatter", _numpy),
    ]
    if peers.torch() is not None:
        impls.append(Impl("torch", "embedding_renorm_", _torch, threaded=True))
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(.at[ids].set), table donated", _jax, own_threads=True))
    return impls


def _working_copy(d):
    """A private copy of the table and a reset that restores it (untimed)."""
    w = d["table"].copy()
    return w, lambda: np.copyto(w, d["table"])


def _fastembed(d, threads):
    w, reset = _working_copy(d)
    ids, max_norm = d["ids"], d["max_norm"]
    return Timed(lambda: fastembed.renorm_(w, ids, max_norm, num_threads=threads),
                 reset=reset, output=lambda _: w)


def _numpy(d, threads):
    w, reset = _working_copy(d)
    ids, max_norm = d["ids"], d["max_norm"]
    return Timed(lambda: numpy_renorm_(w, ids, max_norm), reset=reset, output=lambda _: w)


def _torch(d, threads):
    torch = peers.torch()
    w, reset = _working_copy(d)
    wt, it, max_norm = torch.from_numpy(w), torch.from_numpy(d["ids"]), d["max_norm"]

    def call():
        with torch.no_grad():
            torch.embedding_renorm_(wt, it, max_norm, 2.0)
    return Timed(call, reset=reset, output=lambda _: w)


def _jax(d, threads):
    """Per position: its row's norm and scale, written back with a scatter (duplicates
    write the same value); the table argument is donated so XLA may update it in place."""
    jax = peers.jax()
    jnp = jax.numpy
    ids, max_norm = jnp.asarray(d["ids"]), d["max_norm"]

    def renorm(w, ids):
        rows = jnp.take(w, ids, axis=0)
        norms = jnp.sqrt(jnp.sum(rows.astype(jnp.float64) ** 2, axis=1))
        scale = jnp.where(norms > max_norm, max_norm / (norms + EPS), 1.0).astype(w.dtype)
        return w.at[ids].set(rows * scale[:, None])
    f = jax.jit(renorm, donate_argnums=0)
    state = {}

    def reset():
        state["w"] = jnp.array(d["table"])  # a fresh device buffer to donate

    def call():
        state["w"] = peers.jax_block(f(state["w"], ids))
        return state["w"]
    return Timed(call, reset=reset, output=np.asarray)


register_shapes("renorm_", SHAPES, _case,
                available=lambda: hasattr(fastembed, "renorm_"))
