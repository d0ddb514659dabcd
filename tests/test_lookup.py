import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastembed
from conftest import INDEX_DTYPES, VALUE_DTYPES, assert_unchanged, snapshot
import reference


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
@pytest.mark.parametrize("idt", INDEX_DTYPES)
@pytest.mark.parametrize("dim", [1, 3, 16, 32, 64, 100, 128, 256])
def test_matches_fancy_indexing(rng, vdt, idt, dim):
    w = rng.standard_normal((257, dim)).astype(vdt)
    ids = rng.integers(0, 257, size=(13, 7)).astype(idt)
    got = fastembed.lookup(w, ids)
    assert got.dtype == w.dtype and got.shape == (13, 7, dim)
    np.testing.assert_array_equal(got, reference.lookup_ref(w, ids))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), vdt=st.sampled_from(VALUE_DTYPES), idt=st.sampled_from(INDEX_DTYPES),
       n_rows=st.integers(1, 300), dim=st.integers(0, 70),
       dist=st.sampled_from(["uniform", "skewed", "same", "empty"]),
       threads=st.sampled_from([1, 2]),
       layout=st.sampled_from(["c", "strided rows", "negative stride", "fortran", "read-only"]))
def test_property_reference(data, vdt, idt, n_rows, dim, dist, threads, layout):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40))
    if dist == "empty":
        shape = (0,) + shape[1:] if shape else (0,)
    size = int(np.prod(shape))
    if dist == "uniform":
        flat = rng.integers(0, n_rows, size)
    elif dist == "skewed":
        flat = np.minimum(rng.zipf(1.3, size) - 1, n_rows - 1)
    else:
        flat = np.full(size, rng.integers(0, n_rows))
    ids = flat.astype(idt).reshape(shape)
    w = rng.standard_normal((n_rows, dim)).astype(vdt)
    # the table and the ids in the drawn layout: same values, different memory order
    if layout == "strided rows":
        w = np.repeat(w, 2, axis=0)[::2]
        ids = np.repeat(ids, 2, axis=-1)[..., ::2] if ids.ndim else ids
    elif layout == "negative stride":
        w = w[::-1].copy()[::-1]
        ids = ids[..., ::-1].copy()[..., ::-1] if ids.ndim else ids
    elif layout == "fortran":
        w, ids = np.asfortranarray(w), np.asfortranarray(ids)
    elif layout == "read-only":
        w.flags.writeable = False
        ids.flags.writeable = False
    np.testing.assert_array_equal(fastembed.lookup(w, ids, num_threads=threads),
                                  reference.lookup_ref(w, ids))


@pytest.mark.parametrize("vdt", VALUE_DTYPES)
def test_thread_count_agnostic(rng, vdt):
    # big enough that the 2-thread call really splits the work
    w = rng.standard_normal((50_000, 64)).astype(vdt)
    ids = np.minimum(rng.zipf(1.05, 300_000) - 1, 49_999)
    one = fastembed.lookup(w, ids, num_threads=1)
    two = fastembed.lookup(w, ids, num_threads=2)
    assert one.tobytes() == two.tobytes()
    np.testing.assert_array_equal(one, w[ids])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64,
                                   np.dtype(">i8"), np.dtype(">i4"), np.dtype("<u8")])
def test_other_integer_dtypes_are_converted(rng, dtype):
    w = rng.standard_normal((100, 4)).astype(np.float32)
    ids = rng.integers(0, 100, size=20).astype(dtype)
    np.testing.assert_array_equal(fastembed.lookup(w, ids), w[ids.astype(np.int64)])


@pytest.mark.parametrize("bad", [100, -1, -2**63, 2**63 - 1])
@pytest.mark.parametrize("idt", INDEX_DTYPES + [np.uint64])
def test_out_of_range_raises_index_error_naming_first(rng, bad, idt):
    w = rng.standard_normal((100, 4)).astype(np.float32)
    ids = rng.integers(0, 100, size=(4, 5)).astype(np.int64)
    ids[2, 3] = bad
    ids[3, 4] = bad  # a later bad id: the message must name the first
    if idt is np.int32 and not (-2**31 <= bad < 2**31):
        pytest.skip("value does not fit the dtype")
    if idt is np.uint64:
        if bad < 0:
            pytest.skip("negative uint64")
    ids = ids.astype(idt)
    out = np.full((4, 5, 4), 7.0, np.float32)
    before = snapshot(w, ids, out)
    with pytest.raises(IndexError, match=rf"ids\[2, 3\] = {bad} .*0 <= id < 100"):
        fastembed.lookup(w, ids, out=out)
    assert_unchanged(before, w, ids, out)


