"""Constraint ops: Keras's row and column projections of a table, in place, in C.

`rows` projects the distinct rows of an id list (one call: grouping, id check and the
projection); `table` projects every row or column. The kinds are the extension's.
"""
import functools

from fastembed import _kernels
from fastembed._arrays import U16, as_ids, as_table, is_bfloat16
from fastembed._errors import index_error
from fastembed._threads import resolve as _resolve_threads

__all__ = ["NONNEG", "MAXNORM", "UNITNORM", "MINMAXNORM", "project"]

NONNEG, MAXNORM, UNITNORM, MINMAXNORM = (_kernels.CONS_NONNEG, _kernels.CONS_MAXNORM,
                                         _kernels.CONS_UNITNORM, _kernels.CONS_MINMAXNORM)


def project(weights, rows, by_row, params, num_threads=None):
    """Project `weights` in place by `params` = (kind, a, b, rate): with `by_row` each row
    (only the distinct `rows` when given), else each column (then `rows`, if given, is
    checked but the whole table is projected: a column spans every row). Two-phase."""
    table = as_table(weights, writable=True, half=True)
    n_threads = _resolve_threads(num_threads)
    kind, a, b, rate = params
    if rows is not None and by_row:
        idx, original = as_ids(rows, "rows")
        _kernel("constrain_rows", table)(idx, kind, a, b, rate, n_threads, original)
        return
    if rows is not None:
        idx, original = as_ids(rows, "rows")
        bad = _kernels.first_bad_id(idx.reshape(-1), table.shape[0], n_threads)
        if bad >= 0:
            raise index_error("rows", original, bad, table.shape[0])
    _kernel("constrain_table", table)(1 if by_row else 0, kind, a, b, rate, n_threads)


def _kernel(name, table):
    """The in-place kernel `name` bound to `table`: float16/bfloat16 tables go to its half
    variant as uint16 views (math in float32, values rounded back to nearest)."""
    if table.itemsize == 2:
        return functools.partial(getattr(_kernels, name + "_half"), table.view(U16),
                                 is_bfloat16(table.dtype))
    return functools.partial(getattr(_kernels, name), table)
