"""lookup_bag (forward) against NumPy (take + add.reduceat) and torch's embedding_bag
(FBGEMM on x86). Run:

    pytest benchmarks/bench_bag.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest

import fastembed
from conftest import cached, requires_torch, run, torch, zipf_ids

N_ROWS, DIM, N_BAGS = 1_000_000, 64, 100_000
# (bag lengths, id distribution)
CASES = {"len1-40 uniform": ("1-40", "uniform"), "len1-40 zipf": ("1-40", "zipf"),
         "len1 uniform": ("1", "uniform"), "len32 uniform": ("32", "uniform")}


@pytest.fixture(scope="module")
def table():
    return cached(("bag-table",), lambda: np.random.default_rng(0).random(
        (N_ROWS, DIM), dtype=np.float32))


@pytest.fixture(params=list(CASES))
def case(request, table):
    lengths, dist = CASES[request.param]

    def make():
        rng = np.random.default_rng(1)
        if lengths == "1-40":
            sizes = rng.integers(1, 41, N_BAGS)
        else:
            sizes = np.full(N_BAGS, int(lengths))
        n = int(sizes.sum())
        ids = rng.integers(0, N_ROWS, n) if dist == "uniform" else zipf_ids(rng, n, N_ROWS)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        expected = np.add.reduceat(table[ids], offsets, axis=0)
        return ids, offsets, expected, np.zeros((N_BAGS, DIM), np.float32)

    ids, offsets, expected, out = cached(("bag", request.param), make)
    group = f"lookup_bag sum 1Mx64 {request.param}"
    moved = ids.size * DIM * 4 + expected.nbytes + ids.nbytes + offsets.nbytes
    return ids, offsets, expected, out, group, moved


def _check(got, want):
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-4)


def test_fastembed(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    benchmark.group = group
    _check(fastembed.lookup_bag(table, ids, offsets), expected)
    run(benchmark, lambda: fastembed.lookup_bag(table, ids, offsets), moved, rounds=11)


def test_fastembed_out(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    benchmark.group = group
    _check(fastembed.lookup_bag(table, ids, offsets, out=out), expected)
    run(benchmark, lambda: fastembed.lookup_bag(table, ids, offsets, out=out), moved, rounds=11)


def test_numpy_take_reduceat(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    benchmark.group = group

    def fn():
        return np.add.reduceat(np.take(table, ids, axis=0), offsets, axis=0)

    _check(fn(), expected)
    run(benchmark, fn, moved, rounds=5)


@requires_torch
def test_torch_embedding_bag(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    benchmark.group = group
    w, i, o = (torch.from_numpy(a) for a in (table, ids, offsets))

    def fn():
        return torch.nn.functional.embedding_bag(i, w, o, mode="sum")

    _check(fn().numpy(), expected)
    run(benchmark, fn, moved, rounds=11)


# ---- forward + backward -------------------------------------------------------------------

def _grad_out(case):
    ids, offsets, expected, out, group, moved = case
    return cached(("bag-grad", expected.shape), lambda: np.random.default_rng(2).standard_normal(
        expected.shape, dtype=np.float32))


def _train_bytes(ids, dim):
    # forward rows read + backward gradient rows written, once each
    return 2 * ids.size * dim * 4 + 2 * ids.nbytes


def test_fastembed_fwd_bwd(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    g = _grad_out(case)
    benchmark.group = group.replace("lookup_bag sum", "lookup_bag sum fwd+bwd")

    def fn():
        fastembed.lookup_bag(table, ids, offsets, out=out)
        return fastembed.accumulate_bag(ids, offsets, g, N_ROWS)

    grad = fn()
    _check_grad(grad.indices, grad.values, case, g)
    run(benchmark, fn, _train_bytes(ids, DIM), rounds=5)


def _check_grad(rows, values, case, g):
    """Every implementation's gradient, checked on its first touched row against a direct sum."""
    ids, offsets = case[0], case[1]
    bag_of = np.repeat(np.arange(N_BAGS), np.diff(np.append(offsets, ids.size)))
    np.testing.assert_allclose(values[0], g[bag_of[ids == rows[0]]].sum(axis=0), rtol=1e-5,
                               atol=1e-5)


