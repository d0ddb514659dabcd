"""float16 and bfloat16 tables: lookup bit for bit, accumulate of half gradients in
float32, renorm_ and the constraints computed in float32 and rounded back to nearest
(against NumPy / the float32 kernels, then rounded), thread-count independence, bad input
that changes nothing."""
import numpy as np
import pytest

import fastembed
from fastembed import constraints as C
from conftest import INDEX_DTYPES, assert_unchanged, snapshot


def half_dtypes():
    out = [np.dtype(np.float16)]
    try:
        import ml_dtypes
        out.append(np.dtype(ml_dtypes.bfloat16))
    except ImportError:  # optional: the bfloat16 cases skip
        out.append(pytest.param(None, marks=pytest.mark.skip(reason="ml_dtypes not installed")))
    return out


HALF = half_dtypes()


def bits(a):
    return np.ascontiguousarray(a).view(np.uint16)


def table(rng, n_rows, dim, dt, scale=3.0):
    w = (rng.standard_normal((n_rows, dim)) * scale).astype(np.float32)
    w[: n_rows // 8] *= 1e-4  # small rows: their scaled values reach float16 subnormals
    return w.astype(dt)


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_lookup_is_bit_exact(rng, dt, idt):
    w = table(rng, 300, 17, dt)
    ids = rng.integers(0, 300, (6, 40)).astype(idt)
    got = fastembed.lookup(w, ids)
    assert got.dtype == dt and got.shape == (6, 40, 17)
    np.testing.assert_array_equal(bits(got), bits(w[ids]))
    out = np.empty((6, 40, 17), dt)
    assert fastembed.lookup(w, ids, out=out) is out
    np.testing.assert_array_equal(bits(out), bits(got))
    strided = np.zeros((300, 20), dt)[:, 2:19]
    strided[...] = w
    np.testing.assert_array_equal(bits(fastembed.lookup(strided, ids)), bits(got))


@pytest.mark.parametrize("dt", HALF)
def test_lookup_threads_and_bad_ids(rng, dt):
    w = table(rng, 5000, 64, dt)
    ids = rng.integers(0, 5000, 20000)
    a = fastembed.lookup(w, ids, num_threads=1)
    b = fastembed.lookup(w, ids, num_threads=2)
    assert a.tobytes() == b.tobytes()
    out = np.zeros((3, 64), dt)
    with pytest.raises(IndexError, match=r"ids\[2\] = 5000"):
        fastembed.lookup(w, [1, 2, 5000], out=out)
    assert not bits(out).any()


@pytest.mark.parametrize("dt", HALF)
def test_accumulate_half_gradient_sums_in_float32(rng, dt):
    ids = rng.integers(0, 50, (30, 7))
    grad = table(rng, 210, 9, dt).reshape(30, 7, 9)
    got = fastembed.accumulate(ids, grad, 50, padding_idx=3, scale_grad_by_freq=True)
    want = fastembed.accumulate(ids, grad.astype(np.float32), 50, padding_idx=3,
                                scale_grad_by_freq=True)
    assert got.values.dtype == np.float32
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.values, want.values)
    ids = rng.integers(0, 1000, 40000)
    grad = table(rng, 40000, 32, dt)
    a = fastembed.accumulate(ids, grad, 1000, num_threads=1)
    b = fastembed.accumulate(ids, grad, 1000, num_threads=2)
    assert a.values.tobytes() == b.values.tobytes()


def renorm_reference(w, ids, max_norm, p):
    """float32 math on the loaded values, the norm in float64, rounded back once."""
    out = w.astype(np.float32)
    for r in np.unique(ids):
        x = out[r].astype(np.float64)
        norm = np.abs(x).sum() if p == 1 else np.sqrt((x * x).sum()) if p == 2 else \
            (np.abs(x) ** p).sum() ** (1 / p)
        if norm > max_norm:
            out[r] = out[r] * np.float32(max_norm / (norm + 1e-7))
    return out.astype(w.dtype)


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("max_norm", [1.0, 1e-5])
def test_renorm_rounds_float32_math_to_nearest(rng, dt, p, max_norm):
    w = table(rng, 200, 13, dt)
    ids = rng.integers(0, 200, 150)
    want = renorm_reference(w, ids, max_norm, p)
    got = w.copy()
    fastembed.renorm_(got, ids, max_norm, norm_type=p)
    np.testing.assert_array_equal(bits(got), bits(want))


