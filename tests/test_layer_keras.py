"""fastembed.Embedding against Keras 3's own layer (skipped when Keras is not installed)."""
import json

import numpy as np
import pytest

from conftest import import_keras

try:
    keras = import_keras()
except pytest.skip.Exception as skip:
    pytest.skip(str(skip), allow_module_level=True)

import fastembed  # noqa: E402
from fastembed import Embedding, regularizers  # noqa: E402

FASTEMBED_ONLY = ("input_length", "dropout", "seed", "regularizer_mode")


def pair(input_dim=20, output_dim=6, rng=None, **kwargs):
    """(fastembed layer, Keras layer) with the same table."""
    table = np.random.default_rng(0).standard_normal((input_dim, output_dim)).astype(np.float32)
    ours = Embedding(input_dim, output_dim, weights=[table], **kwargs)
    theirs = keras.layers.Embedding(input_dim, output_dim, **kwargs)
    theirs.build()
    theirs.set_weights([table])
    return ours, theirs


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
def test_forward_mask_and_shape(shape, rng):
    ours, theirs = pair(mask_zero=True)
    ids = rng.integers(0, 20, shape)
    ids.flat[0] = 0
    assert np.array_equal(ours(ids), np.asarray(theirs(ids)))
    assert np.array_equal(ours.compute_mask(ids), np.asarray(theirs.compute_mask(ids)))
    assert ours.compute_output_shape(ids.shape) == tuple(theirs.compute_output_shape(ids.shape))
    assert ours.compute_output_shape((None,) + shape[1:]) == \
        tuple(theirs.compute_output_shape((None,) + shape[1:]))
    plain, keras_plain = pair()
    assert plain.compute_mask(ids) is None and keras_plain.compute_mask(ids) is None


@pytest.mark.parametrize("emb_reg, act_reg", [
    ("l1", None), ("l2", None), (None, "l2"), ("l2", "l1"),
    ({"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.02}},
     {"class_name": "L2", "config": {"l2": 0.05}}),
])
def test_regularizer_losses(emb_reg, act_reg, rng):
    ours, theirs = pair(embeddings_regularizer=emb_reg, activity_regularizer=act_reg)
    ids = rng.integers(0, 20, (4, 5))
    ours(ids)
    theirs(ids)
    got, want = ours.losses, [np.asarray(x) for x in theirs.losses]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)


@pytest.mark.parametrize("ours, theirs", [
    (regularizers.L1(0.3), keras.regularizers.L1(0.3)),
    (regularizers.L2(0.2), keras.regularizers.L2(0.2)),
    (regularizers.L1L2(0.1, 0.4), keras.regularizers.L1L2(0.1, 0.4)),
    (regularizers.L1L2(), keras.regularizers.L1L2()),
    (regularizers.get("l1"), keras.regularizers.get("l1")),
    (regularizers.get("l2"), keras.regularizers.get("l2")),
    (regularizers.get("l1l2"), keras.regularizers.get("l1l2")),
])
def test_regularizers_match_keras(ours, theirs, rng):
    for dtype in (np.float32, np.float64):
        w = rng.standard_normal((50, 9)).astype(dtype)
        np.testing.assert_allclose(ours(w), np.asarray(theirs(w)), rtol=1e-5)
    # Keras keeps L1's factor as a float32 tensor: its config reads 0.30000001192...
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    assert ours_cfg.keys() == theirs_cfg.keys()
    np.testing.assert_allclose(list(ours_cfg.values()), list(theirs_cfg.values()), rtol=1e-7)
    mine, keras_form = regularizers.serialize(ours), keras.regularizers.serialize(theirs)
    assert {**mine, "config": None} == {**keras_form, "config": None}
    again = regularizers.get(keras_form)
    assert type(again) is type(ours)
    np.testing.assert_allclose(list(again.get_config().values()), list(ours_cfg.values()),
                               rtol=1e-7)


def test_reads_a_real_keras_config():
    k = keras.layers.Embedding(
        50, 8, embeddings_initializer="glorot_uniform",
        embeddings_regularizer=keras.regularizers.L1L2(0.01, 0.02),
        activity_regularizer="l2", embeddings_constraint="max_norm", mask_zero=True,
        name="tokens")
    for cfg in (k.get_config(), keras.layers.serialize(k),
                json.dumps(keras.layers.serialize(k))):
        layer = fastembed.from_config(cfg)
        assert layer.embeddings.shape == (50, 8) and layer.mask_zero
        assert layer.name == "tokens" and layer.embeddings.dtype == np.float32
        assert layer.embeddings_regularizer == regularizers.L1L2(0.01, 0.02)
        assert layer.activity_regularizer == regularizers.L2(0.01)
        assert type(layer.embeddings_initializer).__name__ == "GlorotUniform"
        assert type(layer.embeddings_constraint).__name__ == "MaxNorm"
        assert layer.embeddings_constraint.axis == 0
    keras_keys = set(k.get_config())
    assert keras_keys <= set(Embedding(3, 2).get_config())  # every Keras key, same names


def test_keras_reads_our_config():
    ours = Embedding(40, 4, embeddings_initializer="he_normal", embeddings_regularizer="l2",
                     activity_regularizer=regularizers.L1(0.02), embeddings_constraint="non_neg",
                     mask_zero=True, name="items")
    cfg = {k: v for k, v in ours.get_config().items() if k not in FASTEMBED_ONLY}
    theirs = keras.layers.Embedding.from_config(json.loads(json.dumps(cfg)))
    assert (theirs.input_dim, theirs.output_dim, theirs.mask_zero, theirs.name) == \
        (40, 4, True, "items")
    assert theirs.embeddings_regularizer.get_config() == {"l2": 0.01}
    assert theirs.activity_regularizer.get_config()["l1"] == pytest.approx(0.02)
    assert type(theirs.embeddings_initializer).__name__ == "HeNormal"
    assert type(theirs.embeddings_constraint).__name__ == "NonNeg"
