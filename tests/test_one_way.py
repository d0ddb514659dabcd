"""Things done one way (issue 14): float inputs normalised by _arrays.as_float everywhere
(accumulate, accumulate_bag, RowSparseGrad), the padding row found by fe_group_of
everywhere (_kernels.group_of in accumulate_bag, C in accumulate and the optimizer step)."""
import numpy as np
import pytest

import fastembed
from fastembed import _kernels
from fastembed.sparse import RowSparseGrad

N_ROWS, DIM = 7, 3


def _float_inputs(shape):
    base = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 4
    return {"c": base, "fortran": np.asfortranarray(base), "big-endian": base.astype(">f8"),
            "strided": np.repeat(base, 2, axis=-1)[..., ::2], "list": base.tolist()}


IDS2 = np.array([[1, 3], [3, 0]])
# name -> (the float input's shape, the call)
ENTRY_POINTS = {
    "accumulate": ((2, 2, DIM), lambda g: fastembed.accumulate(IDS2, g, N_ROWS)),
    "accumulate_bag": ((2, DIM), lambda g: fastembed.accumulate_bag(
        IDS2.reshape(-1), np.array([0, 2]), g, N_ROWS)),
    "RowSparseGrad": ((4, DIM), lambda g: RowSparseGrad(np.array([0, 2, 5, 6]), g, N_ROWS)),
}


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_float_layout_gives_the_same_result(name):
    shape, call = ENTRY_POINTS[name]
    inputs = _float_inputs(shape)
    want = call(inputs["c"])
    for label, g in inputs.items():
        got = call(g)
        assert np.array_equal(got.indices, want.indices), label
        assert got.values.dtype == np.float64 and np.array_equal(got.values, want.values), label


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex128])
def test_every_non_float_is_the_same_type_error(name, dtype):
    shape, call = ENTRY_POINTS[name]
    with pytest.raises(TypeError, match=r"must be float32 or float64, got"):
        call(np.ones(shape, dtype))


def test_group_of():
    uniq = np.array([0, 2, 5, 9], np.int64)
    assert [_kernels.group_of(uniq, i) for i in (0, 2, 5, 9)] == [0, 1, 2, 3]
    assert [_kernels.group_of(uniq, i) for i in (1, 3, 10, -1)] == [-1, -1, -1, -1]
    assert _kernels.group_of(np.empty(0, np.int64), 3) == -1


@pytest.mark.parametrize("pad", [0, 3, 6, -1, 5])  # 5 and 6 are not among the ids
def test_padding_row_skipped_alike(pad):
    ids = np.array([3, 0, 3, 1, 0, 4])
    g = np.arange(6 * DIM, dtype=np.float64).reshape(6, DIM)
    per_id = fastembed.accumulate(ids, g, N_ROWS, padding_idx=pad)
    bag = fastembed.accumulate_bag(ids, np.arange(6), g, N_ROWS, padding_idx=pad)
    assert np.array_equal(per_id.indices, bag.indices)
    assert np.array_equal(per_id.values, bag.values)
    assert (pad % N_ROWS) not in bag.indices
