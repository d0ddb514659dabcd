"""A full sparse training step on a 1M x 64 float32 table, 1M ids per step: lookup + gradient
accumulation + optimizer update of the touched rows. fastembed (lookup + the fused
`opt.step`) against NumPy (take, unique + add.at, fancy-index update) and torch
(nn.Embedding(sparse=True) forward + backward + SGD / Adagrad / SparseAdam). Run:

    pytest benchmarks/bench_train_step.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest

import fastembed
from fastembed import optimizers as O
from conftest import cached, requires_torch, run, torch, zipf_ids

N_ROWS, DIM, N_IDS, LR = 1_000_000, 64, 1_000_000, 0.01
EPS = 1e-7
OPTS = ["SGD", "Adagrad", "Adam"]


def _data(dist):
    def make():
        rng = np.random.default_rng(0)
        ids = rng.integers(0, N_ROWS, N_IDS) if dist == "uniform" else zipf_ids(rng, N_IDS, N_ROWS)
        return (rng.standard_normal((N_ROWS, DIM), dtype=np.float32), ids,
                rng.standard_normal((N_IDS, DIM), dtype=np.float32))
    return cached(("train", dist), make)


def _moved(ids):
    touched = np.unique(ids).size
    # rows read by the lookup, gradient rows read, touched rows read+written with 0-2 states
    return ids.size * DIM * 4 * 2 + touched * DIM * 4 * 2 * 3


@pytest.fixture(params=["uniform", "zipf"])
def dist(request):
    return request.param


@pytest.mark.parametrize("name", OPTS)
def test_fastembed(benchmark, dist, name):
    table, ids, g = _data(dist)
    w = table.copy()
    opt = {"SGD": lambda: O.SGD(LR), "Adagrad": lambda: O.Adagrad(LR, epsilon=EPS),
           "Adam": lambda: O.Adam(LR, epsilon=EPS)}[name]()
    out = np.empty((N_IDS, DIM), np.float32)
    benchmark.group = f"train step {name} 1Mx64 {dist}"

    def step():
        fastembed.lookup(w, ids, out=out)
        opt.step(w, ids, g)

    run(benchmark, step, _moved(ids), rounds=5)


@pytest.mark.parametrize("name", OPTS)
def test_numpy(benchmark, dist, name):
    table, ids, g = _data(dist)
    w = table.copy()
    state = {"acc": np.full_like(w, 0.1), "m": np.zeros_like(w), "v": np.zeros_like(w), "t": 0}
    benchmark.group = f"train step {name} 1Mx64 {dist}"

    def step():
        w[ids]  # the forward lookup
        rows, inv = np.unique(ids, return_inverse=True)
        grad = np.zeros((rows.size, DIM), np.float32)
        np.add.at(grad, inv, g)
        if name == "SGD":
            w[rows] -= LR * grad
        elif name == "Adagrad":
            acc = state["acc"][rows] + grad * grad
            state["acc"][rows] = acc
            w[rows] -= LR * grad / (np.sqrt(acc) + EPS)
        else:
            state["t"] += 1
            t = state["t"]
            m = 0.9 * state["m"][rows] + 0.1 * grad
            v = 0.999 * state["v"][rows] + 0.001 * grad * grad
            state["m"][rows], state["v"][rows] = m, v
            w[rows] -= LR * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + EPS)

    run(benchmark, step, _moved(ids), rounds=3)


@requires_torch
@pytest.mark.parametrize("name", OPTS)
def test_torch(benchmark, dist, name):
    table, ids, g = _data(dist)
    emb = torch.nn.Embedding(N_ROWS, DIM, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(table))
    opt = {"SGD": lambda p: torch.optim.SGD(p, lr=LR),
           "Adagrad": lambda p: torch.optim.Adagrad(p, lr=LR, initial_accumulator_value=0.1,
                                                   eps=EPS),
           "Adam": lambda p: torch.optim.SparseAdam(p, lr=LR, eps=EPS)}[name](emb.parameters())
    ti, tg = torch.from_numpy(ids), torch.from_numpy(g)
    benchmark.group = f"train step {name} 1Mx64 {dist}"

    def step():
        opt.zero_grad()
        emb(ti).backward(tg)
        opt.step()

    run(benchmark, step, _moved(ids), rounds=5)


def test_one_step_agrees_with_torch_and_numpy():
    """Not timed: the three implementations take the same step (SGD) from the same table."""
    table, ids, g = _data("uniform")
    w = table.copy()
    fastembed.lookup(w, ids)
    O.SGD(LR).step(w, ids, g)
    rows, inv = np.unique(ids, return_inverse=True)
    grad = np.zeros((rows.size, DIM), np.float32)
    np.add.at(grad, inv, g)
    want = table.copy()
    want[rows] -= LR * grad
    np.testing.assert_allclose(w, want, rtol=1e-5, atol=1e-6)
