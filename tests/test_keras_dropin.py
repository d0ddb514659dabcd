"""What users of Keras's Embedding rely on: a zero-width table (Keras 1 and Polyaxon document
``output_dim >= 0``), ``supports_masking`` as Keras 3 sets it, and Adagrad's epsilon in
both Keras forms."""
import numpy as np
import pytest

import fastembed
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
    assert ours.supports_masking is keras.layers.Embedding(10, 3, mask_zero=mask_zero).supports_masking
    assert ours.supports_masking is mask_zero
    assert (ours.compute_mask(np.array([0, 1])) is not None) is ours.supports_masking
