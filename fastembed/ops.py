"""The functional kernels: argument policy here, the work in C (fastembed._kernels)."""
import math
import operator

import numpy as np

from fastembed import _kernels
from fastembed._arrays import as_array, as_ids, as_table, check_out
from fastembed._threads import resolve as _resolve_threads

__all__ = ["lookup", "accumulate", "renorm_"]


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


def _n_rows_arg(n_rows):
    try:
        n = operator.index(n_rows)
    except TypeError:
        raise TypeError(f"n_rows must be an integer, got {type(n_rows).__name__}") from None
    if n < 1:
        raise ValueError(f"n_rows must be >= 1, got {n}")
    return n


def _grad_rows(grad_output, ids_shape):
    """grad_output as a C-contiguous, aligned, native (n_ids, dim) float32/float64 array
    (no copy when it already is one), after checking its shape is ``ids_shape + (dim,)``."""
    g = as_array(grad_output, "grad_output")
    if g.dtype.kind != "f" or g.dtype.itemsize not in (4, 8):
        raise TypeError(f"grad_output must be float32 or float64, got {g.dtype}")
    if g.ndim != len(ids_shape) + 1 or g.shape[:-1] != tuple(ids_shape):
        raise ValueError(f"grad_output must have shape ids.shape + (dim,) = "
                         f"{tuple(ids_shape) + ('dim',)}, got {g.shape}")
    if not (g.dtype.isnative and g.flags.c_contiguous and g.flags.aligned):
        g = np.array(g, dtype=g.dtype.newbyteorder("="), order="C", copy=True)
    return g.reshape(math.prod(ids_shape), g.shape[-1])


def accumulate(ids, grad_output, n_rows, *, padding_idx=None, scale_grad_by_freq=False,
               num_threads=None):
    """The gradient of `lookup` with respect to the table, as a row-sparse gradient.

    For every distinct id, the sum of the `grad_output` rows at its positions, added in
    input order into zeros: bit-identical to ``np.add.at(zeros, ids, grad_output)`` on the
    touched rows, for any thread count. O(len(ids)): a parallel radix grouping of the ids,
    then each thread sums the rows of the ids it owns.

    Parameters
    ----------
    ids : array_like of integers, any shape
        The ids of the forward `lookup`, each in ``[0, n_rows)``.
    grad_output : array_like, shape ``ids.shape + (dim,)``, float32 or float64
        Gradient of the loss with respect to the lookup's output.
    n_rows : int
        Rows of the table (>= 1).
    padding_idx : int, optional
        An id whose row gets no gradient (it is absent from the result). Negative values
        count from the end (``padding_idx + n_rows``), as in PyTorch.
    scale_grad_by_freq : bool, default False
        Divide each row's sum by the number of times its id occurs in `ids` (PyTorch's
        ``scale_grad_by_freq``; the division follows the in-order sum).
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    RowSparseGrad
        ``indices`` (int64, sorted, unique), ``values`` (nnz, dim) of grad_output's dtype.

    Raises
    ------
    IndexError
        An id is negative or ``>= n_rows``; the message names the first such position.
    TypeError
        `ids` is not an integer array or `grad_output` not float32/float64.
    ValueError
        `grad_output`'s shape is not ``ids.shape + (dim,)``, ``n_rows < 1``, or
        `padding_idx` is outside ``[-n_rows, n_rows)``.
    """
    from fastembed.sparse import RowSparseGrad

    idx, original = as_ids(ids)
    n = _n_rows_arg(n_rows)
    grad = _grad_rows(grad_output, idx.shape)
    pad = -1
    if padding_idx is not None:
        try:
            pad = operator.index(padding_idx)
        except TypeError:
            raise TypeError(f"padding_idx must be an integer or None, got "
                            f"{type(padding_idx).__name__}") from None
        if not -n <= pad < n:
            raise ValueError(f"padding_idx must be in [-{n}, {n}), got {pad}")
        pad = pad + n if pad < 0 else pad
    n_threads = _resolve_threads(num_threads)
    indices, values = _kernels.accumulate(idx, grad, n, pad, bool(scale_grad_by_freq),
                                          n_threads, original)
    return RowSparseGrad._trusted(indices, values, n)


def renorm_(weights, ids, max_norm, *, norm_type=2.0, num_threads=None):
    """Rescale, in place, every distinct row of `ids` whose norm exceeds `max_norm`.

    PyTorch's ``max_norm`` semantics (``torch.embedding_renorm_``): a row with
    ``norm_type``-norm ``> max_norm`` is multiplied by ``max_norm / (norm + 1e-7)``. Norms
    are computed in float64; each distinct row is handled once, by one thread.

    Parameters
    ----------
    weights : ndarray, shape (n_rows, dim), float32 or float64
        The table, updated in place: writable, rows contiguous, aligned, native-endian.
    ids : array_like of integers, any shape
        Rows to renormalise, each in ``[0, n_rows)``; repeats count once.
    max_norm : float
        Positive, not NaN (``inf`` changes nothing).
    norm_type : float, default 2.0
        The p of the p-norm: finite and positive.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Returns
    -------
    None

    Raises
    ------
    IndexError
        An id is out of range (first bad position named); nothing is written.
    TypeError
        `weights` not float32/float64 or `ids` not integers.
    ValueError
        `weights` is read-only, not 2-D or its rows are not contiguous; `max_norm` not
        positive or NaN; `norm_type` not a finite positive number. Nothing is written.
    """
    table = as_table(weights, writable=True)
    idx, original = as_ids(ids)
    try:
        max_norm = float(max_norm)
        norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise TypeError("max_norm and norm_type must be real numbers") from None
    if not max_norm > 0.0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    if not (math.isfinite(norm_type) and norm_type > 0.0):
        raise ValueError(f"norm_type must be a finite positive number, got {norm_type}")
    n_threads = _resolve_threads(num_threads)
    _kernels.renorm(table, idx, max_norm, norm_type, n_threads, original)
