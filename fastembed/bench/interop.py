"""fastembed inside the frameworks (`fastembed.interop`).

torch module step: a training step of a torch module (forward lookup, ``backward``, sparse
Adam) with fastembed's ``interop.torch.Embedding`` and its fused ``SparseOptimizer``
against torch's own ``nn.Embedding(sparse=True)`` + ``optim.SparseAdam`` (and fastembed's
module with torch's SparseAdam), uniform and Zipf ids. Steps are timed back to back; the
first, from the same table, is checked against NumPy's Adam.

jax lookup: ``interop.jax.lookup`` under ``jax.jit`` against ``jnp.take`` under jit (the
cost of leaving XLA for fastembed's kernel and coming back).
"""
import importlib.util

import numpy as np

from fastembed.bench import peers
from fastembed.bench.core import (Case, Impl, Timed, close, make_ids, random_table, register,
                                  short)
from fastembed.bench.optim_step import HYPERS, NumpyRule

LR, EPS = HYPERS["Adam"]["learning_rate"], HYPERS["Adam"]["epsilon"]

# (n_rows, dim, n_ids, id distribution)
TORCH_SHAPES = {"full": [(1_000_000, 64, 1_000_000, "uniform"),
                         (1_000_000, 64, 1_000_000, "zipf")],
                "quick": [(100_000, 64, 20_000, "zipf")],
                "tiny": [(1_000, 8, 500, "uniform")]}
JAX_SHAPES = {"full": [(1_000_000, 64, 1_000_000), (1_000_000, 64, 100)],
              "quick": [(100_000, 64, 50_000)],
              "tiny": [(1_000, 8, 500)]}


def _torch_available():
    return (peers.torch() is not None
            and importlib.util.find_spec("fastembed.interop.torch") is not None)


def _jax_available():
    return (peers.jax() is not None
            and importlib.util.find_spec("fastembed.interop.jax") is not None)


@register("torch module step", available=_torch_available,
          requires="torch and fastembed.interop.torch")
def torch_cases(size):
    return [_torch_case(*shape) for shape in TORCH_SHAPES[size]]


@register("jax lookup", available=_jax_available, requires="jax and fastembed.interop.jax")
def jax_cases(size):
    return [_jax_case(*shape) for shape in JAX_SHAPES[size]]


# ---- torch module step ---------------------------------------------------------------------

def _torch_case(n_rows, dim, n_ids, dist):
    def make():
        rng = np.random.default_rng(0)
        ids = make_ids(rng, dist, n_ids, n_rows)
        return {"table": random_table(rng, n_rows, dim, np.float32), "ids": ids,
                "grad_output": random_table(rng, n_ids, dim, np.float32) - 0.5,
                "n_unique": np.unique(ids).size}

    def reference(d):
        w = d["table"].copy()
        NumpyRule("Adam", w.shape, w.dtype).step(w, d["ids"], d["grad_output"])
        return w

    def moved(d):  # the rows gathered forward; ids and gradient read; per touched row the
        # table and both moments read and written
        return (d["ids"].nbytes + 2 * d["grad_output"].nbytes
                + d["n_unique"] * 6 * dim * 4)

    fused = "interop.torch.Embedding + SparseOptimizer(Adam)"
    impls = [Impl("fastembed", fused, _module("fastembed", "fused"), threaded=True),
             Impl("fastembed", "interop.torch.Embedding + optim.SparseAdam",
                  _module("fastembed", "torch"), threaded=True),
             Impl("torch", "nn.Embedding(sparse=True) + optim.SparseAdam",
                  _module("torch", "torch"), threaded=True, compare_to=fused)]
    return Case(
        kernel="torch module step",
        name=f"Adam {short(n_rows)}x{dim} f32 {short(n_ids)} ids {dist}",
        params={"optimizer": "Adam", "n_rows": n_rows, "dim": dim, "n_ids": n_ids,
                "dtype": "float32", "ids": dist, "learning_rate": LR, "epsilon": EPS},
        make=make, reference=reference, bytes_moved=moved, impls=impls,
        compare=close(rtol_f32=1e-4))


def _module(module, optimizer):
    def prepare(d, threads):
        torch = peers.torch()
        n_rows, dim = d["table"].shape
        if module == "fastembed":
            from fastembed.interop import torch as fit
            m = fit.Embedding(n_rows, dim, sparse=True)
        else:
            m = torch.nn.Embedding(n_rows, dim, sparse=True)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(d["table"]))
        hp = HYPERS["Adam"]
        if optimizer == "fused":
            from fastembed.interop import torch as fit
            from fastembed.optimizers import Adam
            opt = fit.SparseOptimizer([m], Adam(**hp))
        else:
            opt = torch.optim.SparseAdam(m.parameters(), lr=LR, eps=EPS,
                                         betas=(hp["beta_1"], hp["beta_2"]))
        ids, grad = torch.from_numpy(d["ids"]), torch.from_numpy(d["grad_output"])

        def call():
            opt.zero_grad()
            m(ids).backward(grad)
            opt.step()
        return Timed(call, output=lambda _: m.weight.detach().numpy())
    return prepare


# ---- jax lookup under jit ------------------------------------------------------------------

def _jax_case(n_rows, dim, n_ids):
    def make():
        rng = np.random.default_rng(0)
        return {"weights": random_table(rng, n_rows, dim, np.float32),
                "ids": make_ids(rng, "uniform", n_ids, n_rows).astype(np.int32)}

    return Case(
        kernel="jax lookup",
        name=f"{short(n_rows)}x{dim} f32 {short(n_ids)} ids uniform",
        params={"n_rows": n_rows, "dim": dim, "n_ids": n_ids, "dtype": "float32",
                "ids": "uniform"},
        make=make,
        reference=lambda d: d["weights"][d["ids"]],
        bytes_moved=lambda d: 2 * n_ids * dim * 4 + d["ids"].nbytes,
        impls=[Impl("fastembed", "jit(interop.jax.lookup)", _jax("fastembed"), own_threads=True),
               Impl("jax", "jit(jnp.take)", _jax("jax"), own_threads=True)])


def _jax(which):
    def prepare(d, threads):
        jax = peers.jax()
        if which == "fastembed":
            from fastembed.interop.jax import lookup as fn
        else:
            def fn(w, i):
                return jax.numpy.take(w, i, axis=0)
        f = jax.jit(fn)
        w, ids = jax.numpy.asarray(d["weights"]), jax.numpy.asarray(d["ids"])
        return Timed(lambda: peers.jax_block(f(w, ids)), output=np.asarray)
    return prepare
