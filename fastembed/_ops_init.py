"""Random-number ops: the initializers' counter-based fills and the dropout keep mask.

Both are pure functions of a 64-bit key and an element's counter (a position, or an id),
computed in C (csrc/init.c, one call each): the hash lives there only, so a fill or a mask
is the same for any thread count and is never recomputed differently in Python.
"""
import numpy as np

from fastembed import _kernels
from fastembed._threads import resolve as _resolve_threads

__all__ = ["UNIFORM", "NORMAL", "TRUNCATED", "CONSTANT", "fill", "dropout_base",
           "dropout_key", "dropout_keep"]

UNIFORM, NORMAL, TRUNCATED, CONSTANT = (_kernels.INIT_UNIFORM, _kernels.INIT_NORMAL,
                                        _kernels.INIT_TRUNCATED, _kernels.INIT_CONSTANT)


def fill(kind, shape, dtype, a, b, key, num_threads=None):
    """A new C-contiguous array of `shape` and `dtype` (float32/float64) filled by the
    counter-based generator: UNIFORM in [a, b), NORMAL (mean a, stddev b), TRUNCATED (the
    same, redrawn beyond 2 stddev), CONSTANT a. Element i depends only on (key, i); the C
    threads first-touch the pages they fill."""
    out = np.empty(shape, dtype)
    if out.size:
        _kernels.init_fill(out.reshape(-1), kind, a, b, key, _resolve_threads(num_threads))
    return out


def dropout_base(seed):
    """A layer's 64-bit dropout key base from an integer seed (taken modulo 2**64)."""
    return _kernels.dropout_base(int(seed) & ((1 << 64) - 1))


def dropout_key(base, call):
    """The dropout key of training call number `call` of a layer with key base `base`."""
    return _kernels.dropout_key(base, call)


def dropout_keep(ids, key, rate, num_threads=None):
    """A bool array of `ids`' shape: whether each id is kept, ``draw(key, id) >= rate`` with
    draw a uniform [0, 1) function of (key, id) only, so an id gets the same decision at
    every position. `ids` is a C-contiguous int32/int64 array."""
    keep = np.empty(ids.shape, np.bool_)
    _kernels.dropout_keep(ids.reshape(-1), key, float(rate), keep.reshape(-1),
                          _resolve_threads(num_threads))
    return keep
