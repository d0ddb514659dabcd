"""One atomic save and one checked load (fastembed._savefile) behind Embedding.save/load
and Optimizer.save/load: fsync of the file and of its directory, a format version written
and checked with a clear error, no temporary file left on a crash."""
import json
import os

import numpy as np
import pytest

from fastembed import _savefile
from fastembed import optimizers as O
from fastembed.layer import Embedding


def _saved_optimizer(path):
    opt = O.Adam(0.01)
    w = np.ones((6, 3), np.float32)
    opt.step(w, np.array([1, 4]), np.ones((2, 3), np.float32))
    opt.save(path)
    return opt


SAVERS = [
    ("layer", lambda p: Embedding(6, 3).save(p), Embedding.load, "fastembed.Embedding"),
    ("optimizer", _saved_optimizer, O.Optimizer.load, "fastembed.Optimizer"),
]


@pytest.mark.parametrize("label, save, load, fmt", SAVERS)
def test_format_and_version_written(tmp_path, label, save, load, fmt):
    path = tmp_path / "f.npz"
    save(path)
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
    assert meta["format"] == fmt and meta["version"] == 1
    load(path)


@pytest.mark.parametrize("label, save, load, fmt", SAVERS)
def test_other_version_is_a_clear_error(tmp_path, label, save, load, fmt):
    path = tmp_path / "f.npz"
    save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta["version"] = 99
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(ValueError, match="format version 99; this fastembed reads version 1"):
        load(path)


@pytest.mark.parametrize("label, save, load, fmt", SAVERS)
def test_the_other_kind_of_file_is_refused(tmp_path, label, save, load, fmt):
    other = [s for s in SAVERS if s[0] != label][0]
    path = tmp_path / "f.npz"
    other[1](path)
    with pytest.raises(ValueError, match=f"not a saved {fmt.replace('.', ' ')}"):
        load(path)
    np.savez(path, x=np.zeros(2))  # no meta at all
    with pytest.raises(ValueError, match="not a saved"):
        load(path)


def test_fsyncs_file_then_directory(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", os.path.isdir(
        f"/proc/self/fd/{fd}"))), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append(("replace", None)),
                                                     real_replace(a, b))[1])
    _savefile.save(tmp_path / "x.npz", "fastembed.Test", 1, {}, {"a": np.arange(3)})
    assert calls == [("fsync", False), ("replace", None), ("fsync", True)]
    meta, arrays = _savefile.load(tmp_path / "x.npz", "fastembed.Test", 1, required=("a",))
    assert meta == {"format": "fastembed.Test", "version": 1}
    assert np.array_equal(arrays["a"], np.arange(3))
    assert os.listdir(tmp_path) == ["x.npz"]


def test_optimizer_save_interrupted_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "opt.npz"
    _saved_optimizer(path)
    before = path.read_bytes()

    def no_rename(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(KeyboardInterrupt):
        O.SGD(0.5).save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["opt.npz"] and path.read_bytes() == before
    assert type(O.Optimizer.load(path)) is O.Adam


def test_required_arrays_and_reserved_name(tmp_path):
    path = tmp_path / "x.npz"
    _savefile.save(path, "fastembed.Test", 1, {}, {})
    with pytest.raises(ValueError, match=r"lacks \['a'\]"):
        _savefile.load(path, "fastembed.Test", 1, required=("a",))
    with pytest.raises(ValueError, match="meta"):
        _savefile.save(path, "fastembed.Test", 1, {}, {"meta": np.zeros(1)})
