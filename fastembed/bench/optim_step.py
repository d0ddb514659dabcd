"""The sparse training step of every optimizer (`fastembed.optimizers`): the gradient of a
lookup summed per row and the touched rows and their state updated.

fastembed's fused ``opt.step(table, ids, grad_output)`` against its two-call path
(``accumulate`` + ``opt.apply``; the case's ratio "fused / accumulate+apply"), NumPy
(np.unique + np.add.at, then the rule by fancy indexing), PyTorch (the sparse embedding
backward, then ``optim.SGD`` / ``optim.Adagrad`` / ``optim.SparseAdam``; torch has no
row-wise Adagrad or FTRL, so for those the rule is written in torch ops on the coalesced
sparse gradient) and, for Adagrad, JAX (dense scatter-add and update under jit, donated).

Steps are timed back to back on the same batch without restoring anything: that is
steady-state training (every step touches the same rows and does the same work). The
first step, from a fresh table and optimizer, is the one checked against NumPy's.

float16 cases (a half table, float32 state, rounded to nearest or stochastically): the
reference is NumPy's float32 step rounded; the peer torch's optimizer on a float16
parameter (which computes and keeps its state in float16: SGD and Adagrad only, as Adam's
float16 second moment loses too much to compare); no NumPy or JAX timing.
"""
import numpy as np

import fastembed
from fastembed import optimizers
from fastembed.bench import peers
from fastembed.bench.accumulate import numpy_unique_add_at
from fastembed.bench.core import (DTYPE_NAMES, Case, Impl, Timed, close, make_ids,
                                  random_table, register, short)

LR, EPS = 0.01, 1e-7
# constructor arguments shared by fastembed, the NumPy rule and the torch peer
HYPERS = {
    "SGD": {"learning_rate": LR},
    "Adagrad": {"learning_rate": LR, "initial_accumulator_value": 0.1, "epsilon": EPS},
    "Adam": {"learning_rate": LR, "beta_1": 0.9, "beta_2": 0.999, "epsilon": EPS},
    "RowwiseAdagrad": {"learning_rate": LR, "initial_accumulator_value": 0.0, "epsilon": EPS},
    "FTRL": {"learning_rate": LR, "learning_rate_power": -0.5,
             "initial_accumulator_value": 0.1},
}
STATES = {"SGD": 0, "Adagrad": 1, "Adam": 2, "RowwiseAdagrad": 0, "FTRL": 2}  # rows of state
ALL = tuple(HYPERS)

# (optimizer, n_rows, dim, n_ids, dtype, id distribution[, rounding of a half table])
SHAPES = {
    "full": [(o, 1_000_000, 64, 1_000_000, np.float32, d)
             for d in ("uniform", "zipf") for o in ALL]
    + [("Adagrad", 1_000_000, 64, 1_000_000, np.float16, "zipf", "nearest"),
       ("SGD", 1_000_000, 64, 1_000_000, np.float16, "uniform", "stochastic")],
    "quick": [(o, 50_000, 64, 10_000, np.float32, "zipf") for o in ALL]
    + [("Adagrad", 50_000, 64, 10_000, np.float16, "zipf", "stochastic")],
    "tiny": [("Adagrad", 1_000, 8, 500, np.float32, "uniform"),
             ("Adam", 1_000, 8, 500, np.float64, "zipf"),
             ("SGD", 1_000, 8, 500, np.float32, "zipf"),
             ("RowwiseAdagrad", 1_000, 8, 500, np.float32, "uniform"),
             ("FTRL", 1_000, 8, 500, np.float32, "uniform"),
             ("Adagrad", 1_000, 8, 500, np.float16, "zipf", "nearest"),
             ("SGD", 1_000, 8, 500, np.float16, "uniform", "stochastic")],
}


@register("optimizer step")
def cases(size):
    return [_case(*shape) for shape in SHAPES[size]]


