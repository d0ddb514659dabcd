"""A full sparse training step on an embedding table: the gradient of a lookup
(`accumulate`) and an Adagrad update of the touched rows (`fastembed.optimizers.Adagrad`),
against NumPy (np.unique + np.add.at, then the update by fancy indexing), PyTorch
(sparse embedding backward, then torch.optim.Adagrad's sparse step) and JAX (dense
scatter-add and update under jit, table and accumulator donated).

Steps are timed back to back on the same batch without restoring anything: that is
steady-state training (every step touches the same rows and does the same work). The
first step, from a fresh table and optimizer, is the one checked against NumPy's.
Registered when fastembed exports `accumulate` and `optimizers.Adagrad` (API.md)."""
import importlib

import numpy as np

import fastembed
from fastembed.bench import peers
from fastembed.bench.accumulate import numpy_unique_add_at
from fastembed.bench.core import (DTYPE_NAMES, Case, Impl, Timed, close, make_ids,
                                  random_table, register, short)

LEARNING_RATE, INITIAL_ACCUMULATOR, EPSILON = 0.01, 0.1, 1e-7  # Keras's Adagrad, lr 0.01

# (n_rows, dim, n_ids, dtype, id distribution)
SHAPES = {
    "full": [
        (1_000_000, 64, 1_000_000, np.float32, "uniform"),
        (1_000_000, 64, 1_000_000, np.float32, "zipf"),
    ],
    "quick": [
        (250_000, 64, 25_000, np.float32, "zipf"),
    ],
    "tiny": [
        (1_000, 8, 500, np.float32, "uniform"),
        (1_000, 8, 500, np.float64, "zipf"),
    ],
}


def optimizers():
    try:
        return importlib.import_module("fastembed.optimizers")
    except ImportError:
        return None


def _available():
    opt = optimizers()
    return hasattr(fastembed, "accumulate") and opt is not None and hasattr(opt, "Adagrad")


@register("adagrad_step", available=_available,
          requires="fastembed.accumulate and fastembed.optimizers.Adagrad")
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


class NumpyAdagrad:
    """Keras's Adagrad on the touched rows: acc += g^2; w -= lr * g / (sqrt(acc) + eps)."""

    def __init__(self, shape, dtype):
        self.acc = np.full(shape, INITIAL_ACCUMULATOR, dtype)

    def step(self, w, ids, grad_output):
        rows, values = numpy_unique_add_at(ids, grad_output)
        acc = self.acc[rows] + values * values
        self.acc[rows] = acc
        w[rows] -= LEARNING_RATE * values / (np.sqrt(acc) + EPSILON)


def _case(n_rows, dim, n_ids, dtype, dist):
    dtype = np.dtype(dtype)

    def make():
        rng = np.random.default_rng(0)
        ids = make_ids(rng, dist, n_ids, n_rows)
        return {"table": random_table(rng, n_rows, dim, dtype), "ids": ids,
                "grad_output": random_table(rng, n_ids, dim, dtype) - 0.5,
                "n_unique": np.unique(ids).size}

    def reference(d):
        w = d["table"].copy()
        NumpyAdagrad(w.shape, w.dtype).step(w, d["ids"], d["grad_output"])
        return w

    def moved(d):  # ids, grad_output read; per touched row: the gradient row written and
        # read, the table row and the accumulator row each read and written
        row = dim * dtype.itemsize
        return d["ids"].nbytes + d["grad_output"].nbytes + d["n_unique"] * 6 * row

    return Case(
        kernel="adagrad_step",
        name=f"{short(n_rows)}x{dim} {DTYPE_NAMES[dtype]} {short(n_ids)} ids {dist}",
        params={"n_rows": n_rows, "dim": dim, "n_ids": n_ids, "dtype": dtype.name,
                "ids": dist, "optimizer": "Adagrad", "learning_rate": LEARNING_RATE,
                "initial_accumulator_value": INITIAL_ACCUMULATOR, "epsilon": EPSILON},
        make=make,
        reference=reference,
        bytes_moved=moved,
        impls=_impls(),
        compare=close(rtol_f32=1e-4, rtol_f64=1e-9),
    )