@pytest.mark.parametrize("value", [2**64 - 1, 2**63])
def test_uint64_above_int64_is_out_of_range_not_wrapped(value):
    w = np.arange(40, dtype=np.float64).reshape(10, 4)
    ids = np.array([1, value], dtype=np.uint64)
    with pytest.raises(IndexError, match=rf"ids\[1\] = {value} "):
        fastembed.lookup(w, ids)


def test_int32_max_id_is_out_of_range():
    w = np.zeros((10, 2), np.float32)
    with pytest.raises(IndexError, match="2147483647"):
        fastembed.lookup(w, np.array([2**31 - 1], np.int32))


def test_bad_position_is_first_for_any_thread_count(rng):
    w = rng.standard_normal((1000, 64)).astype(np.float32)
    ids = rng.integers(0, 1000, size=400_000)
    ids[350_000] = 5000
    ids[390_000] = -3
    for threads in (1, 2):
        with pytest.raises(IndexError, match=r"ids\[350000\] = 5000"):
            fastembed.lookup(w, ids, num_threads=threads)


@pytest.mark.parametrize("ids", [np.array([1.0, 2.0]), np.array([True, False]),
                                 np.array([1, 2], dtype=object), np.array([1 + 0j]),
                                 np.array(["1"])])
def test_non_integer_ids_raise_type_error(ids):
    w = np.zeros((10, 2), np.float32)
    with pytest.raises(TypeError):
        fastembed.lookup(w, ids)


@pytest.mark.parametrize("w", [np.zeros(10, np.float32), np.zeros((2, 3, 4), np.float32),
                               np.float32(1.0)])