@pytest.mark.parametrize("dt", HALF)
def test_renorm_threads_and_bad_ids_change_nothing(rng, dt):
    w = table(rng, 20000, 32, dt)
    ids = rng.integers(0, 20000, 30000)
    a, b = w.copy(), w.copy()
    fastembed.renorm_(a, ids, 0.5, num_threads=1)
    fastembed.renorm_(b, ids, 0.5, num_threads=2)
    assert a.tobytes() == b.tobytes()
    before = snapshot(w)
    with pytest.raises(IndexError):
        fastembed.renorm_(w, np.append(ids, 20000), 0.5)
    assert_unchanged(before, w)


CONSTRAINTS = [C.MaxNorm(1.0, axis=1), C.UnitNorm(axis=1), C.MinMaxNorm(0.5, 1.5, 0.7, axis=1),
               C.NonNeg(), C.MaxNorm(2.0, axis=0), C.UnitNorm(axis=0),
               C.MinMaxNorm(1e5, 1e6, 1.0, axis=1)]  # the last overflows float16: inf


@pytest.mark.parametrize("dt", HALF)
@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=lambda c: f"{type(c).__name__}{c.axis}")
@pytest.mark.parametrize("rows", [None, "some"])
def test_constraints_equal_float32_kernel_then_rounded(rng, dt, constraint, rows):
    w = table(rng, 120, 11, dt)
    ids = None if rows is None else rng.integers(0, 120, 60)
    want = w.astype(np.float32)
    constraint.apply_(want, ids)
    got = w.copy()
    constraint.apply_(got, ids)
    assert got.dtype == dt
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(bits(got), bits(want.astype(dt)))
    if rows is None:  # __call__: the same projection into a new array
        np.testing.assert_array_equal(bits(constraint(w)), bits(got))


@pytest.mark.parametrize("dt", HALF)
def test_constraint_threads_and_bad_rows(rng, dt):
    w = table(rng, 30000, 16, dt)
    ids = rng.integers(0, 30000, 40000)
    for c in (C.MaxNorm(1.0, axis=1), C.UnitNorm(axis=0)):
        a, b = w.copy(), w.copy()
        c.apply_(a, ids, num_threads=1)
        c.apply_(b, ids, num_threads=2)
        assert a.tobytes() == b.tobytes()
    before = snapshot(w)
    with pytest.raises(IndexError, match="rows"):
        C.MaxNorm(1.0, axis=1).apply_(w, [0, 1, 30000])
    assert_unchanged(before, w)


def test_float16_load_store_round_trips_every_pattern():
    """NonNeg loads every float16 bit pattern as float and stores it back: positive values
    (and NaNs, quiet ones as they are) come back bit for bit, negatives become +0."""
    w = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(256, 256)
    got = w.copy()
    C.NonNeg().apply_(got)
    want = np.where((w > 0) | np.isnan(w), w, np.float16(0))
    quiet = ~np.isnan(w) | (bits(w) & 0x200 != 0)
    np.testing.assert_array_equal(bits(got)[quiet], bits(want)[quiet])
    assert np.isnan(got[np.isnan(w)]).all()


@pytest.mark.parametrize("dt", HALF)
def test_rounding_over_the_whole_range(rng, dt):
    """Rows [x, 4096] renormed to norm 1 store x / ~4096 rounded to nearest: x spread over
    the type's exponents, so results fall in normals, subnormals and to zero."""
    top = 15 if dt == np.float16 else 120
    x = rng.standard_normal(20000) * 2.0 ** rng.integers(-top, top, 20000)
    w = np.stack([x, np.full_like(x, 4096.0)], axis=1).astype(dt)
    got = w.copy()
    fastembed.renorm_(got, np.arange(w.shape[0]), 1.0)
    np.testing.assert_array_equal(bits(got), bits(renorm_reference(w, np.arange(w.shape[0]), 1.0, 2)))
