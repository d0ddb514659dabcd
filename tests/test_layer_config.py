"""Embedding configs (fastembed, Keras, Keras 3, Keras 1, Polyaxon, YAML) and save/load."""
import json
import os
import sys

import numpy as np
import pytest

import fastembed
from fastembed import Embedding
from fastembed.constraints import MaxNorm
from fastembed.regularizers import L1, L1L2, L2


def full_layer():
    return Embedding(30, 5, embeddings_initializer="glorot_uniform",
                     embeddings_regularizer=L1L2(0.01, 0.02), activity_regularizer=L1(0.03),
                     embeddings_constraint=MaxNorm(3.0, axis=1), mask_zero=True,
                     input_length=7, dropout=0.25, dtype="float64", seed=42, name="words",
                     regularizer_mode="exact")


def same_layer(a, b):
    assert a.get_config() == b.get_config()
    assert type(a.embeddings_initializer) is type(b.embeddings_initializer)
    assert a.embeddings_regularizer == b.embeddings_regularizer
    assert a.activity_regularizer == b.activity_regularizer
    assert type(a.embeddings_constraint) is type(b.embeddings_constraint)


KERAS3_KEYS = {"name", "trainable", "dtype", "input_dim", "output_dim", "embeddings_initializer",
               "embeddings_regularizer", "activity_regularizer", "embeddings_constraint",
               "mask_zero", "quantization_config"}


def test_get_config_keys_and_json():
    cfg = full_layer().get_config()
    assert set(cfg) == KERAS3_KEYS | {"input_length", "dropout", "seed", "regularizer_mode"}
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["embeddings_regularizer"] == {"module": "keras.regularizers",
                                             "class_name": "L1L2",
                                             "config": {"l1": 0.01, "l2": 0.02},
                                             "registered_name": None}
    assert cfg["embeddings_constraint"]["class_name"] == "MaxNorm"
    assert cfg["embeddings_constraint"]["config"]["axis"] == 1
    assert (cfg["dtype"], cfg["input_length"], cfg["dropout"], cfg["seed"]) == \
        ("float64", 7, 0.25, 42)
    plain = Embedding(4, 2).get_config()
    assert plain["embeddings_regularizer"] is None and plain["embeddings_constraint"] is None
    assert plain["input_length"] is None
    assert Embedding(4, 2, input_length=[3, None]).get_config()["input_length"] == [3, None]


def test_round_trip_same_table_with_a_seed():
    layer = full_layer()
    again = Embedding.from_config(json.loads(json.dumps(layer.get_config())))
    same_layer(layer, again)
    assert np.array_equal(layer.embeddings, again.embeddings)  # seeded initializer


@pytest.mark.parametrize("wrap", [
    lambda c: c,
    lambda c: {"class_name": "Embedding", "config": c},
    lambda c: {"module": "keras.layers", "class_name": "Embedding", "config": c,
               "registered_name": None, "build_config": {"input_shape": [None, 7]}},
    lambda c: {"Embedding": c},
    lambda c: json.dumps({"Embedding": c}),
    lambda c: json.dumps(c).encode(),
])
def test_all_shapes(wrap):
    layer = full_layer()
    cfg = wrap(layer.get_config())
    same_layer(layer, fastembed.from_config(cfg))
    same_layer(layer, Embedding.from_config(cfg))


def test_polyaxon_minimal():
    layer = fastembed.from_config({"Embedding": {"input_dim": 1000, "output_dim": 32}})
    assert isinstance(layer, Embedding) and layer.embeddings.shape == (1000, 32)


def test_yaml():
    yaml = pytest.importorskip("yaml")
    text = """
Embedding:
  input_dim: 1000
  output_dim: 32
  mask_zero: true
  embeddings_regularizer: l2
  embeddings_constraint:
    class_name: MaxNorm
    config: {max_value: 1.0, axis: 1}
"""
    layer = fastembed.from_config(text)
    assert layer.embeddings.shape == (1000, 32) and layer.mask_zero
    assert layer.embeddings_regularizer == L2(0.01)
    assert layer.embeddings_constraint.axis == 1
    keras_form = yaml.safe_dump({"class_name": "Embedding", "config": full_layer().get_config()})
    same_layer(full_layer(), fastembed.from_config(keras_form))