def test_weights_not_2d_raise_value_error(w):
    with pytest.raises(ValueError, match="2-D"):
        fastembed.lookup(w, np.array([0]))


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.complex64, bool])  # float16: test_half
def test_weights_wrong_dtype_raise_type_error(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        fastembed.lookup(np.zeros((4, 2), dtype), np.array([0]))


def test_empty_ids_and_empty_table_shapes():
    w = np.ones((5, 3), np.float32)
    assert fastembed.lookup(w, np.array([], np.int64)).shape == (0, 3)
    assert fastembed.lookup(w, []).shape == (0, 3)
    assert fastembed.lookup(w, np.zeros((2, 0), np.int32)).shape == (2, 0, 3)
    zero_width = np.ones((5, 0), np.float64)
    assert fastembed.lookup(zero_width, np.array([4, 0])).shape == (2, 0)
    with pytest.raises(IndexError):  # ids are checked even when no bytes move
        fastembed.lookup(zero_width, np.array([5]))
    with pytest.raises(IndexError):  # every id is out of range of an empty table
        fastembed.lookup(np.ones((0, 3), np.float32), np.array([0]))


def test_scalar_ids_give_a_row():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(fastembed.lookup(w, 2), w[2])
    np.testing.assert_array_equal(fastembed.lookup(w, np.int32(3)), w[3])


def test_layouts_non_contiguous_read_only_fortran(rng):
    base = rng.standard_normal((60, 40)).astype(np.float32)
    ids_base = rng.integers(0, 30, size=(20, 6))
    cases = [
        (base[::2, :8], ids_base[:, ::2]),           # strided rows (used in place), strided ids
        (base[::-2, 3:11], ids_base[::-1]),          # negative row stride
        (np.asfortranarray(base[:30]), ids_base.T),  # Fortran order: copied
        (base[:30, ::3], ids_base),                  # strided columns: copied
    ]
    for w, ids in cases:
        np.testing.assert_array_equal(fastembed.lookup(w, ids), w[ids])
    ro = base[:30].copy()
    ro.flags.writeable = False
    ids_ro = ids_base.copy()
    ids_ro.flags.writeable = False
    np.testing.assert_array_equal(fastembed.lookup(ro, ids_ro), ro[ids_ro])


def test_big_endian_and_misaligned_weights(rng):
    w = rng.standard_normal((20, 5)).astype(">f8")
    ids = np.array([3, 19, 0])
    np.testing.assert_array_equal(fastembed.lookup(w, ids), w[ids])
    buf = np.zeros(20 * 5 * 4 + 1, np.uint8)
    mis = buf[1:].view(np.float32).reshape(20, 5)
    mis[:] = rng.standard_normal((20, 5))
    assert not mis.flags.aligned
    np.testing.assert_array_equal(fastembed.lookup(mis, ids), mis[ids])


def test_buffer_protocol_and_array_interface_inputs():
    w = np.arange(20, dtype=np.float64).reshape(10, 2)

    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return w

    mv = memoryview(w)
    ids = memoryview(np.array([9, 1], np.int64))
    np.testing.assert_array_equal(fastembed.lookup(mv, ids), w[[9, 1]])
    np.testing.assert_array_equal(fastembed.lookup(HasArray(), [0, 3]), w[[0, 3]])


def test_out_is_filled_and_returned(rng):
    w = rng.standard_normal((50, 8)).astype(np.float64)
    ids = rng.integers(0, 50, size=(3, 4))
    out = np.empty((3, 4, 8))
    res = fastembed.lookup(w, ids, out=out)
    assert res is out
    np.testing.assert_array_equal(out, w[ids])


@pytest.mark.parametrize("make_out,exc", [
    (lambda w: np.empty((3, 9), np.float32), ValueError),              # shape
    (lambda w: np.empty((3, 8), np.float64), TypeError),               # dtype
    (lambda w: np.empty((8, 3), np.float32).T, ValueError),            # not C order
    (lambda w: np.empty((3, 8), np.float32)[:, :], None),              # fine
    (lambda w: w[:3], ValueError),                                     # overlaps weights
    (lambda w: [[0.0] * 8] * 3, TypeError),                            # not an ndarray
])
def test_out_validation(rng, make_out, exc):
    w = rng.standard_normal((10, 8)).astype(np.float32)
    ids = np.array([1, 2, 3])
    out = make_out(w)
    if exc is None:
        fastembed.lookup(w, ids, out=out)
        return
    before = snapshot(w, ids) + ([np.array(out)] if isinstance(out, np.ndarray) else [])
    with pytest.raises(exc):
        fastembed.lookup(w, ids, out=out)
    assert_unchanged(before, w, ids, *([out] if isinstance(out, np.ndarray) else []))


def test_read_only_out_raises():
    w = np.ones((10, 2), np.float32)
    out = np.zeros((1, 2), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastembed.lookup(w, [1], out=out)


def test_out_overlapping_ids_raises():
    buf = np.zeros(64, np.int64)
    ids = buf[:4]
    out = buf.view(np.float64)[2:10].reshape(4, 2)  # bytes 16..80 cover ids' 0..32
    w = np.ones((10, 2), np.float64)
    with pytest.raises(ValueError, match="overlaps"):
        fastembed.lookup(w, ids, out=out)
    # disjoint slices of one buffer are fine
    out_ok = buf.view(np.float64)[32:40].reshape(4, 2)
    fastembed.lookup(w, ids, out=out_ok)


@pytest.mark.parametrize("num_threads,exc", [(0, ValueError), (-2, ValueError),
                                             (1.5, TypeError), ("2", TypeError)])
def test_bad_num_threads(num_threads, exc):
    with pytest.raises(exc, match="num_threads"):
        fastembed.lookup(np.ones((2, 2), np.float32), [0], num_threads=num_threads)


def test_gil_is_released_during_the_kernel(rng):
    # A second Python thread can run only while the caller does not hold the GIL. If the
    # kernel released it, that thread keeps ticking through the middle of the call; if not,
    # it could tick only at bytecode boundaries before or after the C call.
    import threading
    import time
    w = rng.standard_normal((100_000, 64)).astype(np.float32)
    ids = rng.integers(0, 100_000, 1_000_000)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.01)
        t0 = time.perf_counter()
        fastembed.lookup(w, ids, num_threads=1)
        t1 = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    lo, hi = t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)
    assert any(lo < t < hi for t in ticks)
