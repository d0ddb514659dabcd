"""Keras-compatible weight initializers (Keras 3 names, arguments, defaults and formulas).

Every random initializer draws from a counter-based generator: element ``i`` of the
flattened output depends only on ``(seed, i)``, so a seeded initializer gives the same
table for any thread count. ``seed=None`` draws a fresh seed from the OS when the
initializer is built (not reproducible, as in Keras; calling the same instance twice gives
the same values, as Keras 3's stateless draws do).

    init = fastembed.initializers.get("glorot_uniform", seed=42)
    table = init((input_dim, output_dim), "float32")
"""
import math
import numbers
import operator
import secrets

import numpy as np

from fastembed import _ops_init as rng
from fastembed._arrays import F32, F64
from fastembed._registry import Configurable, Registry, plain as _plain
from fastembed._threads import resolve as _resolve_threads
from fastembed._validate import integer, real

__all__ = ["Initializer", "RandomUniform", "RandomNormal", "TruncatedNormal", "Zeros", "Ones",
           "Constant", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
           "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal", "get", "serialize",
           "deserialize", "compute_fans"]

# Keras's stddev correction for a standard normal truncated at +-2 stddev: the stddev of
# that truncated distribution (scipy.stats.truncnorm.std(a=-2, b=2)).
TRUNCATED_STDDEV = 0.87962566103423978


# ---------------------------------------------------------------------------- arguments
def _shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, "
                        f"got {type(shape).__name__}") from None
    return tuple(integer(d, "shape", low=0) for d in dims)


def _dtype(dtype):
    if dtype is None:
        return F32  # Keras's floatx default
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in (F32, F64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _seed(seed):
    """The user's seed as given (for get_config) and the 64-bit key the generator uses."""
    if seed is None:
        return secrets.randbits(64)
    return integer(seed, "seed") & 0xFFFFFFFFFFFFFFFF  # negative seeds are valid, as in Keras


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) as Keras computes them: with both `input_axes` and `output_axes`
    the products of those axes' sizes; else a 2-D (input_dim, output_dim) shape gives
    (shape[0], shape[1]); 1-D (n, n); scalars (1, 1); higher ranks treat the leading axes
    as a receptive field."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        try:
            fan_in = math.prod(shape[a] for a in input_axes)
            fan_out = math.prod(shape[a] for a in output_axes)
        except IndexError:
            raise ValueError(f"input_axes {list(input_axes)} or output_axes {list(output_axes)} "
                             f"name an axis a shape of rank {len(shape)} does not have") from None
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


def _axes(axes, name):
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = [axes]
    try:
        out = [operator.index(a) for a in axes]
    except TypeError:
        raise TypeError(f"{name} must be a list of ints or None, got {axes!r}") from None
    if any(isinstance(a, bool) for a in axes):
        raise TypeError(f"{name} must be a list of ints or None, got {axes!r}")
    return out


# ---------------------------------------------------------------------------- the fills
_fill = rng.fill  # (kind, shape, dtype, a, b, key, num_threads): one call into C


# ---------------------------------------------------------------------------- classes
class Initializer(Configurable):
    """Base class: ``init(shape, dtype="float32", *, num_threads=None) -> ndarray``."""

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        raise NotImplementedError


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self._key = _seed(seed)
        self.seed = _plain(seed)

    def get_config(self):
        return {"seed": self.seed}


