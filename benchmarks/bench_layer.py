"""The Embedding layer's building blocks: table initialization against NumPy (and torch),
and the row constraint of a training step against NumPy. Run:

    pytest benchmarks/bench_layer.py --benchmark-only --benchmark-group-by=group

Initialization allocates a new table every call (first-touch page faults included, as a
layer pays them); "bytes" is the table written once. Issue 5's target: the default
initializer (RandomUniform(-0.05, 0.05), float32) on 10M x 64 in at most a third of
``np.random.default_rng(0).uniform(-0.05, 0.05, size)``'s time (which makes float64);
``rng.random(size, dtype=np.float32)`` scaled in place is the fairer float32 peer.
"""
import numpy as np
import pytest

from conftest import THREADS, requires_torch, run, torch
from fastembed import constraints, initializers

# (n_rows, dim); 10M x 64 is 2.5 GB in float32 (NumPy's float64 uniform: 5 GB)
INIT_CASES = [(10_000_000, 64), (1_000_000, 64)]
INIT_IDS = ["10Mx64", "1Mx64"]


@pytest.fixture(params=INIT_CASES, ids=INIT_IDS)
def shape(request):
    return request.param


def _rounds(shape):
    return 5 if shape[0] * shape[1] >= 100_000_000 else 11


def _check_uniform(x, lo=-0.05, hi=0.05):
    x = np.asarray(x)
    assert x.shape[-1] == 64 and x.min() >= lo and x.max() < hi
    assert abs(float(x[:1000].astype(np.float64).std()) - (hi - lo) / 12 ** 0.5) < 2e-3


@pytest.mark.parametrize("threads", sorted({1, THREADS}))
def test_init_uniform_fastembed(benchmark, shape, threads):
    benchmark.group = f"init uniform {shape[0]}x{shape[1]} float32"
    init = initializers.get("uniform", seed=0)
    _check_uniform(init((1000, 64), num_threads=threads))
    run(benchmark, lambda: init(shape, "float32", num_threads=threads), shape[0] * shape[1] * 4,
        _rounds(shape))
    benchmark.extra_info["threads"] = threads


def test_init_uniform_numpy_float64(benchmark, shape):
    benchmark.group = f"init uniform {shape[0]}x{shape[1]} float32"
    rng = np.random.default_rng(0)
    _check_uniform(rng.uniform(-0.05, 0.05, size=(1000, 64)))
    run(benchmark, lambda: rng.uniform(-0.05, 0.05, size=shape), shape[0] * shape[1] * 4,
        _rounds(shape))


def _numpy_random_f32(rng, shape):
    x = rng.random(shape, dtype=np.float32)
    x *= np.float32(0.1)
    x -= np.float32(0.05)
    return x


def test_init_uniform_numpy_random_float32_scaled(benchmark, shape):
    benchmark.group = f"init uniform {shape[0]}x{shape[1]} float32"
    rng = np.random.default_rng(0)
    _check_uniform(_numpy_random_f32(rng, (1000, 64)))
    run(benchmark, lambda: _numpy_random_f32(rng, shape), shape[0] * shape[1] * 4,
        _rounds(shape))


@requires_torch
def test_init_uniform_torch(benchmark, shape):
    benchmark.group = f"init uniform {shape[0]}x{shape[1]} float32"
    torch.manual_seed(0)

    def fn():
        return torch.nn.init.uniform_(torch.empty(shape, dtype=torch.float32), -0.05, 0.05)

    _check_uniform(torch.nn.init.uniform_(torch.empty((1000, 64)), -0.05, 0.05).numpy())
    run(benchmark, fn, shape[0] * shape[1] * 4, _rounds(shape))


# ---- normal initializers (1M x 64: NumPy's normal is slow) ---------------------------------

NORMAL_SHAPE = (1_000_000, 64)


@pytest.mark.parametrize("name", ["normal", "truncated_normal"])
def test_init_normal_fastembed(benchmark, name):
    benchmark.group = "init normal 1000000x64 float32"
    init = initializers.get(name, seed=0)
    x = init((1000, 64))
    assert abs(float(x.std()) - (0.05 if name == "normal" else 0.05 * 0.8796)) < 3e-3
    run(benchmark, lambda: init(NORMAL_SHAPE, "float32"), NORMAL_SHAPE[0] * 64 * 4, 11)


def test_init_normal_numpy_float32(benchmark):
    benchmark.group = "init normal 1000000x64 float32"
    rng = np.random.default_rng(0)

    def fn():
        x = rng.standard_normal(NORMAL_SHAPE, dtype=np.float32)
        x *= np.float32(0.05)
        return x

    assert abs(float(fn()[:1000].std()) - 0.05) < 3e-3
    run(benchmark, fn, NORMAL_SHAPE[0] * 64 * 4, 11)


# ---- the row constraint of a training step -------------------------------------------------

def _constraint_case():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1_000_000, 64)).astype(np.float32)
    rows = rng.integers(0, w.shape[0], 100_000)
    return w, rows


@pytest.fixture(scope="module")
def constraint_case():
    return _constraint_case()


def _numpy_max_norm_rows(w, rows, max_value=2.0):
    r = np.unique(rows)
    sub = w[r]
    norms = np.sqrt(np.sum(sub.astype(np.float64) ** 2, axis=1, keepdims=True))
    w[r] = sub * (np.clip(norms, 0, max_value) / (1e-7 + norms)).astype(w.dtype)


def test_max_norm_rows_fastembed(benchmark, constraint_case):
    benchmark.group = "MaxNorm(axis=1) 100k ids into 1Mx64 float32"
    w, rows = constraint_case
    c = constraints.MaxNorm(2.0, axis=1)
    a, b = w[:1000].copy(), w[:1000].copy()
    c.apply_(a, rows[rows < 1000])
    _numpy_max_norm_rows(b, rows[rows < 1000])
    np.testing.assert_allclose(a, b, rtol=1e-6)
    # idempotent after the first call, so every round does the same work
    run(benchmark, lambda: c.apply_(w, rows), 2 * len(np.unique(rows)) * 64 * 4, 11)


def test_max_norm_rows_numpy(benchmark, constraint_case):
    benchmark.group = "MaxNorm(axis=1) 100k ids into 1Mx64 float32"
    w, rows = constraint_case
    run(benchmark, lambda: _numpy_max_norm_rows(w, rows), 2 * len(np.unique(rows)) * 64 * 4, 11)
