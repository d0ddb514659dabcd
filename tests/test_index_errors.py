"""Every kernel's bad id reads the same (fastembed._errors.index_error): the argument's
name with the first bad POSITION, its VALUE and the valid RANGE, and the call that raised
wrote nothing."""
import re

import numpy as np
import pytest

import fastembed
from fastembed import constraints, optimizers
from fastembed.sparse import RowSparseGrad

N_ROWS, DIM = 5, 3
# the first bad id is at [1, 0] (a later one too, and a negative one after it)
IDS = np.array([[0, 1], [7, 2], [9, -1]])
GRAD = np.ones(IDS.shape + (DIM,), np.float32)


def _text(name, pos, value):
    if name == "flat ids":  # a kernel given IDS flattened: the flat position
        row, col = (int(k) for k in pos.strip("[]").split(","))
        name, pos = "ids", f"[{row * IDS.shape[1] + col}]"
    return (rf"^{name}{re.escape(pos)} = {value} is out of range for a table of {N_ROWS} rows "
            rf"\(valid ids: 0 <= id < {N_ROWS}\)$")


def _table(dtype="float32"):
    return np.arange(N_ROWS * DIM, dtype=np.float64).reshape(N_ROWS, DIM).astype(dtype)


def _opt(cls, **kw):
    return lambda w, ids: cls(**kw).step(w, ids, np.ones(ids.shape + (DIM,), w.dtype))


# (label, call(table, ids), argument name, table dtypes)
KERNELS = [
    ("lookup", lambda w, ids: fastembed.lookup(w, ids), "ids", ("float32", "float64", "float16")),
    ("lookup_bag", lambda w, ids: fastembed.lookup_bag(w, ids), "ids", ("float32", "float64")),
    ("lookup_bag mean", lambda w, ids: fastembed.lookup_bag(w, ids, mode="mean"), "ids",
     ("float32",)),
    ("accumulate", lambda w, ids: fastembed.accumulate(ids, np.ones(ids.shape + (DIM,), w.dtype),
                                                       N_ROWS), "ids", ("float32", "float64")),
    ("accumulate_bag", lambda w, ids: fastembed.accumulate_bag(
        ids.reshape(-1), np.arange(0, ids.size, ids.shape[1]),
        np.ones((ids.shape[0], DIM), w.dtype), N_ROWS), "flat ids", ("float32", "float64")),
    ("renorm_", lambda w, ids: fastembed.renorm_(w, ids, 1.0), "ids",
     ("float32", "float64", "float16")),
    ("MaxNorm rows", lambda w, ids: constraints.MaxNorm(1.0, axis=1).apply_(w, ids), "rows",
     ("float32", "float64", "float16")),
    ("MaxNorm columns", lambda w, ids: constraints.MaxNorm(1.0, axis=0).apply_(w, ids), "rows",
     ("float32",)),
    ("NonNeg rows", lambda w, ids: constraints.NonNeg().apply_(w, ids), "rows", ("float32",)),
    ("SGD", _opt(optimizers.SGD, learning_rate=0.1, momentum=0.5), "ids", ("float32", "float64")),
    ("Adagrad", _opt(optimizers.Adagrad), "ids", ("float32",)),
    ("RowwiseAdagrad", _opt(optimizers.RowwiseAdagrad), "ids", ("float32",)),
    ("Adam", _opt(optimizers.Adam), "ids", ("float32", "float64")),
    ("FTRL", _opt(optimizers.FTRL), "ids", ("float32",)),
]


def _cases():
    for label, call, name, dtypes in KERNELS:
        for dtype in dtypes:
            for id_dtype in (np.int32, np.int64):
                yield pytest.param(call, name, dtype, id_dtype,
                                   id=f"{label}-{dtype}-{np.dtype(id_dtype).name}")


@pytest.mark.parametrize("call, name, dtype, id_dtype", list(_cases()))
def test_index_error_names_position_value_range(call, name, dtype, id_dtype):
    w = _table(dtype)
    before = w.copy()
    with pytest.raises(IndexError, match=_text(name, "[1, 0]", 7)):
        call(w, IDS.astype(id_dtype))
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("call, name", [(c, n) for _, c, n, _ in KERNELS])
def test_negative_id_first(call, name):
    ids = np.array([[0, -2], [7, 1]])
    with pytest.raises(IndexError, match=_text(name, "[0, 1]", -2)):
        call(_table(), ids)


def test_one_dimensional_ids_name_a_single_position():
    with pytest.raises(IndexError, match=_text("ids", "[3]", 5)):
        fastembed.lookup(_table(), np.array([0, 1, 4, 5, 2]))


def test_quantized_lookup():
    q = fastembed.quantize(_table(), bits=8)
    with pytest.raises(IndexError, match=_text("ids", "[1, 0]", 7)):
        fastembed.lookup(q, IDS)
    with pytest.raises(IndexError, match=_text("ids", "[1, 0]", 7)):
        fastembed.lookup_bag(q, IDS)


def test_row_sparse_grad():
    with pytest.raises(IndexError, match=_text("indices", "[1]", 9)):
        RowSparseGrad(np.array([0, 9, 10]), np.ones((3, DIM)), N_ROWS)


def test_layer_call():
    layer = fastembed.Embedding(N_ROWS, DIM)
    with pytest.raises(IndexError, match=_text("ids", "[1, 0]", 7)):
        layer(IDS)
