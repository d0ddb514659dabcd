"""What users of Keras's Embedding rely on: a zero-width table (Keras 1 and Polyaxon document
``output_dim >= 0``), ``supports_masking`` as Keras 3 sets it, and Adagrad's epsilon in
both Keras forms."""
import numpy as np
import pytest

import fastembed
import fastembed.optimizers
from conftest import import_keras


def test_zero_width_table_is_allowed_and_works():
    layer = fastembed.Embedding(10, 0, embeddings_regularizer="l2", seed=0)
    ids = np.array([[0, 2], [9, 9]])
    out = layer(ids, training=True)
    assert out.shape == (2, 2, 0) and layer.embeddings.shape == (10, 0)
    assert layer.compute_output_shape((2, 2)) == (2, 2, 0)
    grad = layer.backward(np.zeros(out.shape, np.float32))
    assert grad.shape == (10, 0)
    fastembed.optimizers.Adagrad().apply(layer, grad)
    again = fastembed.Embedding.from_config(layer.get_config())
    assert again.output_dim == 0
    assert fastembed.from_config({"Embedding": {"input_dim": 5, "output_dim": 0}}).output_dim == 0
    with pytest.raises(ValueError, match="output_dim"):
        fastembed.Embedding(10, -1)
    with pytest.raises(ValueError, match="input_dim"):  # a table needs rows, as in Keras
        fastembed.Embedding(0, 3)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_supports_masking_is_keras3s(mask_zero):
    keras = import_keras()
    ours = fastembed.Embedding(10, 3, mask_zero=mask_zero)
    theirs = keras.layers.Embedding(10, 3, mask_zero=mask_zero)
    assert ours.supports_masking is theirs.supports_masking
    assert ours.supports_masking is mask_zero
    assert (ours.compute_mask(np.array([0, 1])) is not None) is ours.supports_masking


# ---- Adagrad's epsilon: tf.keras 2 / PyTorch form and Keras 3 form ----------------------

def adagrad_run(opt, steps=4, dtype=np.float32):
    """`opt` applied to a (6, 3) table for a few steps of sparse gradients; the table and
    the dense per-step gradients (zero on untouched rows) used."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3)).astype(dtype)
    grads = []
    for t in range(steps):
        ids = np.array([t % 6, 2, 2, 5])
        g = rng.standard_normal((4, 3)).astype(dtype)
        opt.step(w, ids, g)
        dense = np.zeros((6, 3), dtype)
        np.add.at(dense, ids, g)
        grads.append(dense)
    return w, grads


def test_adagrad_keras3_form_equals_keras3():
    keras = import_keras()
    ours = fastembed.optimizers.Adagrad(learning_rate=0.1, epsilon=0.5, epsilon_form="keras3")
    w, grads = adagrad_run(ours)
    start = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    var = keras.Variable(start)
    theirs = keras.optimizers.Adagrad(learning_rate=0.1, epsilon=0.5)
    for g in grads:  # zero rows leave Keras's weights and accumulators as they are
        theirs.apply_gradients([(g, var)])
    np.testing.assert_allclose(w, np.asarray(var.value), rtol=1e-6, atol=1e-6)
    tf2, _ = adagrad_run(fastembed.optimizers.Adagrad(learning_rate=0.1, epsilon=0.5))
    assert not np.allclose(tf2, w, rtol=1e-3, atol=1e-3)  # the two forms differ here


def test_adagrad_default_tf2_form_equals_torch():
    torch = pytest.importorskip("torch")
    w, grads = adagrad_run(fastembed.optimizers.Adagrad(learning_rate=0.1, epsilon=0.5),
                           dtype=np.float64)
    p = torch.nn.Parameter(torch.from_numpy(
        np.random.default_rng(0).standard_normal((6, 3)).astype(np.float64)))
    theirs = torch.optim.Adagrad([p], lr=0.1, eps=0.5, initial_accumulator_value=0.1)
    for g in grads:
        p.grad = torch.from_numpy(g)
        theirs.step()
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", ["Adagrad", "RowwiseAdagrad"])
def test_epsilon_form_survives_config_save_and_load(cls, tmp_path):
    klass = getattr(fastembed.optimizers, cls)
    opt = klass(learning_rate=0.1, epsilon=0.5, epsilon_form="keras3")
    w, _ = adagrad_run(opt, steps=2)
    assert opt.get_config()["epsilon_form"] == "keras3"
    assert klass.from_config(opt.get_config()).epsilon_form == "keras3"
    opt.save(tmp_path / "opt.npz")
    loaded = klass.load(tmp_path / "opt.npz")
    assert loaded.epsilon_form == "keras3"
    # the loaded optimizer continues exactly as the original would
    g, ids = np.full((2, 3), 0.3, np.float32), np.array([2, 4])
    w2 = w.copy()
    opt.step(w, ids, g)
    loaded.step(w2, ids, g)
    np.testing.assert_array_equal(w, w2)
    assert klass().epsilon_form == "tf2"  # the default
    if cls == "RowwiseAdagrad":  # the forms differ per row too
        a, _ = adagrad_run(klass(learning_rate=0.1, epsilon=0.5))
        b, _ = adagrad_run(klass(learning_rate=0.1, epsilon=0.5, epsilon_form="keras3"))
        assert not np.allclose(a, b, rtol=1e-3, atol=1e-3)


def test_bad_epsilon_form_is_refused():
    with pytest.raises(ValueError, match="epsilon_form"):
        fastembed.optimizers.Adagrad(epsilon_form="keras2")