def test_yaml_without_pyyaml(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml raises ImportError
    with pytest.raises(ImportError, match=r"fastembed-kernels\[yaml\]"):
        fastembed.from_config("Embedding:\n  input_dim: 3\n  output_dim: 2\n")
    # JSON text needs no PyYAML
    assert fastembed.from_config('{"Embedding": {"input_dim": 3, "output_dim": 2}}')


def test_keras1_config():
    cfg = {"name": "embedding_1", "trainable": True, "batch_input_shape": [None, 5],
           "input_dtype": "int32", "input_dim": 50, "output_dim": 8, "init": "uniform",
           "input_length": 5, "W_regularizer": {"name": "L1L2Regularizer", "l1": 0.0,
                                                "l2": 0.01},
           "activity_regularizer": None, "W_constraint": {"name": "MaxNorm", "m": 2, "axis": 0},
           "mask_zero": False, "dropout": 0.1}
    layer = fastembed.from_config({"class_name": "Embedding", "config": cfg})
    assert layer.embeddings_regularizer == L1L2(0.0, 0.01)
    assert isinstance(layer.embeddings_constraint, MaxNorm)
    assert layer.embeddings_constraint.max_value == 2
    assert layer.dropout == 0.1 and layer.input_length == (5,)
    assert set(layer.get_config()) >= KERAS3_KEYS  # written back with Keras 3's names


def test_ignored_and_off_keys():
    base = {"input_dim": 4, "output_dim": 2}
    for extra in ({"batch_input_shape": [None, 3]}, {"batch_shape": [None]},
                  {"lora_rank": None, "lora_alpha": None}, {"quantization_config": None},
                  {"sparse": False}, {"trainable": False}):
        assert fastembed.from_config({**base, **extra}).embeddings.shape == (4, 2)
    with pytest.raises(ValueError, match="lora_rank"):
        fastembed.from_config({**base, "lora_rank": 4})
    with pytest.raises(ValueError, match="sparse"):
        fastembed.from_config({**base, "sparse": True})


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match=r"\['colour', 'size'\]"):
        fastembed.from_config({"input_dim": 4, "output_dim": 2, "colour": 1, "size": 2})
    with pytest.raises(ValueError, match="Dense"):
        fastembed.from_config({"class_name": "Dense", "config": {"units": 3}})
    with pytest.raises(ValueError, match="Dense"):
        fastembed.from_config({"Dense": {"units": 3}})
    with pytest.raises(ValueError, match="extra"):
        fastembed.from_config({"class_name": "Embedding", "config": {}, "extra": 1})
    with pytest.raises(TypeError):
        fastembed.from_config(42)
    with pytest.raises(TypeError):
        fastembed.from_config("[1, 2]")
    with pytest.raises(ValueError, match="input_dim"):
        fastembed.from_config({"input_dim": 0, "output_dim": 2})


def test_keras3_dtype_policy_dict():
    cfg = {"input_dim": 4, "output_dim": 2,
           "dtype": {"module": "keras", "class_name": "DTypePolicy",
                     "config": {"name": "float64"}, "registered_name": None}}
    assert fastembed.from_config(cfg).embeddings.dtype == np.float64
    cfg["dtype"]["config"]["name"] = "mixed_float16"
    with pytest.raises(ValueError, match="dtype"):
        fastembed.from_config(cfg)


# ---- save and load -------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    layer = full_layer()
    layer.embeddings[:] = np.random.default_rng(0).standard_normal((30, 5))
    ids = np.arange(30).reshape(5, 6) % 7
    layer(np.zeros((2, 7), np.int64), training=True)  # one dropout draw consumed
    path = tmp_path / "words.npz"
    layer.save(path)
    again = Embedding.load(path)
    same_layer(layer, again)
    assert np.array_equal(again.embeddings, layer.embeddings)
    assert again.embeddings.dtype == np.float64
    with np.load(path, allow_pickle=False) as f:  # no pickled objects inside
        assert sorted(f.files) == ["embeddings", "meta"]
    # the dropout stream resumes where it was
    ids = np.random.default_rng(1).integers(0, 30, (4, 7))
    assert np.array_equal(layer(ids, training=True), again(ids, training=True))
    layer.save(str(path))  # str paths too, overwriting
    assert os.listdir(tmp_path) == ["words.npz"]


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved fastembed Embedding"):
        Embedding.load(path)
    np.savez(path, meta=np.array(json.dumps({"format": "other"})), embeddings=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="format"):
        Embedding.load(path)


def _old_file(tmp_path):
    old = Embedding(6, 3, embeddings_initializer="ones")
    path = tmp_path / "layer.npz"
    old.save(path)
    return path, path.read_bytes()


def _assert_intact(tmp_path, path, before):
    assert os.listdir(tmp_path) == ["layer.npz"], "a temporary file was left behind"
    assert path.read_bytes() == before
    assert np.all(Embedding.load(path).embeddings == 1)


def test_save_interrupted_while_writing(tmp_path, monkeypatch):
    path, before = _old_file(tmp_path)
    real_savez = np.savez

    def crash_midway(file, **arrays):
        real_savez(file, **arrays)
        file.seek(file.tell() // 2)
        file.truncate()
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        Embedding(6, 3, embeddings_initializer="zeros").save(path)
    _assert_intact(tmp_path, path, before)


def test_save_interrupted_before_rename(tmp_path, monkeypatch):
    path, before = _old_file(tmp_path)

    def no_rename(src, dst):
        raise KeyboardInterrupt  # the process is stopped between write and rename

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(KeyboardInterrupt):
        Embedding(6, 3, embeddings_initializer="zeros").save(path)
    monkeypatch.undo()
    _assert_intact(tmp_path, path, before)


def test_save_to_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        Embedding(3, 2).save(tmp_path / "nope" / "layer.npz")
