"""accumulate (the backward of lookup), RowSparseGrad, renorm_ and the id grouping."""
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastembed
from fastembed import RowSparseGrad, _kernels
from conftest import INDEX_DTYPES, VALUE_DTYPES, assert_unchanged, snapshot
import reference


def make_ids(rng, dist, size, n_rows):
    if dist == "uniform":
        return rng.integers(0, n_rows, size)
    if dist == "zipf":
        return np.minimum(rng.zipf(1.05, size) - 1, n_rows - 1)
    if dist == "same":
        return np.full(size, rng.integers(0, n_rows))
    return np.zeros(0, np.int64)  # empty


def add_at(ids, grad, n_rows):
    dense = np.zeros((n_rows, grad.shape[-1]), grad.dtype)
    flat = np.asarray(ids).reshape(-1)
    np.add.at(dense, flat, grad.reshape(flat.size, grad.shape[-1]))
    return dense


def bits(a):
    return np.ascontiguousarray(a).tobytes()


# ---- the grouping primitive ----------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), idt=st.sampled_from(INDEX_DTYPES),
       n_rows=st.sampled_from([1, 2, 3, 64, 1000, 2**20, 2**31 - 1]),
       n=st.integers(0, 3000), dist=st.sampled_from(["uniform", "zipf", "same", "empty"]),
       threads=st.sampled_from([1, 2]))
def test_group_ids_is_a_stable_sort(seed, idt, n_rows, n, dist, threads):
    rng = np.random.default_rng(seed)
    ids = make_ids(rng, dist, n, n_rows).astype(idt)
    uniq, starts, perm = _kernels.group_ids(ids, n_rows, threads, ids)
    np.testing.assert_array_equal(perm, np.argsort(ids, kind="stable"))
    np.testing.assert_array_equal(uniq, np.unique(ids))
    assert starts.shape == (uniq.size + 1,) and starts[-1] == ids.size
    counts = np.diff(starts)
    np.testing.assert_array_equal(counts, np.unique(ids, return_counts=True)[1])


@pytest.mark.parametrize("n_rows", [2**20, 2**40, 2**62])
def test_group_ids_wide_keys_and_thread_agnostic(rng, n_rows):
    # 300k ids: 2.4 MB, so two threads really split every radix pass
    ids = rng.integers(0, n_rows, 300_000)
    ids[::7] = ids[0]
    one = _kernels.group_ids(ids, n_rows, 1, ids)
    two = _kernels.group_ids(ids, n_rows, 2, ids)
    for a, b in zip(one, two):
        assert bits(a) == bits(b)
    np.testing.assert_array_equal(one[2], np.argsort(ids, kind="stable"))


def test_group_ids_bad_id_names_first_position():
    ids = np.array([3, 1, 9, -1, 2, 9])
    with pytest.raises(IndexError, match=r"ids\[2\] = 9"):
        _kernels.group_ids(ids, 5, 2, ids)


# ---- accumulate: equality with np.add.at and the references --------------------------------

@settings(max_examples=80, deadline=None)
@given(data=st.data(), vdt=st.sampled_from(VALUE_DTYPES), idt=st.sampled_from(INDEX_DTYPES),
       n_rows=st.integers(1, 300), dim=st.integers(0, 70),
       dist=st.sampled_from(["uniform", "zipf", "same", "empty"]),
       threads=st.sampled_from([1, 2]))
def test_property_bit_identical_to_add_at(data, vdt, idt, n_rows, dim, dist, threads):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=30))
    if dist == "empty":
        shape = (0,) + shape[1:] if shape else (0,)
    size = int(np.prod(shape))
    ids = make_ids(rng, dist if dist != "empty" else "uniform", size, n_rows)
    ids = ids.astype(idt).reshape(shape)
    grad = rng.standard_normal(shape + (dim,)).astype(vdt)
    grad[rng.random(shape + (dim,)) < 0.1] = -0.0  # 0.0 + -0.0 = +0.0 in np.add.at
    got = fastembed.accumulate(ids, grad, n_rows, num_threads=threads)
    assert isinstance(got, RowSparseGrad)
    assert got.indices.dtype == np.int64 and got.values.dtype == vdt
    assert got.shape == (n_rows, dim) and got.nnz == np.unique(ids).size
    np.testing.assert_array_equal(got.indices, np.unique(ids))
    assert bits(got.to_dense()) == bits(add_at(ids, grad, n_rows))
    want_i, want_v = reference.accumulate_ref(ids, grad, n_rows)
    assert bits(got.values) == bits(want_v)


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
@pytest.mark.parametrize("idt", INDEX_DTYPES)
@pytest.mark.parametrize("dim", [1, 16, 32, 64, 128, 100])
def test_dims_and_dtypes(rng, vdt, idt, dim):
    ids = rng.integers(0, 500, (40, 9)).astype(idt)
    grad = rng.standard_normal((40, 9, dim)).astype(vdt)
    got = fastembed.accumulate(ids, grad, 500)
    assert bits(got.to_dense()) == bits(add_at(ids, grad, 500))


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
@pytest.mark.parametrize("dist,dim", [("uniform", 16), ("zipf", 16), ("same", 16),
                                      ("zipf", 40), ("same", 72)])
