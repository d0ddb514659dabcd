"""fastembed.regularizers: Keras's formulas, defaults, names and serialized forms."""
import json

import numpy as np
import pytest

from fastembed import regularizers
from fastembed.regularizers import L1, L1L2, L2


@pytest.fixture(params=[np.float32, np.float64])
def table(request, rng):
    return rng.standard_normal((300, 17)).astype(request.param)


def test_defaults():
    assert L1().l1 == 0.01 and L2().l2 == 0.01
    assert L1L2().l1 == 0.0 and L1L2().l2 == 0.0
    assert L1(None).l1 == 0.01 and L1L2(None, None).get_config() == {"l1": 0.0, "l2": 0.0}


@pytest.mark.parametrize("reg, l1, l2", [(L1(0.3), 0.3, 0.0), (L2(0.2), 0.0, 0.2),
                                         (L1L2(0.1, 0.4), 0.1, 0.4), (L1L2(), 0.0, 0.0)])
def test_keras_formulas(reg, l1, l2, table):
    w = table.astype(np.float64)
    value = reg(table)
    assert value.dtype == table.dtype
    np.testing.assert_allclose(value, l1 * np.abs(w).sum() + l2 * np.square(w).sum(),
                               rtol=1e-6)
    grad = reg.gradient(table)
    assert grad.dtype == table.dtype and grad.shape == table.shape
    np.testing.assert_allclose(grad, l1 * np.sign(w) + 2 * l2 * w, rtol=1e-6)


def test_gradient_is_the_derivative_of_the_penalty(rng):
    reg = L1L2(0.3, 0.7)
    w = rng.standard_normal((4, 5))
    h = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[i] = h
        numeric[i] = (reg(w + step) - reg(w - step)) / (2 * h)
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-5)


def test_penalty_of_a_large_float32_table_is_accurate():
    w = np.full(3_000_000, 0.1, np.float32)  # a float32 running sum would drift here
    np.testing.assert_allclose(L2(1.0)(w), 3_000_000 * np.float64(np.float32(0.1)) ** 2,
                               rtol=1e-6)


def test_sign_of_zero_is_zero():
    assert np.array_equal(L1(1.0).gradient(np.array([0.0, -2.0, 3.0])), [0.0, -1.0, 1.0])


@pytest.mark.parametrize("name, cls, config", [
    ("l1", L1, {"l1": 0.01}), ("L1", L1, {"l1": 0.01}),
    ("l2", L2, {"l2": 0.01}), ("L2", L2, {"l2": 0.01}),
    ("l1_l2", L1L2, {"l1": 0.01, "l2": 0.01}),   # tf.keras's function and its defaults
    ("l1l2", L1L2, {"l1": 0.0, "l2": 0.0}),      # Keras 3's class and its defaults
    ("L1L2", L1L2, {"l1": 0.0, "l2": 0.0}),
])
def test_names(name, cls, config):
    reg = regularizers.get(name)
    assert type(reg) is cls and reg.get_config() == config


def test_get():
    assert regularizers.get(None) is None
    reg = L2(0.5)
    assert regularizers.get(reg) is reg
    assert regularizers.get(L1) == L1()
    with pytest.raises(ValueError, match="l1_l2"):
        regularizers.get("l3")
    with pytest.raises(TypeError, match="gradient"):
        regularizers.get(lambda w: 0.0)
    with pytest.raises(TypeError):
        regularizers.get(0.01)


@pytest.mark.parametrize("reg", [L1(0.2), L2(0.3), L1L2(0.1, 0.4), L1L2()])
def test_serialize_round_trip(reg):
    data = regularizers.serialize(reg)
    assert data == {"module": "keras.regularizers", "class_name": type(reg).__name__,
                    "config": reg.get_config(), "registered_name": None}
    assert regularizers.deserialize(json.loads(json.dumps(data))) == reg
    assert regularizers.get(data) == reg
    assert type(reg).from_config(reg.get_config()) == reg
    assert regularizers.serialize(None) is None


def test_older_serialized_forms():
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.1}}) == L2(0.1)  # tf.keras 2
    keras1 = {"name": "L1L2Regularizer", "l1": 0.0, "l2": 0.01}  # Keras 1
    assert regularizers.get(keras1) == L1L2(0.0, 0.01)
    with pytest.raises(ValueError, match="valid names"):
        regularizers.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match="bad config"):
        regularizers.get({"class_name": "L2", "config": {"l1": 0.1}})


@pytest.mark.parametrize("make", [lambda v: L1(v), lambda v: L2(v), lambda v: L1L2(l1=v),
                                  lambda v: L1L2(l2=v)])
@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_factors(make, bad):
    exc = TypeError if isinstance(bad, (str, bool)) else ValueError  # fastembed._validate
    with pytest.raises(exc, match="l1|l2"):
        make(bad)


def test_equality_and_repr():
    assert L2(0.1) == L2(0.1) and L2(0.1) != L2(0.2) and L2(0.1) != L1L2(0.0, 0.1)
    assert len({L2(0.1), L2(0.1)}) == 1
    assert repr(L1L2(0.1, 0.2)) == "L1L2(l1=0.1, l2=0.2)"
