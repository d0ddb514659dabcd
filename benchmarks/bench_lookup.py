"""lookup against np.take, fancy indexing, torch.index_select and F.embedding, with a copy
of the same bytes as the bandwidth reference. Run:

    pytest benchmarks/bench_lookup.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest

import fastembed
from conftest import copy_buffers, cached, requires_torch, run, torch

# (n_rows, dim, n_ids, dtype)
CASES = [
    (1_000_000, 64, 1_000_000, np.float32),   # 256 MB table, out of cache: the headline
    (1_000_000, 64, 1_000_000, np.float64),
    (50_000, 128, 500_000, np.float32),
    (1_000_000, 16, 2_000_000, np.float32),
    (100_000, 512, 100_000, np.float32),
    (100_000, 64, 100, np.float32),           # per-call overhead
]
IDS = ["1Mx64-f32", "1Mx64-f64", "50Kx128-f32", "1Mx16-f32", "100Kx512-f32", "100ids-f32"]


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    n_rows, dim, n_ids, dtype = request.param

    def make():
        rng = np.random.default_rng(0)
        w = rng.random((n_rows, dim), dtype=np.float64).astype(dtype)
        ids = rng.integers(0, n_rows, n_ids)
        out = np.empty((n_ids, dim), dtype)
        out[:] = 0  # written once, so timings never include first-touch page faults
        return w, ids, out, w[ids]

    w, ids, out, expected = cached(request.param, make)
    group = f"lookup {request.node.callspec.id}"
    moved = 2 * expected.nbytes + ids.nbytes  # rows read + rows written + ids read
    rounds = None if n_ids <= 1000 else 11
    return w, ids, out, expected, group, moved, rounds


def _check(result, expected):
    assert np.array_equal(result, expected)


def test_fastembed(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    _check(fastembed.lookup(w, ids), expected)
    run(benchmark, lambda: fastembed.lookup(w, ids), moved, rounds)


def test_fastembed_out(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    _check(fastembed.lookup(w, ids, out=out), expected)
    run(benchmark, lambda: fastembed.lookup(w, ids, out=out), moved, rounds)


def test_numpy_take(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    _check(np.take(w, ids, axis=0), expected)
    run(benchmark, lambda: np.take(w, ids, axis=0), moved, rounds)


def test_numpy_take_clip_out(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    _check(np.take(w, ids, axis=0, mode="clip", out=out), expected)
    run(benchmark, lambda: np.take(w, ids, axis=0, mode="clip", out=out), moved, rounds)


def test_numpy_fancy_indexing(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    _check(w[ids], expected)
    run(benchmark, lambda: w[ids], moved, rounds)


@requires_torch
def test_torch_index_select_out(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    wt, it, ot = torch.from_numpy(w), torch.from_numpy(ids), torch.from_numpy(out)
    torch.index_select(wt, 0, it, out=ot)
    _check(out, expected)
    run(benchmark, lambda: torch.index_select(wt, 0, it, out=ot), moved, rounds)


@requires_torch
def test_torch_embedding(benchmark, case):
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    wt, it = torch.from_numpy(w), torch.from_numpy(ids)
    _check(torch.nn.functional.embedding(it, wt).numpy(), expected)
    run(benchmark, lambda: torch.nn.functional.embedding(it, wt), moved, rounds)


def test_copy_same_bytes(benchmark, case):
    """The bandwidth reference: a copy of as many bytes as the lookup writes (at least
    256 MB, both buffers written first), so its GB/s reads against the gathers'."""
    w, ids, out, expected, group, moved, rounds = case
    benchmark.group = group
    src, dst = copy_buffers(expected.nbytes)
    benchmark.extra_info["copy_bytes"] = 2 * src.nbytes
    run(benchmark, lambda: np.copyto(dst, src), 2 * src.nbytes, 11)
