"""fastembed.constraints: Keras 3's formulas on whole tables (both axes), in-place updates of
the touched rows only, thread-count bit-identity, failure atomicity, get / serialize."""
import json

import numpy as np
import pytest
from conftest import import_keras

from fastembed import constraints as C

EPS = 1e-7
DTYPES = [np.float32, np.float64]


def reference(w, name, axis=0, max_value=2.0, min_value=0.0, rate=1.0):
    """Keras's formula in float64 (norms), the factor rounded to w's dtype and applied in it,
    as fastembed does."""
    w = np.array(w, copy=True)
    if name == "non_neg":
        return np.where((w > 0) | np.isnan(w), w, 0).astype(w.dtype)
    norms = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=axis, keepdims=True))
    if name == "unit_norm":
        return w / (EPS + norms).astype(w.dtype)
    if name == "max_norm":
        factor = np.clip(norms, 0, max_value) / (EPS + norms)
    else:
        factor = (rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms) / (EPS + norms)
    return w * factor.astype(w.dtype)


def table(rng, n_rows=300, dim=16, dtype=np.float32):
    # norms spread from ~0 to ~4 x the typical one, both clips of MinMaxNorm exercised
    w = rng.standard_normal((n_rows, dim)) * rng.uniform(0.0, 0.4, (n_rows, 1))
    return w.astype(dtype)


def make(name, axis):
    return {"max_norm": lambda: C.MaxNorm(1.5, axis=axis),
            "unit_norm": lambda: C.UnitNorm(axis=axis),
            "min_max_norm": lambda: C.MinMaxNorm(0.5, 1.2, rate=0.7, axis=axis),
            "non_neg": lambda: C.NonNeg()}[name]()


def ref_of(c, w):
    cfg = c.get_config()
    name = {"MaxNorm": "max_norm", "UnitNorm": "unit_norm", "MinMaxNorm": "min_max_norm",
            "NonNeg": "non_neg"}[type(c).__name__]
    cfg.pop("axis", None)
    return reference(w, name, axis=c.axis if c.axis is not None else 0, **cfg)


NAMES = ["max_norm", "unit_norm", "min_max_norm", "non_neg"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_call_and_apply_follow_the_formula(rng, name, axis, dtype):
    w = table(rng, dtype=dtype)
    c = make(name, axis)
    want = ref_of(c, w)
    got = c(w)
    assert got.dtype == dtype and got.shape == w.shape and got is not w
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    inplace = w.copy()
    assert c.apply_(inplace) is None
    assert inplace.tobytes() == got.tobytes()
    assert c(w.tolist()).dtype == np.float64  # array-likes are read as NumPy reads them


def test_constraint_semantics():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [-1.0, 0.0]])
    np.testing.assert_allclose(C.MaxNorm(1.0, axis=1)(w)[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(C.MaxNorm(1.0, axis=1)(w)[1], [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm(axis=1)(w), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm(axis=0)(w), axis=0), 1.0, rtol=1e-6)
    mm = C.MinMaxNorm(1.0, 2.0, axis=1)(w)
    np.testing.assert_allclose(np.linalg.norm(mm, axis=1), [2.0, 1.0, 1.0], rtol=1e-6)
    half = C.MinMaxNorm(1.0, 2.0, rate=0.5, axis=1)(w)
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), [3.5, 0.75, 1.0], rtol=1e-6)
    nn = C.NonNeg()(np.array([[-1.0, -0.0, 2.0, np.nan, -np.inf, np.inf]]))
    assert np.array_equal(nn, [[0.0, 0.0, 2.0, np.nan, 0.0, np.inf]], equal_nan=True)
    assert not np.signbit(nn[0, 1])  # maximum(-0.0, 0) is +0.0, as Keras 3's ops.maximum