class NumpyRule:
    """One optimizer's Keras rule on the touched rows, in NumPy (the reference)."""

    def __init__(self, name, shape, dtype):
        self.name, self.hp, self.t = name, HYPERS[name], 0
        init = self.hp.get("initial_accumulator_value", 0.0)
        rows = (shape[0],) if name == "RowwiseAdagrad" else shape
        self.acc = np.full(rows, init, dtype)
        self.m = np.zeros(shape, dtype) if name in ("Adam", "FTRL") else None
        self.v = np.zeros(shape, dtype) if name == "Adam" else None

    def step(self, w, ids, grad_output):
        rows, g = numpy_unique_add_at(ids, grad_output)
        self.t += 1
        if self.name == "SGD":
            w[rows] -= LR * g
        elif self.name == "Adagrad":
            acc = self.acc[rows] + g * g
            self.acc[rows] = acc
            w[rows] -= LR * g / (np.sqrt(acc) + EPS)
        elif self.name == "RowwiseAdagrad":
            acc = self.acc[rows] + (g * g).mean(axis=1)
            self.acc[rows] = acc
            w[rows] -= LR * g / (np.sqrt(acc) + EPS)[:, None]
        elif self.name == "Adam":
            b1, b2 = self.hp["beta_1"], self.hp["beta_2"]
            m = b1 * self.m[rows] + (1 - b1) * g
            v = b2 * self.v[rows] + (1 - b2) * g * g
            self.m[rows], self.v[rows] = m, v
            alpha = LR * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
            w[rows] -= alpha * m / (np.sqrt(v) + EPS)
        else:  # FTRL without l1/l2 (the defaults): w = -linear / (sqrt(n) / lr)
            n_old = self.acc[rows]
            n_new = n_old + g * g
            lin = self.m[rows] + g - (np.sqrt(n_new) - np.sqrt(n_old)) / LR * w[rows]
            self.acc[rows], self.m[rows] = n_new, lin
            w[rows] = -lin / (np.sqrt(n_new) / LR)


def _case(name, n_rows, dim, n_ids, dtype, dist, rounding="nearest"):
    dtype = np.dtype(dtype)
    half = dtype.itemsize == 2
    wide = np.dtype(np.float32) if half else dtype  # the gradient's and the state's

    def make():
        rng = np.random.default_rng(0)
        ids = make_ids(rng, dist, n_ids, n_rows)
        return {"table": random_table(rng, n_rows, dim, dtype), "ids": ids,
                "grad_output": random_table(rng, n_ids, dim, wide) - 0.5,
                "n_unique": np.unique(ids).size}

    def reference(d):  # a half table: the float32 step, rounded to nearest
        w = d["table"].astype(wide)
        NumpyRule(name, w.shape, w.dtype).step(w, d["ids"], d["grad_output"])
        return w.astype(dtype)

    def moved(d):  # ids, grad_output read; per touched row: the gradient row written and
        # read, the table row and each state row read and written
        row = dim * wide.itemsize
        return (d["ids"].nbytes + d["grad_output"].nbytes
                + d["n_unique"] * (2 * dim * dtype.itemsize + (2 + 2 * STATES[name]) * row))

    fused, two = f"{name}.step (fused)", f"accumulate + {name}.apply"
    how = f" {rounding}" if half else ""
    return Case(
        kernel="optimizer step",
        name=(f"{name} {short(n_rows)}x{dim} {DTYPE_NAMES[dtype]}{how} {short(n_ids)} ids "
              f"{dist}"),
        params=dict({"optimizer": name, "n_rows": n_rows, "dim": dim, "n_ids": n_ids,
                     "dtype": dtype.name, "ids": dist},
                    **HYPERS[name], **({"rounding": rounding} if half else {})),
        make=make,
        reference=reference,
        bytes_moved=moved,
        impls=_impls(name, fused, two, rounding, half),
        compare=_half_close if half else close(rtol_f32=1e-4, rtol_f64=1e-9),
        ratios=[("fused / accumulate+apply", fused, two)],
    )


def _half_close(got, want):
    """A half table against the float32 step rounded: within two float16 steps of each
    value (stochastic rounding moves one step; torch computes in float16)."""
    got = np.asarray(got, np.float32)
    want = want.astype(np.float32)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=2 ** -9, atol=2 ** -14))


def _impls(name, fused, two, rounding="nearest", half=False):
    impls = [
        Impl("fastembed", fused, _fastembed_fused(name, rounding), threaded=True),
        Impl("fastembed", two, _fastembed_two_calls(name, rounding), threaded=True),
    ]
    if not half:
        impls.append(Impl("numpy", "unique/add.at + fancy-index update", _numpy(name)))
    if peers.torch() is not None:
        what = {"SGD": "optim.SGD", "Adagrad": "optim.Adagrad", "Adam": "optim.SparseAdam"}
        impls.append(Impl("torch", "sparse backward + " + what.get(name, "rule in torch ops"),
                          _torch(name), threaded=True, compare_to=fused))
    if name == "Adagrad" and not half and peers.jax() is not None:
        impls.append(Impl("jax", "jit(dense scatter-add + Adagrad), donated", _jax,
                          own_threads=True, compare_to=fused))
    return impls


def _optimizer(name, rounding="nearest"):
    return getattr(optimizers, name)(**HYPERS[name], rounding=rounding, seed=0)


