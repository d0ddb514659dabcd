"""The functional kernels: argument policy here, the work in C (fastembed._kernels)."""
import numpy as np

from fastembed import _kernels
from fastembed._arrays import (BAG_MODES, as_ids, as_table, as_weights_for, bag_bounds,
                               bag_mode, check_out)
from fastembed._threads import resolve as _resolve_threads

__all__ = ["lookup", "lookup_bag"]


def lookup(weights, ids, *, out=None, num_threads=None):
    """Gather rows of an embedding table: ``weights[ids]``, bounds-checked and parallel.

    Parameters
    ----------
    weights : array_like, shape (n_rows, dim), float32 or float64
        The table. Rows may be strided (used in place); a table whose rows are not each
        contiguous, or that is misaligned or byte-swapped, is copied first.
    ids : array_like of integers, any shape
        Row ids, each in ``[0, n_rows)``. int32 and int64 are used without a copy when
        C-contiguous; other integer dtypes are converted with a range check.
    out : ndarray, shape ``ids.shape + (dim,)``, optional
        Destination, same dtype as `weights`, C-contiguous, writable, sharing no memory
        with the inputs. Left unchanged when the call raises.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    ndarray, shape ``ids.shape + (dim,)``, dtype of `weights`
        Bit-identical to ``weights[ids]``.

    Raises
    ------
    IndexError
        An id is negative or ``>= n_rows``; the message names the first such position.
    TypeError
        `weights` is not float32/float64, or `ids` is not an integer array.
    ValueError
        `weights` is not 2-D, or `out` has the wrong shape or layout or overlaps an input.
    """
    table = as_table(weights)
    idx, original = as_ids(ids)
    n_threads = _resolve_threads(num_threads)
    shape = idx.shape + (table.shape[1],)
    if out is None:
        out = np.empty(shape, table.dtype)
    else:
        check_out(out, shape, table.dtype, (table, idx, original, weights))
    _kernels.lookup(table, idx, out, n_threads, original)  # flat C-contiguous buffers
    return out


def lookup_bag(weights, ids, offsets=None, *, mode="sum", per_sample_weights=None,
               padding_idx=None, include_last_offset=False, out=None, num_threads=None):
    """Pooled lookup (``torch.nn.functional.embedding_bag`` semantics, plus "sqrtn").

    Parameters
    ----------
    weights : array_like, shape (n_rows, dim), float32 or float64
    ids : array_like of integers, 1-D with `offsets`, or 2-D (each row one bag)
    offsets : array_like of integers, 1-D, optional
        Start of each bag in `ids` (``offsets[0] == 0``, non-decreasing, at most
        ``len(ids)``); with ``include_last_offset=True`` the last entry is ``len(ids)`` and
        ends the last bag. Must be None for 2-D ids.
    mode : {"sum", "mean", "max", "sqrtn"}
        "sqrtn" is TensorFlow's combiner: the (weighted) sum over ``sqrt(sum(w**2))``.
    per_sample_weights : array_like, shaped like `ids`, optional
        Weights of each id for "sum", "mean" (``sum(w*e) / sum(w)``) and "sqrtn"; cast to
        the table's dtype. Not allowed with "max".
    padding_idx : int, optional
        Entries equal to it are skipped and do not count in a mean. Negative values count
        from the end, as in torch.
    out : ndarray or writable CPU buffer, shape (n_bags, dim), optional
    num_threads : int, optional

    Returns
    -------
    ndarray, shape (n_bags, dim), dtype of `weights`
        A bag with no (non-padding) ids gives zeros. Sums run in double in id order and are
        rounded once (float32 tables get float64-accurate bags, for any thread count);
        "max" keeps the first maximum and propagates NaN as ``np.max`` does.

    Raises
    ------
    IndexError
        An id is out of range (the message names the first one).
    TypeError
        Non-float table, non-integer ids or offsets.
    ValueError
        Bad mode, malformed offsets, ids neither 1-D nor 2-D, per_sample_weights of the
        wrong shape or with "max", `out` of the wrong shape or overlapping an input.
    """
    table = as_table(weights)
    idx, original = as_ids(ids)
    code = bag_mode(mode)
    bounds = bag_bounds(idx, offsets, include_last_offset)
    n_bags = bounds.shape[0] - 1
    psw = None
    if per_sample_weights is not None:
        if code == BAG_MODES["max"]:
            raise ValueError('per_sample_weights are not supported with mode="max"')
        psw = as_weights_for(per_sample_weights, idx, table.dtype)
    pad = _padding(padding_idx, table.shape[0])
    n_threads = _resolve_threads(num_threads)
    shape = (n_bags, table.shape[1])
    if out is None:
        out = dest = np.empty(shape, table.dtype)
    else:
        dest = check_out(out, shape, table.dtype,
                         (table, idx, original, weights, bounds, psw, per_sample_weights))
    _kernels.lookup_bag(table, idx, bounds, code, psw, pad, dest, n_threads, original)
    return out


def _padding(padding_idx, n_rows):
    """torch's padding_idx rule: None, or an int in [-n_rows, n_rows), negative from the end.
    Returns the row, or -1 for none."""
    if padding_idx is None:
        return -1
    if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"padding_idx must be an int or None, got {type(padding_idx).__name__}")
    p = int(padding_idx)
    if not -n_rows <= p < n_rows:
        raise ValueError(f"padding_idx = {p} must be within [-{n_rows}, {n_rows}) "
                         f"for a table of {n_rows} rows")
    return p + n_rows if p < 0 else p
