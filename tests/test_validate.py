"""The one argument rule (fastembed._validate): wrong type -> TypeError, bad value ->
ValueError, the message naming the argument; pinned on the module and on one argument of
every public class and op that checks a real number or an integer."""
import decimal
import fractions

import numpy as np
import pytest

import fastembed
from fastembed import _validate, constraints, initializers, optimizers, regularizers
from fastembed.layer import Embedding
from fastembed.sparse import RowSparseGrad

WRONG_TYPE = [True, False, np.bool_(True), "0.5", None, 0.5j, decimal.Decimal("0.5"),
              np.array(0.5), np.array([0.5]), [0.5]]
REALS = [0.5, 1, np.float32(0.5), np.float64(0.5), np.float16(0.5), np.int64(1), np.uint8(1),
         fractions.Fraction(1, 2)]


@pytest.mark.parametrize("value", WRONG_TYPE)
def test_real_wrong_type_is_type_error(value):
    with pytest.raises(TypeError, match="alpha"):
        _validate.real(value, "alpha")


@pytest.mark.parametrize("value", REALS)
def test_real_accepts_python_and_numpy_reals(value):
    out = _validate.real(value, "alpha")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [float("nan"), np.float32("nan")])
def test_nan_is_a_bad_value_even_when_infinities_are_allowed(value):
    for finite in (True, False):
        with pytest.raises(ValueError, match="alpha must not be NaN"):
            _validate.real(value, "alpha", finite=finite)


def test_infinity_only_where_allowed():
    for v in (np.inf, -np.inf, float("inf")):
        with pytest.raises(ValueError, match="alpha must be finite"):
            _validate.real(v, "alpha")
    assert _validate.real(np.inf, "alpha", finite=False) == np.inf


def test_bounds_open_and_closed():
    assert _validate.real(0, "a", low=0) == 0.0
    with pytest.raises(ValueError, match="a must be > 0"):
        _validate.real(0, "a", low=0, low_open=True)
    assert _validate.real(1, "a", high=1) == 1.0
    with pytest.raises(ValueError, match="a must be < 1"):
        _validate.real(1, "a", high=1, high_open=True)
    with pytest.raises(ValueError, match="a must be >= 0"):
        _validate.real(-1e-300, "a", low=0)


@pytest.mark.parametrize("value", [True, np.bool_(False), 2.0, np.float64(2), "2", None,
                                   np.array(2)])
def test_integer_wrong_type_is_type_error(value):
    with pytest.raises(TypeError, match="count"):
        _validate.integer(value, "count")


def test_integer_values():
    assert _validate.integer(np.int32(3), "count") == 3
    assert type(_validate.integer(np.uint64(3), "count")) is int
    with pytest.raises(ValueError, match="count must be >= 1"):
        _validate.integer(0, "count", low=1)
    with pytest.raises(ValueError, match="count must be <= 2"):
        _validate.integer(3, "count", high=2)


def test_flag():
    assert _validate.flag(np.bool_(True), "f") is True
    for bad in (1, 0, "True", None):
        with pytest.raises(TypeError, match="f must be True or False"):
            _validate.flag(bad, "f")


# Every public place that takes a real number follows the rule: a string is a TypeError, a
# NaN a ValueError, with the argument's name in the message.
REAL_ARGUMENTS = [
    (lambda v: initializers.RandomUniform(maxval=v), "maxval"),
    (lambda v: initializers.RandomNormal(stddev=v), "stddev"),
    (lambda v: initializers.Constant(v), "value"),
    (lambda v: initializers.VarianceScaling(scale=v), "scale"),
    (lambda v: initializers.Orthogonal(gain=v), "gain"),
    (lambda v: constraints.MaxNorm(max_value=v), "max_value"),
    (lambda v: constraints.MinMaxNorm(rate=v), "rate"),
    (lambda v: regularizers.L1(v), "l1"),
    (lambda v: regularizers.L1L2(l2=v), "l2"),
    (lambda v: optimizers.SGD(v), "learning_rate"),
    (lambda v: optimizers.Adam(beta_1=v), "beta_1"),
    (lambda v: optimizers.FTRL(beta=v), "beta"),
    (lambda v: Embedding(4, 2, dropout=v), "dropout"),
    (lambda v: fastembed.renorm_(np.ones((2, 2)), np.array([0]), v), "max_norm"),
    (lambda v: fastembed.renorm_(np.ones((2, 2)), np.array([0]), 1.0, norm_type=v),
     "norm_type"),
]


@pytest.mark.parametrize("make, name", REAL_ARGUMENTS)
def test_every_real_argument_follows_the_rule(make, name):
    for bad in ("0.5", True, [0.5]):  # (None means the default in some places)
        with pytest.raises(TypeError, match=name):
            make(bad)
    with pytest.raises(ValueError, match=name):
        make(float("nan"))
    make(np.float32(0.5))  # NumPy scalars are real numbers


INT_ARGUMENTS = [
    (lambda v: Embedding(v, 2), "input_dim"),
    (lambda v: Embedding(4, v), "output_dim"),
    (lambda v: Embedding(4, 2, seed=v), "seed"),
    (lambda v: Embedding(4, 2, input_length=v), "input_length"),
    (lambda v: constraints.MaxNorm(axis=v), "axis"),
    (lambda v: RowSparseGrad(np.array([0]), np.ones((1, 2)), v), "n_rows"),
    (lambda v: fastembed.accumulate(np.array([0]), np.ones((1, 2)), v), "n_rows"),
    (lambda v: fastembed.lookup(np.ones((2, 2)), np.array([0]), num_threads=v), "num_threads"),
    (lambda v: initializers.Zeros()((2, v)), "shape"),
]


@pytest.mark.parametrize("make, name", INT_ARGUMENTS)
def test_every_integer_argument_follows_the_rule(make, name):
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError, match=name):
            make(bad)
    with pytest.raises(ValueError, match=name):
        make(-5)
    make(np.int64(1))  # NumPy integer scalars are integers


def test_initializer_seed_is_any_integer():
    assert initializers.RandomUniform(seed=-5).seed == -5  # negative seeds are valid (Keras)
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError, match="seed"):
            initializers.RandomUniform(seed=bad)


def test_set_num_threads_follows_the_rule():
    try:
        for bad in (1.0, "1", True):
            with pytest.raises(TypeError, match="n must be an integer"):
                fastembed.set_num_threads(bad)
        with pytest.raises(ValueError, match="n must be >= 1"):
            fastembed.set_num_threads(0)
        fastembed.set_num_threads(np.int64(1))
        assert fastembed.get_num_threads() == 1
    finally:
        fastembed.set_num_threads(None)
