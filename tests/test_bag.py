"""lookup_bag: against the NumPy reference and torch's embedding_bag; thread-count
independence; offsets and argument errors that change nothing."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastembed
from conftest import INDEX_DTYPES, VALUE_DTYPES, assert_unchanged, simd_digests, snapshot
import reference

MODES = ["sum", "mean", "max", "sqrtn"]
RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def random_offsets(rng, n, n_bags):
    if n_bags == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.sort(rng.integers(0, n + 1, n_bags - 1))]).astype(np.int64)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vdt=st.sampled_from(VALUE_DTYPES),
       idt=st.sampled_from(INDEX_DTYPES), mode=st.sampled_from(MODES),
       n_rows=st.integers(1, 200), dim=st.integers(0, 300), n=st.integers(0, 120),
       n_bags=st.integers(1, 30), layout=st.sampled_from(["offsets", "last", "2d"]),
       dist=st.sampled_from(["uniform", "skewed", "same"]), weighted=st.booleans(),
       padded=st.booleans(), threads=st.sampled_from([1, 2]))
def test_property_reference(seed, vdt, idt, mode, n_rows, dim, n, n_bags, layout, dist,
                            weighted, padded, threads):
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        flat = rng.integers(0, n_rows, n)
    elif dist == "skewed":
        flat = np.minimum(rng.zipf(1.3, n) - 1, n_rows - 1)
    else:
        flat = np.full(n, rng.integers(0, n_rows))
    kwargs = {"mode": mode}
    if layout == "2d":
        ids, offsets = flat[: n - n % n_bags].reshape(n_bags, -1).astype(idt), None
    else:
        ids, offsets = flat.astype(idt), random_offsets(rng, n, n_bags)
        if layout == "last":
            offsets = np.append(offsets, n)
            kwargs["include_last_offset"] = True
    w = rng.standard_normal((n_rows, dim)).astype(vdt)
    if weighted and mode != "max":
        kwargs["per_sample_weights"] = rng.random(ids.shape).astype(vdt) + 0.1
    if padded:
        kwargs["padding_idx"] = int(flat[0]) if n else 0
    got = fastembed.lookup_bag(w, ids, offsets, num_threads=threads, **kwargs)
    want = reference.lookup_bag_ref(w, ids, offsets, **kwargs)
    assert got.dtype == w.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL[vdt], atol=RTOL[vdt])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("vdt", VALUE_DTYPES)
def test_thread_count_agnostic(rng, mode, vdt):
    # Zipf-sized bags (very unequal), big enough that 2 threads really split the work
    w = rng.standard_normal((20_000, 64)).astype(vdt)
    sizes = np.minimum(rng.zipf(1.5, 6_000), 500)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 20_000, int(sizes.sum()))
    psw = None if mode == "max" else rng.random(ids.size).astype(vdt)
    one = fastembed.lookup_bag(w, ids, offsets, mode=mode, per_sample_weights=psw, num_threads=1)
    two = fastembed.lookup_bag(w, ids, offsets, mode=mode, per_sample_weights=psw, num_threads=2)
    assert one.tobytes() == two.tobytes()


def test_float32_bags_are_summed_in_double_on_request(rng):
    # 1 + 1e-8 (1e-8 times over) is 1 in float32 arithmetic, 1.00000001 in double
    w = np.array([[1.0], [1e-8]], np.float32)
    ids = np.array([0] + [1] * 100_000)
    got = fastembed.lookup_bag(w, ids, [0], accumulator="float64")
    assert got[0, 0] == np.float32(1.0 + 1e-8 * 100_000)
    assert fastembed.lookup_bag(w, ids, [0])[0, 0] == np.float32(1.0)  # the float32 default


@pytest.mark.parametrize("n_threads", [1, 2])
def test_float32_default_is_the_in_order_float32_sum(rng, n_threads):
    w = rng.standard_normal((3_000, 64)).astype(np.float32)
    sizes = rng.integers(0, 60, 2_000)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 3_000, int(sizes.sum()))
    got = fastembed.lookup_bag(w, ids, offsets, num_threads=n_threads)
    want = np.zeros_like(got)
    for b, (o, n) in enumerate(zip(offsets, sizes)):
        if n:
            want[b] = np.cumsum(w[ids[o:o + n]], axis=0, dtype=np.float32)[-1]  # sequential
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("mode", ["sum", "mean", "sqrtn"])
def test_float32_default_meets_its_documented_error_bound(rng, mode):
    w = rng.standard_normal((2_000, 32)).astype(np.float32)
    sizes = rng.integers(1, 400, 300)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 2_000, int(sizes.sum()))
    psw = rng.random(ids.size).astype(np.float32)
    got = fastembed.lookup_bag(w, ids, offsets, mode=mode, per_sample_weights=psw)
    exact = fastembed.lookup_bag(w.astype(np.float64), ids, offsets, mode=mode,
                                 per_sample_weights=psw.astype(np.float64))
    bags = np.repeat(np.arange(sizes.size), sizes)
    mags = np.zeros((sizes.size, 32))
    np.add.at(mags, bags, np.abs(psw.astype(np.float64)[:, None] * w[ids]))
    wsum = np.zeros(sizes.size)
    np.add.at(wsum, bags, psw if mode == "mean" else psw.astype(np.float64) ** 2)
    norm = {"sum": np.ones(sizes.size), "mean": wsum, "sqrtn": np.sqrt(wsum)}[mode]
    u = 2.0 ** -24
    gamma = sizes * u / (1 - sizes * u)
    bound = gamma[:, None] * mags / norm[:, None] + u * np.abs(exact)  # + the final rounding
    assert (np.abs(got - exact) <= bound * (1 + 1e-6)).all()
    assert not np.array_equal(got, exact.astype(np.float32))  # float32 arithmetic really ran


@pytest.mark.parametrize("dim", [8, 16, 32, 64, 128, 256])
@pytest.mark.parametrize("mode", ["sum", "mean", "sqrtn"])
@pytest.mark.parametrize("vdt, accumulator", [(np.float32, None), (np.float32, "float64"),
                                              (np.float64, None), (np.float16, None),
                                              (np.float16, "float64"), ("bfloat16", None)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 7])
def test_register_widths_equal_the_general_loop(rng, dim, mode, vdt, accumulator, weighted,
                                                padding_idx):
    # widths of whole SIMD registers pool with the sum in registers; one more column sends the
    # same rows through the general loop, which must give the same bits in the shared columns
    vdt = half_dtype(vdt)
    wide = rng.standard_normal((300, dim + 1)).astype(vdt)
    sizes = rng.integers(0, 30, 400)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 300, int(sizes.sum()))
    psw = rng.random(ids.size).astype(vdt) + 0.1 if weighted else None
    kw = dict(mode=mode, per_sample_weights=psw, padding_idx=padding_idx,
              accumulator=accumulator)
    got = fastembed.lookup_bag(np.ascontiguousarray(wide[:, :dim]), ids, offsets, **kw)
    want = fastembed.lookup_bag(wide, ids, offsets, **kw)[:, :dim]
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
    strided = fastembed.lookup_bag(wide[:, :dim], ids, offsets, **kw)  # rows not contiguous
    assert strided.tobytes() == got.tobytes()


def test_every_simd_path_gives_the_same_bits():
    # the register path converts float16 rows with vcvtph2ps at AVX-512 and with portable bit
    # operations below it; widths, weights, padding and empty bags on each path: same bits
    code = """
        import hashlib, numpy as np, ml_dtypes, fastembed
        rng = np.random.default_rng(2)
        h = hashlib.sha256()
        pool = np.array([np.inf, -np.inf, 6e-8, -3e-8, 1e-5, 6e4, -6e4, 1.0, 0.0, -0.0],
                        np.float32)
        for dt in (np.float32, np.float16, ml_dtypes.bfloat16):
            for dim in (8, 16, 32, 64, 128, 65):
                w = rng.standard_normal((300, dim)).astype(np.float32)
                w[rng.random(w.shape) < 0.05] = pool[rng.integers(0, pool.size)]
                w = w.astype(dt)
                sizes = rng.integers(0, 30, 200)
                offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                ids = rng.integers(0, 300, int(sizes.sum()))
                psw = (rng.random(ids.size) + 0.1).astype(dt)
                for mode in ("sum", "mean", "sqrtn"):
                    for p in (None, psw):
                        for pad in (None, 7):
                            for od in (None, np.float32):
                                r = fastembed.lookup_bag(w, ids, offsets, mode=mode, out_dtype=od,
                                                         per_sample_weights=p, padding_idx=pad)
                                h.update(r.tobytes())
        print(h.hexdigest())
    """
    assert len(simd_digests(code)) == 1


def test_bad_accumulator_is_rejected():
    with pytest.raises(ValueError, match="accumulator"):
        fastembed.lookup_bag(np.ones((3, 2), np.float32), [0, 1], [0], accumulator="float16")


def test_empty_inputs():
    w = np.ones((5, 3), np.float32)
    assert fastembed.lookup_bag(w, np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0, 3)
    for mode in MODES:
        got = fastembed.lookup_bag(w, np.zeros(0, np.int64), [0, 0, 0], mode=mode)
        np.testing.assert_array_equal(got, np.zeros((3, 3)))
    assert fastembed.lookup_bag(w, np.zeros((0, 4), np.int64)).shape == (0, 3)
    got = fastembed.lookup_bag(w, np.zeros((2, 0), np.int64), mode="mean")
    np.testing.assert_array_equal(got, np.zeros((2, 3)))


def test_padding_only_bag_is_zero_and_does_not_count_in_mean():
    w = np.arange(12, dtype=np.float64).reshape(4, 3)
    got = fastembed.lookup_bag(w, [2, 2, 1, 3, 2], [0, 2], mode="mean", padding_idx=2)
    np.testing.assert_array_equal(got, [[0, 0, 0], (w[1] + w[3]) / 2])
    got = fastembed.lookup_bag(w, [2, 2, 1, 3, 2], [0, 2], mode="mean", padding_idx=-2)
    np.testing.assert_array_equal(got, [[0, 0, 0], (w[1] + w[3]) / 2])


def test_max_keeps_nan_like_numpy():
    w = np.array([[1.0, np.nan], [2.0, 0.0]])
    got = fastembed.lookup_bag(w, [[0, 1], [1, 0]], mode="max")
    np.testing.assert_array_equal(got, [[2.0, np.nan], [2.0, np.nan]])


def test_out_is_written_and_returned(rng):
    w = rng.standard_normal((10, 4))
    out = np.full((2, 4), 9.0)
    assert fastembed.lookup_bag(w, [1, 2, 3], [0, 1], out=out) is out
    np.testing.assert_array_equal(out, [w[1], w[2] + w[3]])


@pytest.mark.parametrize("kwargs", [
    dict(mode="sum"), dict(mode="mean"), dict(mode="max"),
    dict(mode="sum", include_last_offset=True), dict(mode="mean", include_last_offset=True),
    dict(mode="sum", padding_idx=3), dict(mode="mean", padding_idx=3),
    dict(mode="max", padding_idx=3), dict(mode="sum", weighted=True),
    dict(mode="sum", weighted=True, padding_idx=3)], ids=str)
@pytest.mark.parametrize("vdt", VALUE_DTYPES)
def test_equals_torch_embedding_bag(rng, kwargs, vdt):
    torch = pytest.importorskip("torch")
    kwargs = dict(kwargs)
    w = rng.standard_normal((50, 16)).astype(vdt)
    ids = rng.integers(0, 50, 200)
    ids[:10] = 3
    offsets = random_offsets(rng, 200, 25)
    if kwargs.get("include_last_offset"):
        offsets = np.append(offsets, 200)
    psw = rng.random(200).astype(vdt) if kwargs.pop("weighted", False) else None
    want = torch.nn.functional.embedding_bag(
        torch.from_numpy(ids), torch.from_numpy(w), torch.from_numpy(offsets),
        per_sample_weights=None if psw is None else torch.from_numpy(psw), **kwargs).numpy()
    got = fastembed.lookup_bag(w, ids, offsets, per_sample_weights=psw, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-5 if vdt is np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("offsets, match", [
    ([1, 3], r"offsets\[0\] must be 0"),
    ([0, 5, 3], r"must not decrease: offsets\[1\] = 5 > offsets\[2\] = 3"),
    ([0, 3, -1], r"offsets\[2\] = -1 is negative"),
    ([0, 11], r"offsets\[1\] = 11 is past the end of ids \(10 ids\)"),
    ([], r"offsets is empty but there are 10 ids"),
])
def test_bad_offsets_raise_value_error_and_change_nothing(rng, offsets, match):
    w = rng.standard_normal((20, 4))
    ids = rng.integers(0, 20, 10)
    out = np.full((len(offsets), 4), 5.0)
    before = snapshot(w, ids, out)
    with pytest.raises(ValueError, match=match):
        fastembed.lookup_bag(w, ids, np.array(offsets, np.int64), out=out)
    assert_unchanged(before, w, ids, out)


def test_argument_errors(rng):
    w = rng.standard_normal((20, 4))
    ids = rng.integers(0, 20, 10)
    with pytest.raises(ValueError, match="last of offsets must be len"):
        fastembed.lookup_bag(w, ids, [0, 5], include_last_offset=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        fastembed.lookup_bag(w, ids, [0], mode="median")
    with pytest.raises(ValueError, match="not supported with mode=\"max\""):
        fastembed.lookup_bag(w, ids, [0], mode="max", per_sample_weights=np.ones(10))
    with pytest.raises(ValueError, match="shape of ids"):
        fastembed.lookup_bag(w, ids, [0], per_sample_weights=np.ones(9))
    with pytest.raises(ValueError, match="2-D"):
        fastembed.lookup_bag(w, ids.reshape(2, 5), [0, 5])
    with pytest.raises(ValueError, match="need offsets"):
        fastembed.lookup_bag(w, ids)
    with pytest.raises(TypeError, match="offsets must be an integer"):
        fastembed.lookup_bag(w, ids, np.array([0.0, 5.0]))
    with pytest.raises(ValueError, match="padding_idx = 20"):
        fastembed.lookup_bag(w, ids, [0], padding_idx=20)


@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_bad_id_names_first_position(rng, idt):
    w = rng.standard_normal((20, 4))
    ids = rng.integers(0, 20, 10).astype(idt)
    ids[6], ids[8] = 20, -1
    out = np.zeros((2, 4))
    before = snapshot(w, ids, out)
    with pytest.raises(IndexError, match=r"ids\[6\] = 20 .*0 <= id < 20"):
        fastembed.lookup_bag(w, ids, [0, 4], out=out)
    assert_unchanged(before, w, ids, out)


# ---- accumulate_bag -----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vdt=st.sampled_from(VALUE_DTYPES),
       idt=st.sampled_from(INDEX_DTYPES), mode=st.sampled_from(MODES),
       n_rows=st.integers(1, 100), dim=st.integers(0, 40), n=st.integers(0, 120),
       n_bags=st.integers(1, 30), two_d=st.booleans(), weighted=st.booleans(),
       padded=st.booleans(), threads=st.sampled_from([1, 2]))
def test_accumulate_bag_property_reference(seed, vdt, idt, mode, n_rows, dim, n, n_bags, two_d,
                                           weighted, padded, threads):
    rng = np.random.default_rng(seed)
    flat = np.minimum(rng.zipf(1.3, n) - 1, n_rows - 1)
    if two_d:
        ids, offsets = flat[: n - n % n_bags].reshape(n_bags, -1).astype(idt), None
    else:
        ids, offsets = flat.astype(idt), random_offsets(rng, n, n_bags)
    w = rng.standard_normal((n_rows, dim)).astype(vdt)
    grad = rng.standard_normal((n_bags, dim)).astype(vdt)
    kwargs = {"mode": mode, "weights": w}
    if weighted and mode != "max":
        kwargs["per_sample_weights"] = rng.random(ids.shape).astype(vdt) + 0.1
    if padded:
        kwargs["padding_idx"] = int(flat[0]) if n else 0
    got = fastembed.accumulate_bag(ids, offsets, grad, n_rows, num_threads=threads, **kwargs)
    want = reference.accumulate_bag_ref(ids, offsets, grad, n_rows, **kwargs)
    if "per_sample_weights" in kwargs:
        got, got_psw = got
        want, want_psw = want
        np.testing.assert_allclose(got_psw, want_psw, rtol=1e-5, atol=1e-5)
    assert got.indices.dtype == np.int64 and np.all(np.diff(got.indices) > 0)
    np.testing.assert_allclose(got.to_dense(), want, rtol=RTOL[vdt], atol=RTOL[vdt])


@pytest.mark.parametrize("mode", MODES)
def test_accumulate_bag_thread_count_agnostic(rng, mode):
    w = rng.standard_normal((5_000, 64)).astype(np.float32)
    sizes = np.minimum(rng.zipf(1.5, 4_000), 300)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = np.minimum(rng.zipf(1.1, int(sizes.sum())) - 1, 4_999)
    grad = rng.standard_normal((4_000, 64)).astype(np.float32)
    psw = None if mode == "max" else rng.random(ids.size).astype(np.float32)
    runs = [fastembed.accumulate_bag(ids, offsets, grad, 5_000, mode=mode, weights=w,
                                     per_sample_weights=psw, num_threads=t) for t in (1, 2)]
    if psw is not None:
        assert runs[0][1].tobytes() == runs[1][1].tobytes()
        runs = [r[0] for r in runs]
    assert runs[0].indices.tobytes() == runs[1].indices.tobytes()
    assert runs[0].values.tobytes() == runs[1].values.tobytes()


@pytest.mark.parametrize("kwargs", [
    dict(mode="sum"), dict(mode="mean"), dict(mode="max"), dict(mode="sum", padding_idx=3),
    dict(mode="mean", padding_idx=3), dict(mode="max", padding_idx=3),
    dict(mode="sum", include_last_offset=True), dict(mode="sum", weighted=True),
    dict(mode="sum", weighted=True, padding_idx=3)], ids=str)
def test_accumulate_bag_equals_torch_autograd(rng, kwargs):
    torch = pytest.importorskip("torch")
    kwargs = dict(kwargs)
    weighted = kwargs.pop("weighted", False)
    w = rng.standard_normal((50, 8))
    ids = rng.integers(0, 50, 120)
    ids[:6] = 3
    offsets = np.append(random_offsets(rng, 120, 20), [120] if kwargs.get("include_last_offset")
                        else [])
    offsets = offsets.astype(np.int64)
    psw = rng.random(120) + 0.1 if weighted else None
    tw = torch.tensor(w, requires_grad=True)
    tpsw = None if psw is None else torch.tensor(psw, requires_grad=True)
    out = torch.nn.functional.embedding_bag(torch.from_numpy(ids), tw, torch.from_numpy(offsets),
                                            per_sample_weights=tpsw, **kwargs)
    g = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out.backward(g)
    got = fastembed.accumulate_bag(ids, offsets, g.numpy(), 50, weights=w,
                                   per_sample_weights=psw, **kwargs)
    if psw is not None:
        got, got_psw = got
        np.testing.assert_allclose(got_psw, tpsw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.to_dense(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_accumulate_bag_argument_errors(rng):
    ids, offsets = rng.integers(0, 20, 10), np.array([0, 4])
    grad = rng.standard_normal((2, 4))
    with pytest.raises(ValueError, match="weights .* are needed"):
        fastembed.accumulate_bag(ids, offsets, grad, 20, mode="max")
    with pytest.raises(ValueError, match=r"shape \(n_bags, dim\) = \(2, dim\)"):
        fastembed.accumulate_bag(ids, offsets, grad[:1], 20)
    with pytest.raises(ValueError, match="weights must be"):
        fastembed.accumulate_bag(ids, offsets, grad, 20, mode="max", weights=np.ones((20, 5)))
    with pytest.raises(ValueError, match="n_rows must be >= 1"):
        fastembed.accumulate_bag(ids, offsets, grad, 0)
    bad = ids.copy()
    bad[7] = 20
    with pytest.raises(IndexError, match=r"ids\[7\] = 20"):
        fastembed.accumulate_bag(bad, offsets, grad, 20)


def test_max_forward_can_return_argmax():
    w = np.array([[1.0, 5.0], [3.0, 2.0], [3.0, 9.0]])
    out, argmax = fastembed.lookup_bag(w, [0, 1, 2, 1], [0, 3, 3], mode="max",
                                       return_argmax=True)
    np.testing.assert_array_equal(out, [[3.0, 9.0], [0.0, 0.0], [3.0, 2.0]])
    np.testing.assert_array_equal(argmax, [[1, 2], [-1, -1], [3, 3]])


def test_padding_row_with_inf_does_not_reach_the_weights_gradient():
    # found by fuzz/: row 0 (padding) held inf; 0 * inf = NaN leaked into its bag's sums
    w = np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]])
    ids, offsets = np.array([0, 1, 2, 0]), np.array([0])
    psw = np.array([0.5, 1.0, 2.0, 0.25])
    g = np.array([[1.0, -1.0]])
    grad, gpsw = fastembed.accumulate_bag(ids, offsets, g, 3, mode="mean", weights=w,
                                          per_sample_weights=psw, padding_idx=0)
    want_grad, want_psw = reference.accumulate_bag_ref(ids, offsets, g, 3, mode="mean", weights=w,
                                                   per_sample_weights=psw, padding_idx=0)
    np.testing.assert_allclose(gpsw, want_psw)
    assert np.isfinite(gpsw).all() and gpsw[0] == 0 and gpsw[3] == 0
    np.testing.assert_allclose(grad.to_dense(), want_grad)


# ---- float16 / bfloat16 tables ---------------------------------------------------------------

def half_dtype(name):
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


HALF_DTYPES = [np.float16, "bfloat16"]
UNIT = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8, "float32": 2.0 ** -24}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hdt", HALF_DTYPES)
@pytest.mark.parametrize("out_dtype", [None, np.float32])
@pytest.mark.parametrize("dim", [24, 64])
def test_half_bags_meet_the_documented_bound(rng, mode, hdt, out_dtype, dim):
    # sums in float32 (n * 2^-24 relative to the magnitudes), each result rounded once to
    # the output type; a mean/sqrtn quotient is rounded to float32 first
    hdt = half_dtype(hdt)
    w = rng.standard_normal((500, dim)).astype(hdt)
    sizes = rng.integers(0, 80, 200)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 500, int(sizes.sum()))
    psw = None if mode == "max" else (rng.random(ids.size) + 0.5).astype(hdt)
    got = fastembed.lookup_bag(w, ids, offsets, mode=mode, per_sample_weights=psw,
                               out_dtype=out_dtype, padding_idx=3)
    assert got.dtype == (hdt if out_dtype is None else np.float32)
    w64 = w.astype(np.float64)
    exact = fastembed.lookup_bag(w64, ids, offsets, mode=mode, padding_idx=3,
                                 per_sample_weights=None if psw is None else psw.astype(np.float64))
    if mode == "max":
        assert got.astype(np.float64).tobytes() == exact.tobytes()  # max is exact
        return
    kept = ids != 3
    bags = np.repeat(np.arange(sizes.size), sizes)
    pw = psw.astype(np.float64) * kept
    mags = np.zeros((sizes.size, dim))
    np.add.at(mags, bags, np.abs(pw[:, None] * w64[ids]))
    wsum = np.bincount(bags, weights=pw if mode == "mean" else pw ** 2, minlength=sizes.size)
    norm = {"sum": np.ones(sizes.size), "mean": wsum, "sqrtn": np.sqrt(wsum)}[mode]
    norm[norm == 0] = 1
    u = 2.0 ** -24
    gamma = sizes * u / (1 - sizes * u)
    u_out = UNIT[np.dtype(got.dtype).name]
    bound = gamma[:, None] * mags / norm[:, None] + (u + u_out) * np.abs(exact) * 1.0001
    assert (np.abs(got.astype(np.float64) - exact) <= bound + 1e-300).all()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hdt", HALF_DTYPES)
def test_half_bags_thread_count_agnostic(rng, mode, hdt):
    hdt = half_dtype(hdt)
    w = rng.standard_normal((20_000, 64)).astype(hdt)
    sizes = np.minimum(rng.zipf(1.5, 6_000), 500)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ids = rng.integers(0, 20_000, int(sizes.sum()))
    psw = None if mode == "max" else rng.random(ids.size).astype(hdt)
    for out_dtype in (None, np.float32):
        one, two = (fastembed.lookup_bag(w, ids, offsets, mode=mode, per_sample_weights=psw,
                                         out_dtype=out_dtype, num_threads=n) for n in (1, 2))
        assert one.tobytes() == two.tobytes()


@pytest.mark.parametrize("hdt", HALF_DTYPES)
@pytest.mark.parametrize("out_dtype", [None, np.float32])
def test_half_bad_id_changes_nothing(rng, hdt, out_dtype):
    hdt = half_dtype(hdt)
    w = rng.standard_normal((20, 4)).astype(hdt)
    ids = rng.integers(0, 20, 10)
    ids[6] = 20
    out = np.zeros((2, 4), hdt if out_dtype is None else np.float32)
    before = snapshot(w, ids, out)
    with pytest.raises(IndexError, match=r"ids\[6\] = 20"):
        fastembed.lookup_bag(w, ids, [0, 4], out=out, out_dtype=out_dtype)
    assert_unchanged(before, w, ids, out)
    with pytest.raises(ValueError, match="out_dtype"):
        fastembed.lookup_bag(w, ids, [0, 4], out_dtype=np.float16)
    with pytest.raises(ValueError, match="out_dtype"):
        fastembed.lookup_bag(w.astype(np.float64), ids, [0, 4], out_dtype=np.float32)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("hdt", HALF_DTYPES)
def test_half_bags_equal_torch(rng, mode, hdt):
    torch = pytest.importorskip("torch")
    hdt = half_dtype(hdt)
    w = rng.standard_normal((50, 32)).astype(np.float32)
    ids = rng.integers(0, 50, 200)
    offsets = random_offsets(rng, 200, 25)
    tdt = torch.float16 if hdt == np.float16 else torch.bfloat16
    want = torch.nn.functional.embedding_bag(torch.from_numpy(ids),
                                             torch.from_numpy(w).to(tdt),
                                             torch.from_numpy(offsets), mode=mode)
    got = fastembed.lookup_bag(w.astype(hdt), ids, offsets, mode=mode)
    tol = 4 * UNIT[hdt.name]
    np.testing.assert_allclose(got.astype(np.float32), want.float().numpy(), rtol=tol,
                               atol=tol)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hdt", HALF_DTYPES)
def test_accumulate_bag_half_gradient(rng, mode, hdt):
    # a half grad_output gives float32 gradient values: the float64 result of the same half
    # values, rounded once
    hdt = half_dtype(hdt)
    w = rng.standard_normal((60, 16)).astype(hdt)
    ids = rng.integers(0, 60, 300)
    offsets = np.arange(0, 300, 10)
    g = rng.standard_normal((30, 16)).astype(hdt)
    psw = None if mode == "max" else rng.random(300).astype(np.float32) + 0.5
    got = fastembed.accumulate_bag(ids, offsets, g, 60, mode=mode, weights=w,
                                   per_sample_weights=psw)
    want = fastembed.accumulate_bag(ids, offsets, g.astype(np.float64), 60, mode=mode,
                                    weights=w.astype(np.float64),
                                    per_sample_weights=None if psw is None
                                    else psw.astype(np.float64))
    if psw is not None:
        (got, gpsw), (want, wpsw) = got, want
        np.testing.assert_allclose(gpsw, wpsw, rtol=1e-6, atol=1e-6)
    assert got.values.dtype == np.float32
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.values, want.values.astype(np.float32))


@pytest.mark.parametrize("hdt", HALF_DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "sqrtn"])
def test_half_rounding_of_special_values_equals_the_general_loop(rng, hdt, mode):
    # inf, nan, subnormal results, sums that overflow the half range and ties: the register
    # path rounds a vector at a time, the general loop (one more column) value by value
    hdt = half_dtype(hdt)
    pool = np.array([np.inf, -np.inf, np.nan, 6e-8, -3e-8, 1e-5, 6e4, -6e4, 3e4, 1.0,
                     2049.0, 1 + 2 ** -11, 0.0, -0.0], np.float32).astype(hdt)
    wide = pool[rng.integers(0, pool.size, (40, 65))]
    ids = rng.integers(0, 40, 400)
    offsets = np.arange(0, 400, 4)
    got = fastembed.lookup_bag(np.ascontiguousarray(wide[:, :64]), ids, offsets, mode=mode)
    want = fastembed.lookup_bag(wide, ids, offsets, mode=mode)[:, :64]
    # a NaN's sign and payload follow the order of an addition's operands, which the compiler
    # picks: NaN where the other has NaN, the same bits everywhere else
    nan = np.isnan(want.astype(np.float32))
    assert (np.isnan(got.astype(np.float32)) == nan).all()
    assert got[~nan].tobytes() == want[~nan].tobytes()