def test_thread_count_agnostic(rng, vdt, dist, dim):
    # 200k rows of 16+ values: >= 12.8 MB of gradient, so both threads get work in every
    # phase; Zipf and same-id inputs with rows of >= 128 bytes take the heavy-group path
    # (all threads sum column slices of one id's rows; dims 40 and 72 end mid-line)
    ids = make_ids(rng, dist, 200_000, 50_000)
    grad = rng.standard_normal((200_000, dim)).astype(vdt)
    one = fastembed.accumulate(ids, grad, 50_000, num_threads=1)
    two = fastembed.accumulate(ids, grad, 50_000, num_threads=2)
    assert bits(one.indices) == bits(two.indices) and bits(one.values) == bits(two.values)
    assert bits(one.to_dense()) == bits(add_at(ids, grad, 50_000))
    assert bits(one.to_dense(num_threads=1)) == bits(two.to_dense(num_threads=2))
    kw = {"padding_idx": int(ids[0]), "scale_grad_by_freq": True}
    one = fastembed.accumulate(ids, grad, 50_000, num_threads=1, **kw)
    two = fastembed.accumulate(ids, grad, 50_000, num_threads=2, **kw)
    assert bits(one.indices) == bits(two.indices) and bits(one.values) == bits(two.values)


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
@pytest.mark.parametrize("padding_idx", [0, 5, -1, -20])
@pytest.mark.parametrize("scale", [False, True])
def test_padding_idx_and_scale_grad_by_freq(rng, vdt, padding_idx, scale):
    ids = np.minimum(rng.zipf(1.3, (30, 11)) - 1, 19)
    ids[0, :3] = 19
    grad = rng.standard_normal((30, 11, 6)).astype(vdt)
    got = fastembed.accumulate(ids, grad, 20, padding_idx=padding_idx, scale_grad_by_freq=scale,
                               num_threads=2)
    want_i, want_v = reference.accumulate_ref(ids, grad, 20, padding_idx=padding_idx,
                                          scale_grad_by_freq=scale)
    np.testing.assert_array_equal(got.indices, want_i)
    assert padding_idx % 20 not in got.indices
    assert bits(got.values) == bits(want_v)  # sum in order, then one division
    want = reference.accumulate_dense_ref(ids, grad, 20, padding_idx=padding_idx % 20,
                                          scale_grad_by_freq=scale)
    np.testing.assert_allclose(got.to_dense(), want, rtol=1e-5, atol=1e-6)


def test_accepts_layouts_and_other_dtypes(rng):
    ids = rng.integers(0, 50, (20, 6))
    grad = np.asfortranarray(rng.standard_normal((20, 6, 5)))
    want = add_at(ids, grad, 50)
    assert bits(fastembed.accumulate(ids.astype(np.uint16), grad, 50).to_dense()) == bits(want)
    assert bits(fastembed.accumulate(ids.T.copy().T, grad[:, :, :].astype(">f8"), 50)
                .to_dense()) == bits(want)
    g = fastembed.accumulate(np.array(3), np.ones(4, np.float32), 5)  # 0-d ids
    np.testing.assert_array_equal(g.indices, [3])
    np.testing.assert_array_equal(g.values, np.ones((1, 4), np.float32))