def _impls():
    impls = [
        Impl("fastembed", "Adagrad.step (fused)", _fastembed_fused, threaded=True),
        Impl("fastembed", "accumulate + Adagrad.apply", _fastembed, threaded=True),
        Impl("numpy", "unique/add.at + fancy-index update", _numpy),
    ]
    if peers.torch() is not None:
        impls.append(Impl("torch", "sparse backward + optim.Adagrad", _torch, threaded=True))
    if peers.jax() is not None:
        impls.append(Impl("jax", "jit(dense scatter-add + Adagrad), donated", _jax,
                          own_threads=True))
    return impls


def _fastembed(d, threads):
    w = d["table"].copy()
    ids, grad_output, n_rows = d["ids"], d["grad_output"], w.shape[0]
    opt = optimizers().Adagrad(learning_rate=LEARNING_RATE,
                               initial_accumulator_value=INITIAL_ACCUMULATOR, epsilon=EPSILON)

    def call():
        opt.apply(w, fastembed.accumulate(ids, grad_output, n_rows, num_threads=threads),
                  num_threads=threads)
    return Timed(call, output=lambda _: w)


def _fastembed_fused(d, threads):
    w = d["table"].copy()
    ids, grad_output = d["ids"], d["grad_output"]
    opt = optimizers().Adagrad(learning_rate=LEARNING_RATE,
                               initial_accumulator_value=INITIAL_ACCUMULATOR, epsilon=EPSILON)
    return Timed(lambda: opt.step(w, ids, grad_output, num_threads=threads), output=lambda _: w)


def _numpy(d, threads):
    w = d["table"].copy()
    opt = NumpyAdagrad(w.shape, w.dtype)
    return Timed(lambda: opt.step(w, d["ids"], d["grad_output"]), output=lambda _: w)


def _torch(d, threads):
    torch = peers.torch()
    # opting out explicitly (the default) silences torch's warning about the unchecked
    # sparse gradient its Adagrad builds
    torch.sparse.check_sparse_tensor_invariants.disable()
    w = d["table"].copy()
    param = torch.nn.Parameter(torch.from_numpy(w))
    it, gt = torch.from_numpy(d["ids"]), torch.from_numpy(d["grad_output"])
    opt = torch.optim.Adagrad([param], lr=LEARNING_RATE,
                              initial_accumulator_value=INITIAL_ACCUMULATOR, eps=EPSILON)
    n_rows = w.shape[0]

    def call():
        param.grad = torch.ops.aten.embedding_backward(gt, it, n_rows, -1, False, True)
        opt.step()
    return Timed(call, output=lambda _: w)


def _jax(d, threads):
    """The way JAX trains a table (optax-style): a dense gradient from a scatter-add, then
    Adagrad over the whole table (rows with a zero gradient do not move); the table and
    the accumulator are donated so XLA updates them in place."""
    jax = peers.jax()
    jnp = jax.numpy
    ids, grad_output = jnp.asarray(d["ids"]), jnp.asarray(d["grad_output"])

    def step(w, acc, ids, g):
        dense = jnp.zeros_like(w).at[ids].add(g)
        acc = acc + dense * dense
        return w - LEARNING_RATE * dense / (jnp.sqrt(acc) + EPSILON), acc
    f = jax.jit(step, donate_argnums=(0, 1))
    state = {"w": jnp.array(d["table"]),
             "acc": jnp.full(d["table"].shape, INITIAL_ACCUMULATOR, d["table"].dtype)}

    def call():
        state["w"], state["acc"] = f(state["w"], state["acc"], ids, grad_output)
        return peers.jax_block(state["w"])
    return Timed(call, output=np.asarray)
