"""The texts of the exceptions the API promises (the extension turns a C status into one:
_kernels.raise_status)."""
import numpy as np


def position(shape, flat_pos):
    """`flat_pos` in an array of `shape` written as an index: ``[3]`` or ``[1, 2]``."""
    if len(shape) == 0:
        return "[()]"
    idx = np.unravel_index(int(flat_pos), shape)
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def index_error(name, ids, flat_pos, n_rows):
    """IndexError naming the first bad position of `ids` (the caller's array), its value
    and the valid range: THE message of every kernel's bad id (raise_status, the
    constraints' column check, RowSparseGrad), so they read alike:
    ``ids[1, 0] = 7 is out of range for a table of 5 rows (valid ids: 0 <= id < 5)``."""
    if ids is None or flat_pos is None or int(flat_pos) < 0:  # a kernel that has no ids
        return IndexError(f"an id in {name} is out of range for a table of {n_rows} rows "
                          f"(valid ids: 0 <= id < {n_rows})")
    ids = np.asarray(ids)
    value = ids[np.unravel_index(int(flat_pos), ids.shape)] if ids.ndim else ids[()]
    return IndexError(
        f"{name}{position(ids.shape, flat_pos)} = {int(value)} is out of range for a table of "
        f"{n_rows} rows (valid ids: 0 <= id < {n_rows})"
    )