def test_numpy_fwd_bwd(benchmark, case, table):
    """NumPy's best: take + add.reduceat forward; backward expands the bag gradient to one
    row per id (np.repeat) and sums rows per distinct id (unique + add.at)."""
    ids, offsets, expected, out, group, moved = case
    g = _grad_out(case)
    benchmark.group = group.replace("lookup_bag sum", "lookup_bag sum fwd+bwd")
    sizes = np.diff(np.append(offsets, ids.size))

    def fn():
        np.add.reduceat(np.take(table, ids, axis=0), offsets, axis=0)
        rows, inverse = np.unique(ids, return_inverse=True)
        values = np.zeros((rows.size, DIM), np.float32)
        np.add.at(values, inverse, np.repeat(g, sizes, axis=0))
        return rows, values

    _check_grad(*fn(), case, g)
    run(benchmark, fn, _train_bytes(ids, DIM), rounds=3)


@requires_torch
@pytest.mark.parametrize("sparse", ["dense", "sparse", "sparse+coalesce"])
def test_torch_fwd_bwd(benchmark, case, table, sparse):
    ids, offsets, expected, out, group, moved = case
    g = torch.from_numpy(_grad_out(case))
    benchmark.group = group.replace("lookup_bag sum", "lookup_bag sum fwd+bwd")
    w = torch.from_numpy(table.copy()).requires_grad_()
    i, o = torch.from_numpy(ids), torch.from_numpy(offsets)

    def fn():
        w.grad = None
        torch.nn.functional.embedding_bag(i, w, o, mode="sum",
                                          sparse=sparse != "dense").backward(g)
        # uncoalesced, torch's sparse gradient is the (n_ids, dim) expansion of g; coalesce()
        # makes it the row-sparse sum that fastembed returns
        return w.grad.coalesce() if sparse == "sparse+coalesce" else w.grad

    grad = fn()
    if sparse == "dense":
        rows = np.flatnonzero(grad.abs().sum(1).numpy())
        _check_grad(rows, grad.numpy()[rows], case, g.numpy())
    else:
        c = grad.coalesce()
        _check_grad(c.indices()[0].numpy(), c.values().numpy(), case, g.numpy())
    run(benchmark, fn, _train_bytes(ids, DIM), rounds=5)


# ---- scale_grad_by_freq (torch's option; its CPU kernel divides by the wrong counts,
# pytorch/pytorch#190063, so torch is not a peer here: its result would fail the check) ----

def _check_scaled_grad(rows, values, case, g):
    ids = case[0]
    want = g[_bag_of(case)[ids == rows[0]]].sum(axis=0) / np.count_nonzero(ids == rows[0])
    np.testing.assert_allclose(values[0], want, rtol=1e-5, atol=1e-5)


def _bag_of(case):
    ids, offsets = case[0], case[1]
    return np.repeat(np.arange(N_BAGS), np.diff(np.append(offsets, ids.size)))


def test_fastembed_bwd_scale_grad_by_freq(benchmark, case, table):
    ids, offsets, expected, out, group, moved = case
    g = _grad_out(case)
    benchmark.group = group.replace("lookup_bag sum", "accumulate_bag sum scale_grad_by_freq")

    def fn():
        return fastembed.accumulate_bag(ids, offsets, g, N_ROWS, scale_grad_by_freq=True)

    grad = fn()
    _check_scaled_grad(grad.indices, grad.values, case, g)
    run(benchmark, fn, _train_bytes(ids, DIM) // 2, rounds=5)


def test_numpy_bwd_scale_grad_by_freq(benchmark, case, table):
    """unique + add.at of the bag gradient expanded to one row per id, then / counts."""
    ids, offsets, expected, out, group, moved = case
    g = _grad_out(case)
    benchmark.group = group.replace("lookup_bag sum", "accumulate_bag sum scale_grad_by_freq")
    sizes = np.diff(np.append(offsets, ids.size))

    def fn():
        rows, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        values = np.zeros((rows.size, DIM), np.float32)
        np.add.at(values, inverse, np.repeat(g, sizes, axis=0))
        values /= counts[:, None]
        return rows, values

    _check_scaled_grad(*fn(), case, g)
    run(benchmark, fn, _train_bytes(ids, DIM) // 2, rounds=3)