@pytest.mark.parametrize("name", ["max_norm", "unit_norm", "min_max_norm", "non_neg"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_touches_only_the_given_rows(rng, name, dtype):
    w = table(rng, n_rows=500, dtype=dtype)
    c = make(name, 1)
    rows = np.array([7, 3, 7, 499, 0, 3, 3])  # repeats count once
    got = w.copy()
    c.apply_(got, rows)
    touched = np.unique(rows)
    others = np.setdiff1d(np.arange(500), touched)
    assert got[others].tobytes() == w[others].tobytes()
    want = ref_of(c, w[touched])
    np.testing.assert_allclose(got[touched], want, rtol=1e-6 if dtype == np.float32 else 1e-13)
    once = w.copy()
    c.apply_(once, touched)
    assert once.tobytes() == got.tobytes()
    # int32 rows, 2-D rows, a list, uint64 rows: the same rows
    for ids in (rows.astype(np.int32), rows.reshape(7, 1), rows.tolist(), rows.astype(np.uint64)):
        again = w.copy()
        c.apply_(again, ids)
        assert again.tobytes() == got.tobytes()
    empty = w.copy()
    c.apply_(empty, np.array([], np.int64))
    assert empty.tobytes() == w.tobytes()


@pytest.mark.parametrize("name", ["max_norm", "unit_norm", "min_max_norm"])
def test_column_constraints_with_rows_are_a_whole_table_pass(rng, name):
    w = table(rng)
    c = make(name, 0)
    full = c(w)
    got = w.copy()
    c.apply_(got, np.array([1, 2]))
    assert got.tobytes() == full.tobytes()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bit_identical_for_any_thread_count(rng, name, axis, dtype):
    w = table(rng, n_rows=20_011, dim=33, dtype=dtype)  # > 1 block of rows, odd sizes
    rows = rng.integers(0, w.shape[0], 30_000)
    c = make(name, axis)
    results = []
    for t in (1, 2, 3):
        x = w.copy()
        c.apply_(x, num_threads=t)
        y = w.copy()
        c.apply_(y, rows, num_threads=t)
        results.append((x.tobytes(), y.tobytes()))
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("layout", ["strided", "negative", "middle"])
def test_strided_tables_in_place(rng, layout):
    w = table(rng, n_rows=200)
    base = np.zeros((400, 16), np.float32)
    if layout == "strided":
        view = base[::2]
    elif layout == "negative":
        view = base[::-2]
    else:
        view = base[100:300]
    view[...] = w
    for c in (C.MaxNorm(0.5, axis=1), C.MaxNorm(0.5, axis=0), C.NonNeg()):
        x = view.copy()
        c.apply_(view, [5, 6, 199])
        y = x.copy()
        c.apply_(y, [5, 6, 199])
        assert np.ascontiguousarray(view).tobytes() == y.tobytes()
    untouched = {"strided": base[1::2], "negative": base[0::2],
                 "middle": np.concatenate([base[:100], base[300:]])}[layout]
    assert np.all(untouched == 0)


# ---- failures leave the table bit-identical --------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1])
def test_raising_calls_leave_the_table_unchanged(rng, axis):
    w = table(rng, n_rows=100)
    before = w.tobytes()
    c = C.MinMaxNorm(0.5, 1.0, axis=axis)
    for rows, exc, match in ((np.array([1, 2, 100]), IndexError, r"rows\[2\] = 100"),
                             (np.array([[0, 1], [-1, 3]]), IndexError, r"rows\[1, 0\] = -1"),
                             (np.array([2**63], np.uint64), IndexError, "out of range"),
                             (np.array([1.0]), TypeError, "integer"),
                             (np.array([True]), TypeError, "integer")):
        with pytest.raises(exc, match=match):
            c.apply_(w, rows)
        assert w.tobytes() == before
    with pytest.raises(ValueError):
        c.apply_(w, [1], num_threads=0)
    assert w.tobytes() == before
    ro = w.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        c.apply_(ro)
    for bad, exc in ((w.astype(np.int64), TypeError), (w.astype(np.complex64), TypeError),
                     (w.reshape(-1), ValueError), (w[None], ValueError),
                     (np.asfortranarray(w), ValueError),
                     (w.astype(w.dtype.newbyteorder(">")), ValueError)):
        snapshot = bad.tobytes()
        with pytest.raises(exc):
            c.apply_(bad)
        assert bad.tobytes() == snapshot


def test_kernels_reject_bad_parameters_without_writing():
    from fastembed import _kernels
    w = np.ones((4, 3), np.float32)
    ids = np.array([0, 1], np.int64)
    for kind, a, b, rate in ((3, 2.0, 1.0, 1.0),      # MinMaxNorm max < min
                             (3, np.nan, 1.0, 1.0), (3, 0.0, np.nan, 1.0),
                             (3, 0.0, 1.0, np.inf), (1, -1.0, 0.0, 1.0), (1, np.nan, 0.0, 1.0),
                             (9, 0.0, 0.0, 1.0)):
        with pytest.raises(ValueError):
            _kernels.constrain_rows(w, ids, kind, a, b, rate, 2, ids)
        with pytest.raises(ValueError):
            _kernels.constrain_table(w, 0, kind, a, b, rate, 2)
        assert np.all(w == 1)
    with pytest.raises(ValueError):
        _kernels.constrain_table(w, 2, 1, 1.0, 0.0, 1.0, 1)


@pytest.mark.parametrize("make_bad, exc, match", [
    (lambda: C.MaxNorm(axis=2), ValueError, "axis"),
    (lambda: C.MaxNorm(axis=(0, 1)), TypeError, "axis"),  # wrong type: TypeError (_validate)
    (lambda: C.UnitNorm(axis=1.0), TypeError, "axis"),
    (lambda: C.MinMaxNorm(axis=-2), ValueError, "axis"),
    (lambda: C.MaxNorm(max_value=-1), ValueError, "max_value"),
    (lambda: C.MaxNorm(max_value=np.nan), ValueError, "max_value"),
    (lambda: C.MaxNorm(max_value="2"), TypeError, "max_value"),
    (lambda: C.MinMaxNorm(min_value=2.0, max_value=1.0), ValueError, "max_value"),
    (lambda: C.MinMaxNorm(min_value=-0.5), ValueError, "min_value"),
    (lambda: C.MinMaxNorm(min_value=np.inf), ValueError, "max_value"),
    (lambda: C.MinMaxNorm(rate=np.inf), ValueError, "rate"),
    (lambda: C.MinMaxNorm(rate=None), TypeError, "rate"),
])
def test_bad_arguments(make_bad, exc, match):
    with pytest.raises(exc, match=match):
        make_bad()


# ---- get / serialize -----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES + ["MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm"])
def test_get_and_serialize_round_trip(name):
    c = C.get(name)
    assert isinstance(c, C.Constraint)
    cfg = C.serialize(c)
    assert cfg["module"] == "keras.constraints" and cfg["registered_name"] is None
    back = C.get(json.loads(json.dumps(cfg)))
    assert type(back) is type(c) and back.get_config() == c.get_config()
    assert back.axis == c.axis


def test_numpy_scalar_arguments_serialise_as_python_numbers():
    c = C.MinMaxNorm(np.float32(0.5), np.float64(2.0), np.float32(0.25), axis=np.int64(1))
    cfg = json.loads(json.dumps(C.serialize(c)))["config"]
    assert cfg == {"min_value": 0.5, "max_value": 2.0, "rate": 0.25, "axis": 1}
    assert json.dumps(C.serialize(C.MaxNorm(np.int32(3))))


def test_get_defaults_and_other_identifiers():
    assert C.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert C.get("unit_norm").axis == 0
    assert C.get("non_neg").axis is None
    assert C.get("min_max_norm").get_config() == {"min_value": 0.0, "max_value": 1.0,
                                                  "rate": 1.0, "axis": 0}
    assert C.get(None) is None
    inst = C.MaxNorm(3, axis=1)
    assert C.get(inst) is inst
    fn = lambda w: w  # noqa: E731
    assert C.get(fn) is fn
    assert C.get(C.UnitNorm).get_config() == {"axis": 0}
    d = C.get({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 1},
               "module": "keras.constraints", "registered_name": None})
    assert (d.max_value, d.axis) == (3, 1)
    with pytest.raises(ValueError, match="max_norm"):
        C.get("maxnorm2")
    for bad in (1, [0], 2.0):
        with pytest.raises(TypeError):
            C.get(bad)
    with pytest.raises(TypeError):
        C.serialize("max_norm")


# ---- Keras 3 --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    return import_keras()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_matches_keras(keras, rng, name, axis):
    w = table(rng, n_rows=64, dim=16)  # float32, Keras's floatx
    ours = make(name, axis)
    theirs = keras.constraints.deserialize(C.serialize(ours))
    want = np.asarray(theirs(w))
    got = ours(w)
    assert got.dtype == want.dtype == np.float32
    # Keras sums the squares in float32, fastembed in float64: a few float32 ulps apart
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    rows = np.arange(0, 64, 3)
    if ours.axis in (1, -1) or ours.axis is None:
        inplace = w.copy()
        ours.apply_(inplace, rows)
        np.testing.assert_allclose(inplace[rows], want[rows], rtol=2e-6, atol=1e-7)
    back = C.get(keras.constraints.serialize(theirs))
    assert back.get_config() == ours.get_config()