def test_big_n_rows_small_input(rng):
    ids = np.array([2**40, 5, 2**40, 2**62 - 1])
    grad = rng.standard_normal((4, 3))
    got = fastembed.accumulate(ids, grad, 2**62)
    np.testing.assert_array_equal(got.indices, [5, 2**40, 2**62 - 1])
    assert bits(got.values) == bits(np.stack([0.0 + grad[1], 0.0 + grad[0] + grad[2],
                                              0.0 + grad[3]]))


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_out_gives_views_of_its_leading_rows(rng, vdt, padding_idx):
    ids = rng.integers(0, 30, (50, 4))
    grad = rng.standard_normal((50, 4, 7)).astype(vdt)
    want = fastembed.accumulate(ids, grad, 30, padding_idx=padding_idx)
    out_i, out_v = np.full(200, -7, np.int64), np.full((200, 7), 9, vdt)
    got = fastembed.accumulate(ids, grad, 30, padding_idx=padding_idx, out=(out_i, out_v))
    nnz = want.indices.size
    assert np.shares_memory(got.indices, out_i) and np.shares_memory(got.values, out_v)
    assert bits(got.indices) == bits(want.indices) and bits(got.values) == bits(want.values)
    assert (out_i[nnz:] == -7).all() and (out_v[nnz:] == 9).all()  # the rest untouched


def test_out_thread_count_agnostic(rng):
    ids = make_ids(rng, "zipf", 200_000, 50_000)
    grad = rng.standard_normal((200_000, 32)).astype(np.float32)
    bufs = [(np.empty(200_000, np.int64), np.empty((200_000, 32), np.float32)) for _ in "ab"]
    one = fastembed.accumulate(ids, grad, 50_000, out=bufs[0], num_threads=1)
    two = fastembed.accumulate(ids, grad, 50_000, out=bufs[1], num_threads=2)
    assert bits(one.indices) == bits(two.indices) and bits(one.values) == bits(two.values)
    assert bits(one.to_dense()) == bits(add_at(ids, grad, 50_000))


def test_bad_out_raises_and_changes_nothing(rng):
    ids = rng.integers(0, 10, (4, 5))
    grad = rng.standard_normal((4, 5, 3)).astype(np.float32)
    oi, ov = np.zeros(20, np.int64), np.zeros((20, 3), np.float32)
    bad_id = ids.copy()
    bad_id[2, 2] = 10
    cases = [
        ((bad_id, grad), (oi, ov), IndexError, r"ids\[2, 2\] = 10"),  # out left as it was
        ((ids, grad), (oi[:19], ov), ValueError, "shape"),
        ((ids, grad), (oi, ov[:, :2]), ValueError, "shape"),
        ((ids, grad), (oi.astype(np.int32), ov), TypeError, "int64"),
        ((ids, grad), (oi, ov.astype(np.float64)), TypeError, "float32"),
        ((ids, grad), (oi, np.asfortranarray(np.zeros((20, 3), np.float32))), ValueError,
         "C-contiguous"),
        ((ids, grad), (oi, grad.reshape(20, 3)), ValueError, "overlaps"),
        ((ids, grad), (ids.reshape(20), ov), ValueError, "overlaps"),  # ids are int64 here
    ]
    cases.append(((ids, grad), (oi,), ValueError, "pair"))
    cases.append(((ids, grad), "no", ValueError, "pair"))
    ro = ov.copy()
    ro.flags.writeable = False
    cases.append(((ids, grad), (oi, ro), ValueError, "read-only"))
    for (i, g), out, exc, match in cases:
        arrays = [i, g, oi, ov]
        before = snapshot(*arrays)
        with pytest.raises(exc, match=match):
            fastembed.accumulate(i, g, 10, out=out)
        assert_unchanged(before, *arrays)


# ---- bad input ----------------------------------------------------------------------------

def _bad_accumulate_cases(rng):
    ids = rng.integers(0, 10, (4, 5))
    grad = rng.standard_normal((4, 5, 3)).astype(np.float32)
    bad_id = ids.copy()
    bad_id[1, 2], bad_id[3, 0] = 10, -1
    neg = ids.copy()
    neg[2, 1] = -3
    return [
        ((bad_id, grad, 10), {}, IndexError, r"ids\[1, 2\] = 10"),
        ((neg, grad, 10), {}, IndexError, r"ids\[2, 1\] = -3"),
        ((ids, grad[:, :4], 10), {}, ValueError, "shape"),
        ((ids, grad.reshape(20, 3), 10), {}, ValueError, "shape"),
        ((ids, grad[0], 10), {}, ValueError, "shape"),
        ((ids, grad, 0), {}, ValueError, "n_rows"),
        ((ids, grad, -5), {}, ValueError, "n_rows"),
        ((ids, grad, 2.5), {}, TypeError, "n_rows"),
        ((ids, grad.astype(np.int32), 10), {}, TypeError, "float32"),
        ((ids.astype(float), grad, 10), {}, TypeError, "integer"),
        ((ids, grad, 10), {"padding_idx": 10}, ValueError, "padding_idx"),
        ((ids, grad, 10), {"padding_idx": -11}, ValueError, "padding_idx"),
        ((ids, grad, 10), {"num_threads": 0}, ValueError, "num_threads"),
    ]


