"""accumulate (the backward of lookup) against np.add.at into zeros, sort + np.add.reduceat,
the SciPy CSR-product trick and, where installed, torch's dense embedding backward, its
sparse backward + coalesce() and index_add_. Run:

    pytest benchmarks/bench_accumulate.py --benchmark-only --benchmark-group-by=group

Besides the time, each result records `peak_extra_MB`: the peak resident memory one call
adds on top of its inputs (the output included), measured in a fresh process from VmHWM.
fastembed returns only the nnz touched rows; `fastembed_to_dense` adds the dense (n_rows,
dim) result the NumPy/SciPy/torch-dense peers produce.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastembed
from conftest import THREADS, cached, run, torch, zipf_ids

# (n_ids, dim, n_rows, distribution)
CASES = [
    (1_000_000, 64, 1_000_000, "uniform"),   # the headline: targets are set on this one
    (1_000_000, 64, 1_000_000, "zipf"),
    (2_000_000, 16, 1_000_000, "uniform"),
    (100_000, 512, 100_000, "uniform"),
]
IDS = ["1Mx64-uniform", "1Mx64-zipf", "2Mx16-uniform", "100Kx512-uniform"]
HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(n_ids, dim, n_rows, dist):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, n_rows, n_ids) if dist == "uniform" else zipf_ids(rng, n_ids, n_rows)
    grad = rng.standard_normal((n_ids, dim), dtype=np.float32)
    return ids, grad


# ---- the peers: each takes (ids, grad, n_rows) and returns its gradient --------------------

def fe_accumulate(ids, grad, n_rows):
    return fastembed.accumulate(ids, grad, n_rows)


def fe_accumulate_to_dense(ids, grad, n_rows):
    return fastembed.accumulate(ids, grad, n_rows).to_dense()


def numpy_add_at(ids, grad, n_rows):
    dense = np.zeros((n_rows, grad.shape[1]), grad.dtype)
    np.add.at(dense, ids, grad)
    return dense


def numpy_sort_reduceat(ids, grad, n_rows):
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return sorted_ids[starts], np.add.reduceat(grad[order], starts, axis=0)


def scipy_csr_product(ids, grad, n_rows):
    from scipy import sparse
    n = ids.shape[0]
    m = sparse.csr_array((np.ones(n, grad.dtype), ids, np.arange(n + 1)), shape=(n, n_rows))
    return m.T @ grad  # (n_rows, n) @ (n, dim): the dense gradient


def torch_dense_backward(ids, grad, n_rows):
    return torch.ops.aten.embedding_backward(torch.from_numpy(grad), torch.from_numpy(ids),
                                             n_rows, -1, False, False)


def torch_sparse_backward_coalesce(ids, grad, n_rows):
    return torch.ops.aten.embedding_backward(torch.from_numpy(grad), torch.from_numpy(ids),
                                             n_rows, -1, False, True).coalesce()


def torch_index_add(ids, grad, n_rows):
    return torch.zeros(n_rows, grad.shape[1]).index_add_(0, torch.from_numpy(ids),
                                                          torch.from_numpy(grad))


PEERS = {f.__name__: f for f in (fe_accumulate, fe_accumulate_to_dense, numpy_add_at,
                                 numpy_sort_reduceat, scipy_csr_product, torch_dense_backward,
                                 torch_sparse_backward_coalesce, torch_index_add)}
TORCH_PEERS = {"torch_dense_backward", "torch_sparse_backward_coalesce", "torch_index_add"}


def dense_of(result, n_rows, dim):
    """Any peer's result as a dense float64-free (n_rows, dim) ndarray for checking."""
    if isinstance(result, fastembed.RowSparseGrad):
        return result.to_dense()
    if isinstance(result, tuple):  # (unique ids, sums)
        dense = np.zeros((n_rows, dim), result[1].dtype)
        dense[result[0]] = result[1]
        return dense
    if torch is not None and isinstance(result, torch.Tensor):
        return result.to_dense().numpy()
    return np.asarray(result)


# ---- peak memory, in a fresh process ---------------------------------------------------------

CHILD = r"""
import sys
sys.path[:0] = [{here!r}, {root!r}]
import numpy as np
import fastembed, bench_accumulate as b
fastembed.set_num_threads({threads})
if b.torch is not None:
    b.torch.set_num_threads({threads})
ids, grad = b.make_data({n_ids}, {dim}, {n_rows}, {dist!r})
fn = b.PEERS[{peer!r}]
fn(ids[:1000], grad[:1000], {n_rows})   # import and first-call costs out of the way

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                        # reset VmHWM to the current RSS
base = status("VmRSS:")
result = fn(ids, grad, {n_rows})
print((status("VmHWM:") - base) / 2**20)
"""


def peak_extra_mb(peer, params):
    n_ids, dim, n_rows, dist = params
    code = CHILD.format(here=HERE, root=os.path.dirname(HERE), threads=THREADS, n_ids=n_ids,
                        dim=dim, n_rows=n_rows, dist=dist, peer=peer)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=600, check=True).stdout
        return round(float(out.split()[-1]), 1)
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return None  # e.g. no /proc/self/clear_refs: the figure is simply not reported


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    params = request.param
    n_ids, dim, n_rows, dist = params

    def make():
        ids, grad = make_data(*params)
        return ids, grad, numpy_add_at(ids, grad, n_rows)

    ids, grad, expected = cached(("accumulate",) + params, make)
    return params, ids, grad, expected, f"accumulate {IDS[CASES.index(params)]}"


@pytest.mark.parametrize("peer", list(PEERS))
def test_accumulate(benchmark, case, peer):
    params, ids, grad, expected, group = case
    n_ids, dim, n_rows, dist = params
    if peer in TORCH_PEERS and torch is None:
        pytest.skip("torch not installed")
    fn = PEERS[peer]
    benchmark.group = group
    got = dense_of(fn(ids, grad, n_rows), n_rows, dim)
    if peer.startswith("fe_"):
        assert got.tobytes() == expected.tobytes()  # bit-identical to np.add.at
    else:
        # float32 sums in another order: hot Zipf rows sum thousands of terms
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
    del got
    if peer.startswith("fe_"):
        nnz = np.unique(ids).size
        # ids and grad read, nnz rows and indices written (+ the dense table for to_dense)
        moved = ids.nbytes + grad.nbytes + nnz * (dim * 4 + 8)
        if peer == "fe_accumulate_to_dense":
            moved += 2 * nnz * dim * 4 + n_rows * dim * 4
    else:
        moved = ids.nbytes + grad.nbytes + n_rows * dim * 4
    benchmark.extra_info["peak_extra_MB"] = peak_extra_mb(peer, params)
    slow = peer in ("numpy_add_at",)
    run(benchmark, lambda: fn(ids, grad, n_rows), moved, rounds=3 if slow else 7)