def _fastembed_two_calls(name, rounding):
    def prepare(d, threads):
        w = d["table"].copy()
        ids, grad_output, n_rows = d["ids"], d["grad_output"], w.shape[0]
        opt = _optimizer(name, rounding)

        def call():
            opt.apply(w, fastembed.accumulate(ids, grad_output, n_rows, num_threads=threads),
                      num_threads=threads)
        return Timed(call, output=lambda _: w)
    return prepare


def _fastembed_fused(name, rounding):
    def prepare(d, threads):
        w = d["table"].copy()
        ids, grad_output = d["ids"], d["grad_output"]
        opt = _optimizer(name, rounding)
        return Timed(lambda: opt.step(w, ids, grad_output, num_threads=threads),
                     output=lambda _: w)
    return prepare


def _numpy(name):
    def prepare(d, threads):
        w = d["table"].copy()
        opt = NumpyRule(name, w.shape, w.dtype)
        return Timed(lambda: opt.step(w, d["ids"], d["grad_output"]), output=lambda _: w)
    return prepare


def _torch(name):
    def prepare(d, threads):
        torch = peers.torch()
        # opting out explicitly (the default) silences torch's warning about the unchecked
        # sparse gradient its optimizers build
        torch.sparse.check_sparse_tensor_invariants.disable()
        w = d["table"].copy()
        param = torch.nn.Parameter(torch.from_numpy(w))
        it = torch.from_numpy(d["ids"])
        gt = torch.from_numpy(d["grad_output"]).to(param.dtype)  # float16 for a half table
        n_rows = w.shape[0]
        hp = HYPERS[name]
        if name == "SGD":
            opt = torch.optim.SGD([param], lr=LR)
        elif name == "Adagrad":
            opt = torch.optim.Adagrad([param], lr=LR, eps=EPS,
                                      initial_accumulator_value=hp["initial_accumulator_value"])
        elif name == "Adam":
            opt = torch.optim.SparseAdam([param], lr=LR, betas=(hp["beta_1"], hp["beta_2"]),
                                         eps=EPS)
        else:
            opt = _TorchRule(name, param)

        def call():
            param.grad = torch.ops.aten.embedding_backward(gt, it, n_rows, -1, False, True)
            opt.step()
        return Timed(call, output=lambda _: w)
    return prepare


class _TorchRule:
    """RowwiseAdagrad or FTRL (Keras's rules) in torch ops on the coalesced sparse gradient
    of `param` (torch.optim has neither for sparse gradients)."""

    def __init__(self, name, param):
        torch = peers.torch()
        self.name, self.param = name, param
        table = param.data
        init = HYPERS[name]["initial_accumulator_value"]
        if name == "RowwiseAdagrad":
            self.acc = torch.full((table.shape[0],), init, dtype=table.dtype)
        else:
            self.acc = torch.full_like(table, init)
            self.lin = torch.zeros_like(table)

    def step(self):
        grad = self.param.grad.coalesce()
        rows, g = grad.indices()[0], grad.values()
        w = self.param.data
        if self.name == "RowwiseAdagrad":
            acc = self.acc[rows] + (g * g).mean(dim=1)
            self.acc[rows] = acc
            w.index_add_(0, rows, -LR * g / (acc.sqrt() + EPS)[:, None])
            return
        n_old = self.acc[rows]
        n_new = n_old + g * g
        lin = self.lin[rows] + g - (n_new.sqrt() - n_old.sqrt()) / LR * w[rows]
        self.acc[rows], self.lin[rows] = n_new, lin
        w[rows] = -lin / (n_new.sqrt() / LR)


def _jax(d, threads):
    """The way JAX trains a table (optax-style): a dense gradient from a scatter-add, then
    Adagrad over the whole table (rows with a zero gradient do not move); the table and
    the accumulator are donated so XLA updates them in place."""
    jax = peers.jax()
    jnp = jax.numpy
    ids, grad_output = jnp.asarray(d["ids"]), jnp.asarray(d["grad_output"])
    init = HYPERS["Adagrad"]["initial_accumulator_value"]

    def step(w, acc, ids, g):
        dense = jnp.zeros_like(w).at[ids].add(g)
        acc = acc + dense * dense
        return w - LR * dense / (jnp.sqrt(acc) + EPS), acc
    f = jax.jit(step, donate_argnums=(0, 1))
    state = {"w": jnp.array(d["table"]), "acc": jnp.full(d["table"].shape, init,
                                                          d["table"].dtype)}

    def call():
        state["w"], state["acc"] = f(state["w"], state["acc"], ids, grad_output)
        return peers.jax_block(state["w"])
    return Timed(call, output=np.asarray)