def test_bad_inputs_raise_and_change_nothing(rng):
    for args, kwargs, exc, match in _bad_accumulate_cases(rng):
        before = snapshot(*args[:2])
        with pytest.raises(exc, match=match):
            fastembed.accumulate(*args, **kwargs)
        assert_unchanged(before, *args[:2])


def test_error_paths_do_not_leak(rng):
    cases = _bad_accumulate_cases(rng)
    w = rng.standard_normal((10, 3)).astype(np.float32)
    bad_ids = np.array([1, 2, 10])

    def run():
        for args, kwargs, exc, _ in cases:
            with pytest.raises(exc):
                fastembed.accumulate(*args, **kwargs)
        with pytest.raises(IndexError):
            fastembed.renorm_(w, bad_ids, 1.0)
        with pytest.raises(ValueError):
            fastembed.renorm_(w, bad_ids[:2], float("nan"))
        with pytest.raises(IndexError):
            RowSparseGrad(np.array([0, 11]), np.zeros((2, 3)), 10)

    for _ in range(30):  # warm caches (numpy, pytest, error formatting)
        run()
    # a leak grows every window; one-off interpreter noise (caches, freelists) does not
    growth = []
    tracemalloc.start()
    try:
        for _ in range(3):
            first = tracemalloc.take_snapshot()
            for _ in range(200):
                run()
            second = tracemalloc.take_snapshot()
            growth.append(sum(s.size_diff for s in second.compare_to(first, "filename")))
    finally:
        tracemalloc.stop()
    assert min(growth) < 32 * 1024, f"error paths grew Python memory by {growth} bytes"


def test_error_paths_free_c_scratch(rng):
    """The C scratch of a failing call (grouping 2M ids, ~40 MB) is freed: RSS stays flat."""
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc/self/statm")
    import resource
    ids = rng.integers(0, 1000, 2_000_000)
    ids[-1] = 1000  # found by the grouping, after its scratch is allocated
    grad = np.zeros((2_000_000, 1), np.float32)
    w = np.zeros((1000, 2), np.float32)

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    for _ in range(3):
        with pytest.raises(IndexError):
            fastembed.accumulate(ids, grad, 1000)
    before = rss_mb()
    for _ in range(40):
        with pytest.raises(IndexError):
            fastembed.accumulate(ids, grad, 1000, num_threads=2)
        with pytest.raises(IndexError):
            fastembed.renorm_(w, ids, 1.0, num_threads=2)
    assert rss_mb() - before < 200, "failing calls leak their scratch memory"


# ---- RowSparseGrad ------------------------------------------------------------------------

def test_rowsparsegrad_round_trips(rng):
    ids = np.minimum(rng.zipf(1.2, 500) - 1, 99)
    grad = rng.standard_normal((500, 7)).astype(np.float32)
    g = fastembed.accumulate(ids, grad, 100)
    dense = g.to_dense()
    assert bits(dense) == bits(add_at(ids, grad, 100))
    out = np.full((100, 7), np.nan, np.float32)
    assert g.to_dense(out=out) is out and bits(out) == bits(dense)
    sp = g.to_scipy()
    assert sp.shape == (100, 7) and bits(sp.toarray()) == bits(dense)
    again = RowSparseGrad(g.indices, g.values, g.n_rows)
    assert bits(again.to_dense()) == bits(dense)
    assert repr(g) == f"RowSparseGrad(n_rows=100, dim=7, nnz={g.nnz}, dtype=float32)"


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
def test_rowsparsegrad_add_is_the_dense_sum(rng, vdt):
    a = fastembed.accumulate(rng.integers(0, 60, 80), rng.standard_normal((80, 5)).astype(vdt), 60)
    b = fastembed.accumulate(rng.integers(30, 90, 70), rng.standard_normal((70, 5)).astype(vdt), 90)
    with pytest.raises(ValueError):
        a + b
    b = RowSparseGrad(b.indices[b.indices < 60], b.values[b.indices < 60], 60)
    a.values[0] = -0.0  # sign of zero follows the dense sum too
    for s in (a + b, b + a, sum([a, b])):
        assert bits(s.to_dense()) == bits(a.to_dense() + b.to_dense())
        assert np.all(np.diff(s.indices) > 0)
    empty = RowSparseGrad(np.zeros(0, np.int64), np.zeros((0, 5), vdt), 60)
    assert bits((a + empty).to_dense()) == bits(a.to_dense() + 0)


