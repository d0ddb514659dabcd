"""Framework adapters: a torch training step (lookup + backward + sparse Adam) with
fastembed's module and fused optimizer against torch's own nn.Embedding(sparse=True) +
SparseAdam, and the JAX lookup's overhead against jnp.take under jit. Run:

    pytest benchmarks/bench_interop.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest

from conftest import cached, requires_torch, run, torch, zipf_ids

N_ROWS, DIM, N_IDS = 1_000_000, 64, 1_000_000
LR = 0.01


def _ids(kind):
    def make():
        rng = np.random.default_rng(0)
        ids = rng.integers(0, N_ROWS, N_IDS) if kind == "uniform" else zipf_ids(rng, N_IDS, N_ROWS)
        grad = rng.standard_normal((N_IDS, DIM), dtype=np.float32)
        table = rng.standard_normal((N_ROWS, DIM), dtype=np.float32)
        return torch.from_numpy(ids), torch.from_numpy(grad), table
    return cached(("interop-train", kind), make)


def _module(cls, table):
    m = cls(N_ROWS, DIM, sparse=True)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(table))
    return m


def _torch_step(m, opt, ids, grad):
    opt.zero_grad()
    m(ids).backward(grad)
    opt.step()


def _trainers(table):
    import fastembed.interop.torch as fit
    from fastembed.optimizers import Adam

    def torch_native():
        m = _module(torch.nn.Embedding, table)
        opt = torch.optim.SparseAdam(m.parameters(), lr=LR, eps=1e-7)
        return m, lambda ids, g: _torch_step(m, opt, ids, g)

    def fastembed_module_torch_adam():
        m = _module(fit.Embedding, table)
        opt = torch.optim.SparseAdam(m.parameters(), lr=LR, eps=1e-7)
        return m, lambda ids, g: _torch_step(m, opt, ids, g)

    def fastembed_fused():
        m = _module(fit.Embedding, table)
        opt = fit.SparseOptimizer([m], Adam(learning_rate=LR, epsilon=1e-7))
        return m, lambda ids, g: _torch_step(m, opt, ids, g)

    return {"torch nn.Embedding+SparseAdam": torch_native,
            "fastembed Embedding+torch SparseAdam": fastembed_module_torch_adam,
            "fastembed Embedding+fused Adam": fastembed_fused}


TRAINERS = ["torch nn.Embedding+SparseAdam", "fastembed Embedding+torch SparseAdam",
            "fastembed Embedding+fused Adam"]


@requires_torch
@pytest.mark.parametrize("kind", ["uniform", "zipf"])
@pytest.mark.parametrize("trainer", TRAINERS)
def test_torch_train_step(benchmark, kind, trainer):
    ids, grad, table = _ids(kind)
    benchmark.group = f"torch train step Adam 1Mx64 {kind}"
    # checked once against torch's own step from the same start
    ref, ref_step = _trainers(table)["torch nn.Embedding+SparseAdam"]()
    m, step = _trainers(table)[trainer]()
    ref_step(ids, grad)
    step(ids, grad)
    np.testing.assert_allclose(m.weight.detach().numpy(), ref.weight.detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    del ref, ref_step
    # rows read and written once: weights, two moments, the gradient rows, the ids
    touched = np.unique(ids.numpy()).size
    moved = 2 * 3 * touched * DIM * 4 + grad.numel() * 4 + ids.numel() * 8
    run(benchmark, lambda: step(ids, grad), moved, rounds=7)


@pytest.mark.parametrize("n_ids", [100, 1_000_000], ids=["100ids", "1M ids"])
@pytest.mark.parametrize("impl", ["fastembed", "jnp.take"])
def test_jax_lookup_jit(benchmark, n_ids, impl):
    jax = pytest.importorskip("jax")
    from fastembed.interop.jax import lookup
    rng = np.random.default_rng(0)
    table = jax.numpy.asarray(rng.standard_normal((N_ROWS, DIM), dtype=np.float32))
    ids = jax.numpy.asarray(rng.integers(0, N_ROWS, n_ids).astype(np.int32))
    fn = jax.jit(lookup if impl == "fastembed" else
                 (lambda w, i: jax.numpy.take(w, i, axis=0)))
    np.testing.assert_array_equal(fn(table, ids), np.asarray(table)[np.asarray(ids)])
    benchmark.group = f"jax lookup under jit 1Mx64 {n_ids} ids"
    run(benchmark, lambda: fn(table, ids).block_until_ready(), 2 * n_ids * DIM * 4 + n_ids * 4,
        rounds=None if n_ids <= 1000 else 11)
