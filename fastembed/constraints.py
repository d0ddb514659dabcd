"""Keras-compatible weight constraints (Keras 3 names, arguments, defaults and formulas).

``c(w)`` returns the projected table as Keras's ``__call__`` does; ``c.apply_(w, rows)``
projects in place. On an (input_dim, output_dim) embedding table ``axis=0`` constrains
each COLUMN (norms over all rows), exactly as Keras does, so it always takes one pass over
the whole table; ``axis=1`` (or -1) constrains each embedding row, and with `rows` given
touches only those rows. `NonNeg` is elementwise (``axis`` is None) and, with `rows`
given, touches only those rows too.

Norms are ``sqrt(sum(w**2))`` computed in float64 (column norms summed per fixed block of
rows, blocks combined in order, so they are bit-identical for any thread count); the scale
factor is rounded once to the table's dtype and applied in it, as Keras applies its factor
in the weights' dtype. Epsilon is Keras's 1e-7. The work runs in C (csrc/constraint.c).
"""
import numpy as np

from fastembed import _ops_constraint as kernel
from fastembed._arrays import as_table
from fastembed._validate import integer, real
from fastembed._registry import Configurable, Registry, plain as _plain

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "get", "serialize",
           "deserialize"]

EPSILON = 1e-7  # keras.backend.epsilon()

_NONNEG, _MAXNORM, _UNITNORM, _MINMAXNORM = (kernel.NONNEG, kernel.MAXNORM, kernel.UNITNORM,
                                              kernel.MINMAXNORM)


def _axis(axis):
    if integer(axis, "axis") not in (0, 1, -1):
        raise ValueError(f"axis must be 0 (columns of an (input_dim, output_dim) table), "
                         f"1 or -1 (rows), got {axis!r}")
    return int(axis)


class Constraint(Configurable):
    """Base class: ``c(w) -> ndarray`` and ``c.apply_(w, rows=None, *, num_threads=None)``."""

    axis = None

    def __call__(self, w):
        """The projected table, a new array of `w`'s dtype (Keras's ``__call__``)."""
        table = as_table(w, half=True)
        out = np.array(table, copy=True, order="C")
        self.apply_(out)
        return out

    def apply_(self, weights, rows=None, *, num_threads=None):
        """Project `weights` in place.

        Parameters
        ----------
        weights : ndarray, shape (input_dim, output_dim), float32 or float64
            Writable, rows contiguous, aligned, native-endian (rows may be strided).
        rows : array_like of integers, optional
            Row constraints (axis 1 or -1) and NonNeg: only the distinct rows listed are
            touched (repeats count once). Column constraints (axis 0) always take one pass
            over the whole table (column norms need every row); `rows` is still checked.
            None: the whole table.
        num_threads : int, optional
            Threads for this call; default `fastembed.get_num_threads()`.

        Raises
        ------
        IndexError
            A row out of range (its position and value named).
        TypeError
            `weights` not float32/float64, `rows` not integers.
        ValueError
            `weights` not 2-D, read-only or with non-contiguous rows.

        Every check comes before the first write: a call that raises leaves the table
        bit-identical.
        """
        self._apply(weights, rows, num_threads)

    # the four constraints share one in-place entry; subclasses give (kind, a, b, rate)
    def _params(self):
        raise NotImplementedError

    def row_projection(self):
        """(kind, a, b, rate), the C projection of one row, when this constraint acts on
        each row alone (axis 1 or -1, or NonNeg): an optimizer step then applies it to
        each row it updates, in the same call. None for a column constraint (axis 0)."""
        if self.axis == 0 or type(self)._params is Constraint._params:
            return None
        return self._params()

    def _apply(self, weights, rows, num_threads):
        # every check (here and in C's phase 1) before the first write: a call that raises
        # leaves the table bit-identical
        kernel.project(weights, rows, self.axis is None or self.axis != 0, self._params(),
                       num_threads)


class MaxNorm(Constraint):
    """``w * clip(norms, 0, max_value) / (1e-7 + norms)``: norms above `max_value` are
    brought down to it (approximately; Keras's formula)."""

    def __init__(self, max_value=2, axis=0):
        real(max_value, "max_value", low=0.0, finite=False)
        self.max_value = _plain(max_value)
        self.axis = _axis(axis)

    def _params(self):
        return _MAXNORM, float(self.max_value), 0.0, 1.0

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """``maximum(w, 0)`` (Keras 3's formula: -0.0 and negatives become +0.0, NaN stays)."""

    def _params(self):
        return _NONNEG, 0.0, 0.0, 1.0


class UnitNorm(Constraint):
    """``w / (1e-7 + norms)``."""

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def _params(self):
        return _UNITNORM, 0.0, 0.0, 1.0

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """``w * desired / (1e-7 + norms)`` with ``desired = rate * clip(norms, min_value,
    max_value) + (1 - rate) * norms``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        lo = real(min_value, "min_value", low=0.0, finite=False)
        hi = real(max_value, "max_value", low=0.0, finite=False)
        if hi < lo:
            raise ValueError(f"max_value must be >= min_value, got min_value={min_value}, "
                             f"max_value={max_value}")
        real(rate, "rate")
        self.min_value, self.max_value = _plain(min_value), _plain(max_value)
        self.rate = _plain(rate)
        self.axis = _axis(axis)

    def _params(self):
        return _MINMAXNORM, float(self.min_value), float(self.max_value), float(self.rate)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


_CLASSES = (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
_NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
          "min_max_norm": MinMaxNorm}
_NAMES.update({cls.__name__: cls for cls in _CLASSES})
_REGISTRY = Registry("constraint", Constraint, _NAMES)


def get(identifier):
    """A constraint from a name, a Keras-serialized dict, an instance or a callable.

    None gives None; a string (snake_case or CamelCase) a new instance with Keras's
    defaults; ``{"class_name": ..., "config": {...}}`` the instance it describes; an
    instance or any callable is returned as it is. Unknown names raise ValueError (listing
    the valid ones), other kinds of identifier TypeError."""
    return _REGISTRY.get(identifier)


def serialize(constraint):
    """Keras 3's serialized form: ``{"module": "keras.constraints", "class_name": ...,
    "config": ..., "registered_name": None}``; None for None."""
    return _REGISTRY.serialize(constraint)


def deserialize(config):
    """A constraint from a name or Keras's serialized dict (see `get`)."""
    return _REGISTRY.deserialize(config)