def test_rowsparsegrad_validates():
    v = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="strictly increasing"):
        RowSparseGrad(np.array([0, 2, 2]), v, 5)
    with pytest.raises(ValueError, match="strictly increasing"):
        RowSparseGrad(np.array([0, 3, 2]), v, 5)
    with pytest.raises(IndexError, match=r"indices\[2\] = 5"):
        RowSparseGrad(np.array([0, 1, 5]), v, 5)
    with pytest.raises(IndexError):
        RowSparseGrad(np.array([-1, 1, 2]), v, 5)
    with pytest.raises(ValueError, match="rows"):
        RowSparseGrad(np.array([0, 1]), v, 5)
    with pytest.raises(TypeError):
        RowSparseGrad(np.array([0.0, 1.0, 2.0]), v, 5)
    with pytest.raises(TypeError):
        RowSparseGrad(np.array([0, 1, 2]), v.astype(np.int32), 5)
    with pytest.raises(ValueError):
        RowSparseGrad(np.array([0, 1, 2]), v, -1)
    g = RowSparseGrad(np.array([0, 1, 4], np.int32), v, 5)
    assert g.indices.dtype == np.int64 and g.nnz == 3 and g.shape == (5, 2)
    with pytest.raises(ValueError):
        g.to_dense(out=np.zeros((5, 3), np.float32))
    with pytest.raises(TypeError):
        g.to_dense(out=np.zeros((5, 2), np.float64))


def test_to_dense_rechecks_indices_mutated_after_construction():
    g = RowSparseGrad(np.array([0, 1, 4]), np.ones((3, 2)), 5)
    g.indices[2] = 1  # the object's invariant broken behind its back
    out = np.full((5, 2), 7.0)
    with pytest.raises(IndexError):
        g.to_dense(out=out)
    assert np.all(out == 7.0)  # two-phase: nothing written


def test_to_dense_parallel_big(rng):
    ids = rng.integers(0, 200_000, 50_000)
    g = fastembed.accumulate(ids, rng.standard_normal((50_000, 8)), 200_000)
    want = np.zeros((200_000, 8))
    want[g.indices] = g.values
    one, two = g.to_dense(num_threads=1), g.to_dense(num_threads=2)
    assert bits(one) == bits(two) == bits(want)


# ---- renorm_ ------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vdt=st.sampled_from(VALUE_DTYPES),
       idt=st.sampled_from(INDEX_DTYPES), n_rows=st.integers(1, 200), dim=st.integers(0, 40),
       n=st.integers(0, 300), norm_type=st.sampled_from([1.0, 2.0, 3.0, 0.5]),
       max_norm=st.sampled_from([0.5, 1.0, 4.0, 1e-3]), threads=st.sampled_from([1, 2]),
       dist=st.sampled_from(["uniform", "zipf", "same"]))
def test_renorm_property(seed, vdt, idt, n_rows, dim, n, norm_type, max_norm, threads, dist):
    rng = np.random.default_rng(seed)
    w = (3 * rng.standard_normal((n_rows, dim))).astype(vdt)
    ids = make_ids(rng, dist, n, n_rows).astype(idt)
    want = reference.renorm_ref(w, ids, max_norm, norm_type)
    assert fastembed.renorm_(w, ids, max_norm, norm_type=norm_type, num_threads=threads) is None
    np.testing.assert_allclose(w, want, rtol=1e-6 if vdt == np.float32 else 1e-12)


def test_renorm_thread_agnostic_and_strided(rng):
    base = (3 * rng.standard_normal((400_000, 2, 8))).astype(np.float32)
    w1 = base[:, 0, :].copy()
    w2 = base.copy()[:, 0, :]  # rows strided 64 bytes apart
    ids = np.minimum(rng.zipf(1.05, 300_000) - 1, 399_999)
    fastembed.renorm_(w1, ids, 1.0, num_threads=1)
    fastembed.renorm_(w2, ids, 1.0, num_threads=2)
    assert bits(w1) == bits(w2)
    np.testing.assert_allclose(w1, reference.renorm_ref(base[:, 0, :], ids, 1.0), rtol=1e-6)


