"""Checking scalar arguments: one rule for every public class and op.

The rule: an argument of the wrong TYPE raises TypeError, an argument of the right type
with a bad VALUE raises ValueError; the message names the argument.

What counts as a real number: any ``numbers.Real`` (Python int and float,
``fractions.Fraction``, NumPy's integer and floating scalars). Not one: ``bool`` and
``np.bool_`` (a flag passed where a number belongs is a mistake, as in NumPy's
``operator.index`` rules), strings (no parsing), ``complex``, ``decimal.Decimal`` (not a
``numbers.Real``), arrays of any shape including 0-d, None. NaN is never a valid value;
infinities are rejected unless the caller allows them (``finite=False``).

What counts as an integer: any ``numbers.Integral`` except bool (Python int, NumPy integer
scalars); floats, even 2.0, are the wrong type.
"""
import math
import numbers

import numpy as np

__all__ = ["real", "integer", "flag"]

_BOOLS = (bool, np.bool_)


def _type_name(value):
    return type(value).__name__


def _bounds(v, name, low, high, low_open, high_open):
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {v}")


def real(value, name, *, low=None, high=None, low_open=False, high_open=False, finite=True):
    """`value` as a Python float, checked.

    TypeError if `value` is not a real number (see the module docstring); ValueError if it
    is NaN, infinite (unless ``finite=False``), or outside ``[low, high]`` (an end is open
    where `low_open` / `high_open` say so).
    """
    if isinstance(value, _BOOLS) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_type_name(value)} {value!r}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    if finite and math.isinf(v):
        raise ValueError(f"{name} must be finite, got {v}")
    _bounds(v, name, low, high, low_open, high_open)
    return v


def integer(value, name, *, low=None, high=None):
    """`value` as a Python int, checked: TypeError if not an integer (bool and floats are
    not), ValueError if outside ``[low, high]``."""
    if type(value) is not int:  # (the common case skips the ABC checks: a hot path)
        if isinstance(value, _BOOLS) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {_type_name(value)} {value!r}")
        value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        _bounds(value, name, low, high, False, False)
    return value


def flag(value, name):
    """`value` as a Python bool: TypeError unless it is ``bool`` or ``np.bool_``."""
    if not isinstance(value, _BOOLS):
        raise TypeError(f"{name} must be True or False, got {_type_name(value)} {value!r}")
    return bool(value)
