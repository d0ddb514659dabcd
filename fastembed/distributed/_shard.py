"""One shard of a `ShardedEmbedding`: rows [start, stop) of the table and their optimizer
state, in one process (a Ray actor), updated with fastembed's public kernels and optimizers.

This module does not import Ray: `ShardedEmbedding` wraps `Shard` with ``ray.remote`` when
it creates the actors, so the class stays a plain object that tests and the benchmark can
also run in-process. The checkpoint layout (one ``.npy`` file per shard and array, read
back through memory maps so a reshard reads only the rows it needs) lives here too.
"""
import os

import numpy as np

import fastembed
from fastembed import initializers, optimizers


def optimizer_from(name, config):
    """A fresh optimizer of class `name` (a name in `fastembed.optimizers`) built from
    `config` (its ``get_config()``)."""
    cls = getattr(optimizers, name, None)
    if not (isinstance(cls, type) and callable(getattr(cls, "apply", None))
            and callable(getattr(cls, "get_config", None))):
        raise ValueError(f"{name!r} is not an optimizer of fastembed.optimizers")
    from_config = getattr(cls, "from_config", None)
    return from_config(dict(config)) if from_config is not None else cls(**config)


def file_names(index, slots):
    """The files of shard `index` in a checkpoint version directory: weights, then slots."""
    return {"weights": f"shard{index:05d}.weights.npy",
            "slots": {name: f"shard{index:05d}.{name}.npy" for name in slots}}


def read_rows(directory, manifest, start, stop, key):
    """Rows [start, stop) of the array `key` ("weights" or a slot name) of the checkpoint in
    `directory`, gathered from the saved shards that hold them (any saved shard count)."""
    parts = []
    for shard in manifest["shards"]:
        lo, hi = max(start, shard["start"]), min(stop, shard["stop"])
        if lo >= hi:
            continue
        name = shard["weights"] if key == "weights" else shard["slots"][key]
        saved = np.load(os.path.join(directory, name), mmap_mode="r", allow_pickle=False)
        parts.append(np.array(saved[lo - shard["start"]:hi - shard["start"]]))
    if not parts:  # an empty shard: shape from the manifest
        dim = () if key != "weights" and manifest["optimizer"]["row_state"] else (
            manifest["output_dim"],)
        return np.empty((0,) + dim, manifest["dtype"])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _fsync_write(path, array):
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


class Shard:
    """Rows [start, stop) of an (n_rows, dim) table and, when it has one, its optimizer.

    `source` is ``("init", initializer, n_rows)``: the rows of ``initializer((n_rows,
    dim), dtype)``; or ``("checkpoint", directory, manifest)``: the rows (and optimizer
    state) saved there, whatever the saved shard count.
    """

    def __init__(self, index, start, stop, dim, dtype, optimizer_spec, source):
        self.index, self.start, self.stop = index, start, stop
        self.dim, self.dtype = dim, np.dtype(dtype)
        self.optimizer = None if optimizer_spec is None else optimizer_from(*optimizer_spec)
        if source[0] == "init":
            self._from_initializer(*source[1:])
        else:
            self.load(*source[1:])

    def _from_initializer(self, initializer, n_rows):
        # A random initializer's element i depends on (seed, i) over the whole table (and a
        # variance-scaling one on the whole shape), so the shard draws the table and keeps
        # its rows: the same bits as one process, at the cost of one transient table (the
        # fills take no row offset yet). Constant fills draw only the shard's rows.
        if isinstance(initializer, (initializers.Zeros, initializers.Ones,
                                    initializers.Constant)):
            n_rows, first = self.stop - self.start, 0
        else:
            first = self.start
        table = np.asarray(initializer((n_rows, self.dim), self.dtype))
        if table.shape != (n_rows, self.dim):
            raise ValueError(f"the initializer returned shape {table.shape}, expected "
                             f"{(n_rows, self.dim)}")
        self.weights = np.array(table[first:first + self.stop - self.start], dtype=self.dtype,
                                order="C")
        del table
        self._bind_state(0)

    def _bind_state(self, iterations):
        """Bind the optimizer's state to this shard's rows now (an update of no rows: fresh
        slots, or the set `set_state` left pending), so the shard always has exactly one
        slot set to save, restore and reshard."""
        if self.optimizer is None:
            return
        empty = fastembed.RowSparseGrad(np.zeros(0, np.int64),
                                        np.zeros((0, self.dim), self.dtype),
                                        self.weights.shape[0])
        self.optimizer.apply(self.weights, empty)
        self.optimizer.iterations = iterations

    # ---- reads ---------------------------------------------------------------------------

    def ping(self):
        return self.index

    def lookup(self, local_ids):
        """The rows of `local_ids` (sorted, unique, in [0, stop - start))."""
        return fastembed.lookup(self.weights, local_ids)

    def rows_and_slots(self, local_ids):
        """(rows, {slot name: slot rows}) of `local_ids`."""
        slots = {}
        if self.optimizer is not None:
            state = self.optimizer.get_state()["slots"]
            if state:
                slots = {name: a[local_ids] for name, a in state[0].items()}
        return self.lookup(local_ids), slots

    def table(self):
        return self.weights

    # ---- the update ----------------------------------------------------------------------

    def apply(self, local_rows, values, iterations):
        """The optimizer's update of `local_rows` (sorted, unique) with gradient rows
        `values`, at the table's global step count `iterations` (Adam's bias correction
        must see the whole table's count, not this shard's)."""
        grad = fastembed.RowSparseGrad(local_rows, values, self.weights.shape[0])
        self.optimizer.iterations = iterations
        self.optimizer.apply(self.weights, grad)

    # ---- checkpoints ---------------------------------------------------------------------

    def save(self, directory):
        """Write this shard's rows and optimizer slots into `directory` (fsync'd); returns
        its manifest entry."""
        slots = {}
        if self.optimizer is not None:
            state = self.optimizer.get_state()["slots"]
            slots = state[0] if state else {}
        names = file_names(self.index, slots)
        _fsync_write(os.path.join(directory, names["weights"]), self.weights)
        for name, array in slots.items():
            _fsync_write(os.path.join(directory, names["slots"][name]), array)
        return {"index": self.index, "start": self.start, "stop": self.stop, **names,
                "row_state": any(a.ndim == 1 for a in slots.values())}

    def load(self, directory, manifest):
        """Replace rows, optimizer state and step count by the checkpoint's."""
        weights = read_rows(directory, manifest, self.start, self.stop, "weights")
        if weights.shape != (self.stop - self.start, self.dim):
            raise ValueError(f"checkpoint rows {self.start}:{self.stop} have shape "
                             f"{weights.shape}")
        slots = []
        if self.optimizer is not None:
            saved = manifest["optimizer"]
            slots = [{name: read_rows(directory, manifest, self.start, self.stop, name)
                      for name in saved["slots"]}]
            self.optimizer.set_state({"iterations": saved["iterations"], "slots": slots})
        self.weights = np.ascontiguousarray(weights, dtype=self.dtype)
        if self.optimizer is not None:
            self._bind_state(manifest["optimizer"]["iterations"])