@pytest.mark.parametrize("kwargs,exc", [
    ({"max_norm": 0.0}, ValueError), ({"max_norm": -1.0}, ValueError),
    ({"max_norm": float("nan")}, ValueError), ({"norm_type": float("inf")}, ValueError),
    ({"norm_type": 0.0}, ValueError), ({"norm_type": float("nan")}, ValueError),
    ({"norm_type": -2.0}, ValueError), ({"ids": np.array([0, 5, 50, 60])}, IndexError),
    ({"ids": np.array([0, -1])}, IndexError), ({"ids": np.array([0.0])}, TypeError),
])
def test_renorm_bad_inputs_change_nothing(rng, kwargs, exc):
    w = (3 * rng.standard_normal((50, 4))).astype(np.float32)
    args = dict({"ids": np.array([0, 1, 2, 3]), "max_norm": 1.0}, **kwargs)
    before = snapshot(w, args["ids"])
    with pytest.raises(exc):
        fastembed.renorm_(w, args.pop("ids"), args.pop("max_norm"), **args)
    assert_unchanged(before, w, kwargs.get("ids", np.array([0, 1, 2, 3])))


def test_renorm_rejects_readonly_and_noncontiguous(rng):
    w = (3 * rng.standard_normal((50, 4))).astype(np.float32)
    w.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastembed.renorm_(w, [1, 2], 1.0)
    w2 = np.asfortranarray(3 * rng.standard_normal((50, 4)))
    before = snapshot(w2)
    with pytest.raises(ValueError):
        fastembed.renorm_(w2, [1, 2], 1.0)
    assert_unchanged(before, w2)


def test_renorm_message_names_first_bad_position(rng):
    w = rng.standard_normal((50, 4))
    with pytest.raises(IndexError, match=r"ids\[1, 0\] = 50"):
        fastembed.renorm_(w, np.array([[1, 2], [50, -1]]), 1.0)


# ---- torch -------------------------------------------------------------------------------

@pytest.mark.parametrize("padding_idx", [None, 3])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_torch_embedding_gradient(rng, padding_idx, scale, sparse):
    torch = pytest.importorskip("torch")
    if sparse and scale:
        pytest.skip("torch: scale_grad_by_freq not supported with sparse gradients")
    ids = np.minimum(rng.zipf(1.2, (16, 9)) - 1, 39)
    grad = rng.standard_normal((16, 9, 6)).astype(np.float32)
    weight = torch.zeros(40, 6, requires_grad=True)
    out = torch.nn.functional.embedding(torch.from_numpy(ids), weight, padding_idx=padding_idx,
                                        scale_grad_by_freq=scale, sparse=sparse)
    out.backward(torch.from_numpy(grad))
    want = weight.grad.to_dense().numpy() if sparse else weight.grad.numpy()
    got = fastembed.accumulate(ids, grad, 40, padding_idx=padding_idx, scale_grad_by_freq=scale)
    np.testing.assert_allclose(got.to_dense(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0])
def test_renorm_matches_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    w = (3 * rng.standard_normal((60, 8))).astype(np.float32)
    ids = np.minimum(rng.zipf(1.2, 100) - 1, 59)
    tw = torch.from_numpy(w.copy())
    with torch.no_grad():
        torch.embedding_renorm_(tw, torch.from_numpy(ids), 1.5, norm_type)
    fastembed.renorm_(w, ids, 1.5, norm_type=norm_type)
    np.testing.assert_allclose(w, tw.numpy(), rtol=1e-5, atol=1e-7)


def test_renorm_matches_torch_max_norm_lookup(rng):
    torch = pytest.importorskip("torch")
    w = (3 * rng.standard_normal((30, 5))).astype(np.float32)
    ids = rng.integers(0, 30, (7, 4))
    tw = torch.from_numpy(w.copy())
    out = torch.nn.functional.embedding(torch.from_numpy(ids), tw, max_norm=2.0)
    fastembed.renorm_(w, ids, 2.0)
    np.testing.assert_allclose(fastembed.lookup(w, ids), out.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w, tw.numpy(), rtol=1e-5, atol=1e-7)
