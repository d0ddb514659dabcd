"""Weight and activity regularizers with Keras's names, defaults and formulas.

``L1(l1=0.01)``: ``l1 * sum(|x|)``; ``L2(l2=0.01)``: ``l2 * sum(x**2)`` (no 1/2);
``L1L2(l1=0.0, l2=0.0)``: both. Each is a callable giving the penalty and has a
``gradient(x)``, ``l1 * sign(x) + 2 * l2 * x``: what `Embedding.backward` adds in "exact"
mode and what the sparse optimizers add on the touched rows in "lazy" mode.
"""
import numpy as np

from fastembed._registry import Registry
from fastembed._validate import real

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]

# Sums over a large table run in float64 over blocks of this many elements, so a float32
# table of any size is summed accurately without a float64 copy of the whole table.
_BLOCK = 1 << 16


def _float_array(x):
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return x


def _sum_abs_and_squares(x, want_abs, want_squares):
    """(sum(|x|), sum(x**2)) accumulated in float64, block by block."""
    flat = x.reshape(-1)
    total_abs = total_sq = 0.0
    for start in range(0, flat.shape[0], _BLOCK):
        block = flat[start:start + _BLOCK].astype(np.float64)
        if want_abs:
            total_abs += float(np.abs(block).sum())
        if want_squares:
            total_sq += float(np.dot(block, block))
    return total_abs, total_sq


class Regularizer:
    """Base class: a penalty ``reg(x) -> scalar`` and its gradient ``reg.gradient(x)``.

    A subclass defines ``__call__``, ``gradient`` and ``get_config``. fastembed needs the
    gradient (it does not differentiate Python code), so a plain function is not accepted
    as a regularizer.
    """

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """The gradient of the penalty with respect to `x`, shaped and typed like `x`."""
        x = _float_array(x)
        return np.zeros_like(x)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``. Keras's defaults: no penalty at all.

    Parameters
    ----------
    l1, l2 : float, default 0.0
        Non-negative, finite factors (None means 0.0, as in Keras).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = real(0.0 if l1 is None else l1, "l1", low=0.0)
        self.l2 = real(0.0 if l2 is None else l2, "l2", low=0.0)

    def __call__(self, x):
        """The penalty, a scalar of `x`'s float dtype (summed in float64)."""
        x = _float_array(x)
        total_abs, total_sq = _sum_abs_and_squares(x, self.l1 != 0.0, self.l2 != 0.0)
        return x.dtype.type(self.l1 * total_abs + self.l2 * total_sq)

    def gradient(self, x):
        """``l1 * sign(x) + 2 * l2 * x`` (sign(0) = 0, as TensorFlow's and JAX's |x|)."""
        x = _float_array(x)
        grad = np.zeros_like(x) if self.l2 == 0.0 else (2.0 * self.l2) * x
        if self.l1 != 0.0:
            grad += x.dtype.type(self.l1) * np.sign(x)
        return grad.astype(x.dtype, copy=False)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``.

    Parameters
    ----------
    l1 : float, default 0.01
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1, l2=0.0)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)`` (Keras's formula: no factor 1/2, so the gradient is ``2 * l2 * x``).

    Parameters
    ----------
    l2 : float, default 0.01
    """

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


# Keras's lowercase aliases of the classes.
l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01):  # noqa: F811  tf.keras's function, with its defaults
    """``L1L2(l1, l2)`` with tf.keras 2's defaults 0.01 and 0.01 (the string "l1_l2" too)."""
    return L1L2(l1=l1, l2=l2)


# Names a string or a serialized dict may use. "l1_l2" is tf.keras's function (0.01 and
# 0.01); "l1l2"/"L1L2" is Keras 3's class with its defaults (no penalty).
# "L1L2Regularizer" is Keras 1's serialized class name.
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1l2": L1L2,
            "l1_l2": l1_l2, "L1L2Regularizer": L1L2}


_REGISTRY = Registry("regularizer", Regularizer, _CLASSES, callables=False, keras1_dicts=True,
                     hint="pass a name, a dict or a fastembed.regularizers.Regularizer (a "
                          "plain function has no gradient fastembed could use)")


def deserialize(config):
    """A regularizer from its serialized form.

    Accepts a name (see `get`), Keras 3's ``{"module": ..., "class_name": "L2", "config":
    {"l2": 0.01}, "registered_name": ...}``, tf.keras 2's ``{"class_name": ..., "config":
    ...}`` and Keras 1's ``{"name": "L1L2Regularizer", "l1": ..., "l2": ...}``.
    """
    return _REGISTRY.deserialize(config)


def get(identifier):
    """A regularizer from None, a name, a serialized dict or an instance.

    Names: ``"l1"``, ``"l2"`` (Keras's defaults 0.01), ``"l1_l2"`` (tf.keras's function:
    0.01 and 0.01), ``"l1l2"`` (Keras 3: the class's defaults, no penalty) and the class
    names ``"L1"``, ``"L2"``, ``"L1L2"``.

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones) or a malformed dict.
    TypeError
        Anything else, including a plain function: fastembed needs the penalty's gradient,
        so a custom penalty is a `Regularizer` subclass with ``__call__`` and ``gradient``.
    """
    return _REGISTRY.get(identifier)


def serialize(regularizer):
    """Keras 3's serialized form, ``{"module": "keras.regularizers", "class_name": ...,
    "config": ..., "registered_name": None}`` (JSON-serialisable), or None for None."""
    return _REGISTRY.serialize(regularizer)
