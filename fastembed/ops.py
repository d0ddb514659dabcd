"""The functional kernels: argument policy here, the work in C (fastembed._kernels)."""
import numpy as np

from fastembed import _kernels
from fastembed._arrays import as_ids, as_table, check_out
from fastembed._threads import resolve as _resolve_threads

__all__ = ["lookup"]


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
    out : ndarray or writable CPU buffer, shape ``ids.shape + (dim,)``, optional
        Destination, same dtype as `weights`, C-contiguous, writable, sharing no memory
        with the inputs; a torch tensor or other DLPack/buffer-protocol object is written
        in place and returned as it is. Left unchanged when the call raises.
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
        out = dest = np.empty(shape, table.dtype)
    else:  # returned as given (a torch tensor stays one); written through a view
        dest = check_out(out, shape, table.dtype, (table, idx, original, weights))
    _kernels.lookup(table, idx, dest, n_threads, original)  # flat C-contiguous buffers
    return out
