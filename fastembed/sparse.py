"""Row-sparse gradients: the result of `fastembed.accumulate` and the input of the sparse
optimizers."""
import numpy as np

from fastembed import _kernels
from fastembed._arrays import I64, as_array, as_float, check_out
from fastembed._errors import index_error
from fastembed._threads import resolve as _resolve_threads
from fastembed._validate import integer

__all__ = ["RowSparseGrad"]


class RowSparseGrad:
    """A gradient with respect to an (n_rows, dim) table that is zero outside a few rows.

    Parameters
    ----------
    indices : array_like of integers, shape (nnz,)
        The rows that carry a gradient: strictly increasing, each in ``[0, n_rows)``. Stored
        as int64 (copied when given another dtype or layout).
    values : array_like, shape (nnz, dim), float32 or float64
        ``values[k]`` is the gradient of row ``indices[k]``. Used without a copy when it is
        already a C-contiguous, aligned, native-endian float32/float64 array.
    n_rows : int
        Rows of the table the gradient belongs to (>= 0).

    Raises
    ------
    TypeError
        `indices` is not an integer array or `values` not float32/float64.
    ValueError
        Shapes disagree, `n_rows` is negative, or `indices` are not strictly increasing.
    IndexError
        An index is outside ``[0, n_rows)``.

    Attributes
    ----------
    indices : ndarray, int64, shape (nnz,)
    values : ndarray, shape (nnz, dim)
    n_rows : int
    """

    __slots__ = ("indices", "values", "n_rows")

    def __init__(self, indices, values, n_rows):
        n_rows = integer(n_rows, "n_rows", low=0)
        idx = as_array(indices, "indices")
        if idx.size == 0 and idx.dtype.kind == "f":
            idx = idx.astype(np.int64)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
        vals = as_float(values, "values", ndim=2)  # (nnz, dim)
        if vals.shape[0] != idx.shape[0]:
            raise ValueError(f"values has {vals.shape[0]} rows but there are {idx.shape[0]} "
                             "indices")
        if idx.size:
            bad = np.flatnonzero((idx < 0) | (idx >= n_rows))
            if bad.size:
                k = int(bad[0])
                raise index_error("indices", idx, k, n_rows)
            steps = np.flatnonzero(np.diff(idx) <= 0)
            if steps.size:
                k = int(steps[0]) + 1
                raise ValueError(f"indices must be strictly increasing (sorted, unique): "
                                 f"indices[{k}] = {int(idx[k])} follows {int(idx[k - 1])}")
        if not (idx.dtype is I64 and idx.flags.c_contiguous and idx.flags.aligned):
            idx = np.array(idx, dtype=np.int64, order="C", copy=True)
        self.indices, self.values, self.n_rows = idx, vals, n_rows

    @classmethod
    def _trusted(cls, indices, values, n_rows):
        """Wrap arrays that fastembed built and that hold the invariants (no checks)."""
        self = object.__new__(cls)
        self.indices, self.values, self.n_rows = indices, values, int(n_rows)
        return self

    @property
    def shape(self):
        """(n_rows, dim): the shape of the dense gradient."""
        return (self.n_rows, self.values.shape[1])

    @property
    def nnz(self):
        """Number of rows that carry a gradient."""
        return int(self.indices.shape[0])

    @property
    def dtype(self):
        return self.values.dtype

    def __repr__(self):
        return (f"RowSparseGrad(n_rows={self.n_rows}, dim={self.values.shape[1]}, "
                f"nnz={self.nnz}, dtype={self.values.dtype})")

    def to_dense(self, out=None, *, num_threads=None):
        """The dense (n_rows, dim) gradient: zeros except ``out[indices] = values``.

        Parameters
        ----------
        out : ndarray, shape (n_rows, dim), optional
            Destination of the values' dtype, C-contiguous, writable, sharing no memory with
            `indices` or `values`; every element is overwritten.
        num_threads : int, optional
            Threads for the parallel scatter; default `fastembed.get_num_threads()`.

        Returns
        -------
        ndarray, shape (n_rows, dim)
        """
        n_threads = _resolve_threads(num_threads)
        if out is None:
            out = np.empty(self.shape, self.values.dtype)
        else:
            check_out(out, self.shape, self.values.dtype, (self.indices, self.values))
        _kernels.scatter_rows(self.values, self.indices, self.n_rows, out, n_threads)
        return out

    def to_scipy(self):
        """The gradient as a ``scipy.sparse.csr_array`` of shape (n_rows, dim) whose stored
        entries are the full rows `indices` (explicit zeros included)."""
        from scipy import sparse

        nnz, dim = self.values.shape
        counts = np.zeros(self.n_rows + 1, np.int64)
        counts[self.indices + 1] = dim
        indptr = np.cumsum(counts)
        cols = np.tile(np.arange(dim, dtype=np.int64), nnz)
        return sparse.csr_array((self.values.reshape(-1).copy(), cols, indptr),
                                shape=self.shape)

    def __add__(self, other):
        """The merged gradient: rows in both are added (``self + other``); the result equals
        ``self.to_dense() + other.to_dense()`` bit for bit on every row."""
        if not isinstance(other, RowSparseGrad):
            return NotImplemented
        if self.shape != other.shape:
            raise ValueError(f"cannot add RowSparseGrad of shape {self.shape} and {other.shape}")
        dtype = np.result_type(self.values.dtype, other.values.dtype)
        a, b = self.indices, other.indices
        union = np.union1d(a, b)
        pa, pb = np.searchsorted(union, a), np.searchsorted(union, b)
        values = np.zeros((union.shape[0], self.values.shape[1]), dtype)
        values[pa] = self.values
        values[pb] += other.values           # rows in both: a + b; only in other: 0 + b
        in_b = np.zeros(union.shape[0], bool)
        in_b[pb] = True
        only_a = pa[~in_b[pa]]
        values[only_a] += dtype.type(0)      # only in self: a + 0, as the dense sum has it
        return RowSparseGrad._trusted(union.astype(np.int64, copy=False), values, self.n_rows)

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:  # sum([g1, g2, ...]) starts from 0
            return self
        return NotImplemented

