"""One atomic ``.npz`` save and its checked load, for the layer and the optimizer state.

A file is NumPy's ``.npz`` (no pickled objects) holding the caller's arrays and one more,
``meta``: a JSON object with ``"format"`` (what the file holds, e.g.
"fastembed.Embedding") and ``"version"`` (of that format) beside the caller's fields.

`save` writes to a temporary file in the target's directory, flushes and fsyncs it,
renames it over the target and fsyncs the directory: a crash leaves the old file (or
none), never a torn one, and no temporary file behind. `load` checks the format and the
version before anything is built and says which it found.
"""
import json
import os
import tempfile

import numpy as np

__all__ = ["save", "load"]

META = "meta"


def _what(fmt):
    return fmt.replace(".", " ", 1)  # "fastembed.Embedding" -> "fastembed Embedding"


def save(path, fmt, version, meta, arrays):
    """Write `arrays` (name -> ndarray) and ``{"format": fmt, "version": version, **meta}``
    to `path` (used as given), atomically."""
    path = os.fspath(path)
    if META in arrays:
        raise ValueError(f"an array may not be called {META!r}")
    header = json.dumps({"format": fmt, "version": version, **meta})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{META: np.array(header)}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Make a rename in `directory` durable (best effort: not every system allows it)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load(path, fmt, version, required=()):
    """(meta, arrays) of a file `save` wrote with format `fmt` and version `version`.

    ValueError, before anything is returned, if the file has no ``meta``, another format,
    another version (the message names what it found and what this fastembed reads), or
    lacks one of the `required` arrays.
    """
    what = _what(fmt)
    with np.load(os.fspath(path), allow_pickle=False) as f:
        if META not in f.files:
            raise ValueError(f"{path} is not a saved {what} (arrays {sorted(f.files)})")
        try:
            meta = json.loads(str(f[META]))
        except ValueError:
            raise ValueError(f"{path} is not a saved {what}: its {META!r} is not JSON") from None
        if not isinstance(meta, dict) or meta.get("format") != fmt:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ValueError(f"{path} is not a saved {what} (format {found!r})")
        if meta.get("version") != version:
            raise ValueError(f"{path} is a {what} file of format version "
                             f"{meta.get('version')!r}; this fastembed reads version {version}")
        missing = sorted(set(required) - set(f.files))
        if missing:
            raise ValueError(f"{path} is not a saved {what}: it lacks {missing}")
        arrays = {name: f[name] for name in f.files if name != META}
    return meta, arrays