class RandomUniform(_Seeded):
    """Uniform draws in ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        lo, hi = real(minval, "minval"), real(maxval, "maxval")
        if not lo < hi:
            raise ValueError(f"minval must be less than maxval, got minval={minval}, "
                             f"maxval={maxval}")
        if not math.isfinite(hi - lo):
            raise ValueError(f"maxval - minval must be a finite float64, got minval={minval}, "
                             f"maxval={maxval}")
        super().__init__(seed)
        self.minval, self.maxval = _plain(minval), _plain(maxval)

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        return _fill(rng.UNIFORM, _shape(shape), _dtype(dtype), float(self.minval), float(self.maxval),
                     self._key, num_threads)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    """Normal draws with `mean` and `stddev`."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        real(mean, "mean")
        real(stddev, "stddev", low=0)
        super().__init__(seed)
        self.mean, self.stddev = _plain(mean), _plain(stddev)

    _kind = rng.NORMAL

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        return _fill(self._kind, _shape(shape), _dtype(dtype), float(self.mean),
                     float(self.stddev), self._key, num_threads)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal draws with `mean` and `stddev`; a draw more than 2 stddev from the mean is
    drawn again (so `stddev` is that of the untruncated distribution, as in Keras)."""

    _kind = rng.TRUNCATED


class Zeros(Initializer):
    # np.zeros: calloc'd pages are zero already; they are touched when first written
    def __call__(self, shape, dtype="float32", *, num_threads=None):
        _resolve_threads(num_threads)
        return np.zeros(_shape(shape), _dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype="float32", *, num_threads=None):
        return _fill(rng.CONSTANT, _shape(shape), _dtype(dtype), 1.0, 0.0, 0, num_threads)


class Constant(Initializer):
    """Every element `value` (a scalar)."""

    def __init__(self, value=0.0):
        real(value, "value")
        self.value = _plain(value)

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        return _fill(rng.CONSTANT, _shape(shape), _dtype(dtype), float(self.value), 0.0, 0, num_threads)

    def get_config(self):
        return {"value": self.value}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Seeded):
    """Keras's VarianceScaling: ``n`` = fan_in, fan_out or their mean (per `mode`, at
    least 1); "truncated_normal" draws with stddev ``sqrt(scale / n) / 0.8796...`` cut at 2
    stddev, "untruncated_normal" with ``sqrt(scale / n)``, "uniform" in
    ``[-sqrt(3 scale / n), sqrt(3 scale / n))``. "normal" means "truncated_normal"."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        real(scale, "scale", low=0, low_open=True)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if not isinstance(distribution, str):
            raise TypeError(f"distribution must be a string, got {type(distribution).__name__}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {_DISTRIBUTIONS + ('normal',)}, "
                             f"got {distribution!r}")
        input_axes, output_axes = _axes(input_axes, "input_axes"), _axes(output_axes, "output_axes")
        super().__init__(seed)
        self.scale, self.mode, self.distribution = _plain(scale), mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes

    def _axes_config(self):
        # Keras >= 3.10 writes both keys; older Keras rejects them, so only when set
        if self.input_axes is None and self.output_axes is None:
            return {}
        return {"input_axes": self.input_axes, "output_axes": self.output_axes}

    def _parameter(self, shape):
        """The stddev (normal distributions) or limit (uniform) for `shape`."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = float(self.scale) / max(1.0, n)
        if self.distribution == "truncated_normal":
            return math.sqrt(scale) / TRUNCATED_STDDEV
        if self.distribution == "untruncated_normal":
            return math.sqrt(scale)
        return math.sqrt(3.0 * scale)

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        p = self._parameter(shape)
        if self.distribution == "uniform":
            return _fill(rng.UNIFORM, shape, dtype, -p, p, self._key, num_threads)
        kind = rng.TRUNCATED if self.distribution == "truncated_normal" else rng.NORMAL
        return _fill(kind, shape, dtype, 0.0, p, self._key, num_threads)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, **self._axes_config()}


def _variance_scaling_preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution,
                                 seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, **self._axes_config()}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


# family: (scale, mode, the uniform's limit, the truncated normal's stddev after truncation)
_PRESET_FAMILIES = {
    "Glorot": (1.0, "fan_avg", "sqrt(6 / (fan_in + fan_out))", "sqrt(2 / (fan_in + fan_out))"),
    "He": (2.0, "fan_in", "sqrt(6 / fan_in)", "sqrt(2 / fan_in)"),
    "Lecun": (1.0, "fan_in", "sqrt(3 / fan_in)", "sqrt(1 / fan_in)"),
}
GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal = (
    _variance_scaling_preset(family + kind, scale, mode, distribution, doc)
    for family, (scale, mode, limit, stddev) in _PRESET_FAMILIES.items()
    for kind, distribution, doc in (
        ("Uniform", "uniform", f"Uniform in [-limit, limit), limit = {limit}."),
        ("Normal", "truncated_normal", f"Truncated normal, stddev = {stddev} (after truncation)."),
    ))


class Orthogonal(_Seeded):
    """An orthogonal matrix times `gain`: Q of the QR decomposition of a standard normal
    (max(rows, cols), min(rows, cols)) matrix, columns multiplied by the signs of R's
    diagonal (Keras's correction), transposed when rows < cols. Shapes of rank > 2 are
    treated as (prod(shape[:-1]), shape[-1])."""

    def __init__(self, gain=1.0, seed=None):
        real(gain, "gain")
        super().__init__(seed)
        self.gain = _plain(gain)

    def __call__(self, shape, dtype="float32", *, num_threads=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {shape}")
        n_rows = math.prod(shape[:-1])
        n_cols = shape[-1]
        flat = (max(n_rows, n_cols), min(n_rows, n_cols))
        a = _fill(rng.NORMAL, flat, F64, 0.0, 1.0, self._key, num_threads)
        if a.size == 0:
            return np.zeros(shape, dtype)
        q, r = np.linalg.qr(a)
        d = np.sign(np.diag(r))
        q *= np.where(d == 0, 1.0, d)
        if n_rows < n_cols:
            q = q.T
        return np.ascontiguousarray((float(self.gain) * q).reshape(shape), dtype=dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


# ---------------------------------------------------------------------------- registry
_CLASSES = (RandomUniform, RandomNormal, TruncatedNormal, Zeros, Ones, Constant,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal)
_NAMES = {
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "OrthogonalInitializer": Orthogonal,
}
_NAMES.update({cls.__name__: cls for cls in _CLASSES})


def _make(factory, seed=None):
    """A named initializer: built with `seed` when its class takes one."""
    return factory(seed=seed) if issubclass(factory, _Seeded) else factory()


_REGISTRY = Registry("initializer", Initializer, _NAMES, make=_make)


def get(identifier, seed=None):
    """An initializer from a name, a Keras-serialized dict, an instance or a callable.

    Parameters
    ----------
    identifier : None, str, dict, Initializer or callable
        None gives None; a string (snake_case or Keras CamelCase) a new instance, built
        with `seed` when the class takes one (so is an Initializer class);
        ``{"class_name": ..., "config": {...}}``
        (``"module"`` and ``"registered_name"`` keys are ignored) the instance it
        describes; an instance or any other callable is returned as it is.
    seed : int, optional
        Seed for an initializer built from a string.

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones).
    TypeError
        Any other kind of identifier.
    """
    return _REGISTRY.get(identifier, seed=seed)


def serialize(initializer):
    """Keras 3's serialized form: ``{"module": "keras.initializers", "class_name": ...,
    "config": ..., "registered_name": None}`` (JSON-serialisable); None for None."""
    return _REGISTRY.serialize(initializer)


def deserialize(config):
    """An initializer from a name or Keras's serialized dict (see `get`)."""
    return _REGISTRY.deserialize(config)
