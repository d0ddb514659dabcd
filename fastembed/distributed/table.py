"""`ShardedEmbedding`: an embedding table whose rows are split over Ray actors.

The client (this object) owns the policy: it checks every argument, deduplicates and routes
ids, accumulates gradients (`fastembed.accumulate`), pools bags (`fastembed.lookup_bag`)
and counts optimizer steps. Each shard actor (`fastembed.distributed._shard.Shard`) holds
a contiguous row range and its optimizer state and runs fastembed's kernels on it. Results
equal the one-process kernels on the same table bit for bit: a shard applies the same
optimizer to the same summed gradient rows, at the table's global step count.
"""
import json
import os
import secrets
import shutil

import numpy as np

import fastembed
from fastembed import initializers, optimizers
from fastembed._arrays import as_ids
from fastembed._errors import index_error
from fastembed.distributed._shard import Shard, optimizer_from
from fastembed.ops import _padding

__all__ = ["ShardedEmbedding", "ShardError", "connect"]

FORMAT = "fastembed-sharded/1"
MANIFEST = "manifest.json"
DEFAULT_ACTOR_OPTIONS = {"num_cpus": 0.25, "scheduling_strategy": "SPREAD"}


class ShardError(RuntimeError):
    """A shard's actor is gone (or failed). `shard` is its 0-based index, `rows` its
    ``(start, stop)`` row range."""

    def __init__(self, message, shard, rows):
        super().__init__(message)
        self.shard, self.rows = shard, rows


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("fastembed.distributed needs Ray: pip install 'fastembed-kernels[ray]'"
                          " (or pip install ray)") from None
    return ray


def connect(address=None, **init_kwargs):
    """Make sure this process is connected to Ray; returns the `ray` module.

    Already connected: nothing changes. ``address=None`` or ``"local"`` starts (or, for
    None, joins a ``ray start`` cluster of this machine, as ``ray.init`` does) a Ray on the
    loopback interface only: node address 127.0.0.1, no dashboard, no usage reporting, and
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (set in this process's environment unless
    already set, and applied to Ray's flag if Ray was imported earlier: without it Ray 2.60
    swaps 127.0.0.1 for this machine's network address). Another address
    joins that cluster (``"ray://host:10001"`` or ``"host:6379"``; see docs/distributed.md,
    e.g. ``RAY_AUTH_MODE=token``). `init_kwargs` go to ``ray.init`` (``num_cpus=2``...).
    """
    if address in (None, "local"):
        os.environ.setdefault(_LOOPBACK_VAR, "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address in (None, "local"):
        _loopback_in_this_process()
        init_kwargs.setdefault("include_dashboard", False)
        init_kwargs.setdefault("_node_ip_address", "127.0.0.1")
    ray.init(address=address, **init_kwargs)
    return ray


_LOOPBACK_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback_in_this_process():
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is first imported: if Ray
    was imported before the variable was set to 0, ``ray.init`` in this process would
    still swap 127.0.0.1 for this machine's network address (its child processes read the
    variable afresh). Bring the module's flag in line with the variable, or refuse."""
    if os.environ.get(_LOOPBACK_VAR) != "0":
        return  # the user asked for a network-visible Ray
    import importlib
    constants = importlib.import_module("ray._private.ray_constants")
    if getattr(constants, "ENABLE_RAY_CLUSTER", None) is True:
        constants.ENABLE_RAY_CLUSTER = False
    if getattr(constants, "ENABLE_RAY_CLUSTER", None) is not False:
        raise RuntimeError(f"cannot keep this Ray on the loopback interface: set {_LOOPBACK_VAR}"
                           "=0 in the environment before Ray is imported")


def _bounds(n_rows, num_shards):
    """Start row of each shard and the end: contiguous ranges, sizes differing by <= 1."""
    return [i * n_rows // num_shards for i in range(num_shards + 1)]


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


class ShardedEmbedding:
    """An (input_dim, output_dim) embedding table split over `num_shards` Ray actors.

    Parameters
    ----------
    input_dim, output_dim : int
        Rows and row width of the table.
    num_shards : int
        Actors; shard ``i`` holds rows ``[i * input_dim // num_shards, (i + 1) * input_dim
        // num_shards)`` (contiguous ranges) and their optimizer state.
    embeddings_initializer : str, dict or Initializer, default "uniform"
        As `fastembed.Embedding`'s: with the same `seed` the table is bit for bit the one
        ``fastembed.initializers.get(embeddings_initializer, seed=seed)`` draws (the
        initializer is built here, so an unseeded one still gives every shard one draw).
    seed : int, optional
    dtype : "float32" or "float64"
    optimizer : fastembed.optimizers.Optimizer, optional
        Its configuration (``get_config()``) builds one optimizer per shard; the instance
        itself is not updated. Needed by `step` and `apply`.
    address : str, optional
        None: use the Ray this process is connected to, else start one on the loopback
        interface (`connect`). Else the address of the cluster to join.
    actor_options : dict, optional
        Options of each shard actor (``ray.remote`` options), default ``{"num_cpus": 0.25,
        "scheduling_strategy": "SPREAD"}``: an actor reserves a quarter of a CPU, so 3 shards
        run on a 2-CPU Ray; on a cluster give it the node share it needs (``num_cpus``,
        ``memory``).

    Attributes
    ----------
    actors : list
        The shard actors, in shard order.
    bounds : list of int
        ``bounds[i]:bounds[i + 1]`` are the rows of shard ``i``.
    iterations : int
        Optimizer steps taken (one per successful `step` or `apply` call).

    A shard whose actor dies makes the next call that reaches it raise `ShardError`
    (naming the shard and its rows); the table then refuses every call but `restore` (back
    to the last checkpoint on every shard) and `shutdown`, so it is never a mix of two
    points in time. Actors are not restarted automatically (a restarted actor would hold
    freshly initialized rows).
    """

    def __init__(self, input_dim, output_dim, num_shards, *, embeddings_initializer="uniform",
                 seed=None, dtype="float32", optimizer=None, address=None, actor_options=None,
                 _source=None):
        self.input_dim = _positive(input_dim, "input_dim")
        self.output_dim = _positive(output_dim, "output_dim")
        self.num_shards = _positive(num_shards, "num_shards")
        if self.num_shards > self.input_dim:
            raise ValueError(f"num_shards ({num_shards}) must be <= input_dim ({input_dim})")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        if optimizer is not None and getattr(optimizers, type(optimizer).__name__,
                                             None) is not type(optimizer):
            raise TypeError("optimizer must be an instance of a fastembed.optimizers class "
                            f"(the shards rebuild it by name), got {type(optimizer).__name__}")
        self._optimizer_spec = None if optimizer is None else (
            type(optimizer).__name__, optimizer.get_config())
        self.optimizer = None if optimizer is None else optimizer_from(*self._optimizer_spec)
        self.iterations = 0
        self.bounds = _bounds(self.input_dim, self.num_shards)
        self._actor_options = dict(DEFAULT_ACTOR_OPTIONS if actor_options is None
                                   else actor_options)
        self._checkpoint = None   # (version directory, manifest) of the last save or load
        self._failed = None       # the ShardError that broke the table, until restore()
        if _source is None:
            if seed is None:  # one draw for every shard (an unseeded initializer is random)
                seed = secrets.randbits(63)
            init = initializers.get(embeddings_initializer, seed=seed)
            if init is None:
                raise ValueError("embeddings_initializer must not be None")
            _source = ("init", init, self.input_dim)
        else:
            self._checkpoint = _source[1:]
        self._ray = connect(address)
        self._remote = self._ray.remote(Shard)
        self.actors = [self._start(i, _source) for i in range(self.num_shards)]
        self._gather([(i, a.ping.remote()) for i, a in enumerate(self.actors)])

    def _start(self, i, source):
        return self._remote.options(**self._actor_options).remote(
            i, self.bounds[i], self.bounds[i + 1], self.output_dim, self.dtype.str,
            self._optimizer_spec, source)

    def __repr__(self):
        return (f"ShardedEmbedding({self.input_dim}, {self.output_dim}, num_shards="
                f"{self.num_shards}, dtype={self.dtype.name}, optimizer={self.optimizer!r})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    # ---- talking to the shards ------------------------------------------------------------

    def _shard_error(self, i, cause):
        start, stop = self.bounds[i], self.bounds[i + 1]
        return ShardError(
            f"shard {i} (rows {start} to {stop - 1}, [{start}, {stop})) of this "
            f"ShardedEmbedding is unavailable: its Ray actor died or failed ({cause}). "
            "Call restore() to bring every shard back to the last checkpoint.", i, (start, stop))

    def _check_usable(self):
        if self._failed is not None:
            raise ShardError(f"{self._failed} (this table refuses calls until restore())",
                             self._failed.shard, self._failed.rows)
        if self.actors is None:
            raise RuntimeError("this ShardedEmbedding was shut down")

    def _gather(self, calls):
        """Results of ``[(shard, object ref), ...]``, in order. Waits for every call (the
        live shards finish their work) before raising for the first shard that failed.
        The client checked every argument, so a shard that fails (its actor died, or a
        call raised in it: out of memory, a lost object) is a fault: the table may now mix
        two points in time and refuses calls until `restore`."""
        ray = self._ray
        results, failed = [], None
        for i, ref in calls:
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayError as exc:
                cause = type(exc).__name__
                if isinstance(exc, ray.exceptions.RayTaskError):
                    cause = f"{cause}: {str(exc).strip().splitlines()[-1]}"
                failed = failed or self._shard_error(i, cause)
                results.append(None)
        if failed is not None:
            self._failed = failed
            raise failed
        return results

    def _route(self, sorted_ids):
        """Split sorted, unique, in-range ids by shard: [(shard, begin, end)] over the
        array, for the shards that get at least one."""
        cuts = np.searchsorted(sorted_ids, self.bounds)
        return [(i, int(cuts[i]), int(cuts[i + 1])) for i in range(self.num_shards)
                if cuts[i + 1] > cuts[i]]

    # ---- reads ---------------------------------------------------------------------------

    def _distinct(self, ids, name="ids"):
        """(ids as int32/int64, the caller's array, sorted distinct ids, inverse): range
        checked, the IndexError naming the first bad position as the kernels do."""
        idx, original = as_ids(ids, name)
        flat = idx.reshape(-1)
        uniq, inverse = np.unique(flat, return_inverse=True)
        if uniq.size and (uniq[0] < 0 or uniq[-1] >= self.input_dim):
            pos = int(np.flatnonzero((flat < 0) | (flat >= self.input_dim))[0])
            raise index_error(name, original, pos, self.input_dim)
        return idx, uniq, inverse.reshape(-1)

    def _fetch(self, uniq, slots=False):
        """The rows of the sorted distinct ids `uniq` (and their optimizer slots), fetched
        from every shard concurrently."""
        self._check_usable()
        calls = []
        for i, a, b in self._route(uniq):
            local = uniq[a:b] - self.bounds[i]
            method = self.actors[i].rows_and_slots if slots else self.actors[i].lookup
            calls.append((i, method.remote(local)))
        parts = self._gather(calls)
        if not slots:
            return (np.concatenate(parts) if len(parts) != 1 else parts[0]) if parts else \
                np.empty((0, self.output_dim), self.dtype)
        rows = np.concatenate([p[0] for p in parts]) if parts else np.empty(
            (0, self.output_dim), self.dtype)
        state = {n: np.concatenate([p[1][n] for p in parts]) for n in parts[0][1]} \
            if parts else {}
        return rows, state

    def lookup(self, ids):
        """``table[ids]``: each distinct id is fetched once, from its shard (all shards
        concurrently), and scattered back to the ids' shape.

        Parameters
        ----------
        ids : array_like of integers, any shape

        Returns
        -------
        ndarray, shape ``ids.shape + (output_dim,)``, the table's dtype

        Raises
        ------
        IndexError
            An id outside ``[0, input_dim)``; the message names its position.
        TypeError
            `ids` is not an integer array.
        ShardError
            A shard the ids need is gone.
        """
        idx, uniq, inverse = self._distinct(ids)
        rows = self._fetch(uniq)
        return fastembed.lookup(rows, inverse.reshape(idx.shape))

    def lookup_bag(self, ids, offsets=None, mode="sum", per_sample_weights=None,
                   padding_idx=None, include_last_offset=False):
        """`fastembed.lookup_bag` on the table: the distinct rows are fetched from the shards,
        then pooled here by `fastembed.lookup_bag` (bit for bit the one-process result).

        Parameters are `fastembed.lookup_bag`'s; returns ``(n_bags, output_dim)``."""
        pad = _padding(padding_idx, self.input_dim)
        idx, uniq, inverse = self._distinct(ids)
        rows = self._fetch(uniq)
        local_pad = None
        if pad >= 0:
            at = int(np.searchsorted(uniq, pad))
            # an absent padding row cannot be skipped: any row outside the ids will do
            local_pad = at if at < uniq.size and uniq[at] == pad else None
        return fastembed.lookup_bag(rows, inverse.reshape(idx.shape), offsets, mode=mode,
                                    per_sample_weights=per_sample_weights,
                                    padding_idx=local_pad,
                                    include_last_offset=include_last_offset)

    def get_rows(self, ids, *, slots=False):
        """Rows of `ids` as `lookup` gives them; with ``slots=True`` also their optimizer
        state: ``(rows, {slot name: array})`` with slot arrays shaped ``ids.shape +
        (output_dim,)`` (``ids.shape`` for a per-row state such as RowwiseAdagrad's)."""
        if not slots:
            return self.lookup(ids)
        idx, uniq, inverse = self._distinct(ids)
        rows, state = self._fetch(uniq, slots=True)
        shape = idx.shape
        return (fastembed.lookup(rows, inverse.reshape(shape)),
                {n: a[inverse].reshape(shape + a.shape[1:]) for n, a in state.items()})

    def to_numpy(self):
        """The whole (input_dim, output_dim) table (small tables: it is copied here)."""
        self._check_usable()
        parts = self._gather([(i, a.table.remote()) for i, a in enumerate(self.actors)])
        return np.concatenate(parts)

    def optimizer_state(self):
        """The optimizer's state as one optimizer on the whole table holds it: ``{"iterations":
        int, "slots": [{name: (input_dim, ...) array}]}`` (the form of
        ``Optimizer.get_state()``; small tables: copied here)."""
        if self.optimizer is None:
            return {"iterations": self.iterations, "slots": []}
        rows, state = self._fetch(np.arange(self.input_dim), slots=True)
        return {"iterations": self.iterations, "slots": [state]}

    # ---- updates --------------------------------------------------------------------------

    def step(self, ids, grad_output, *, padding_idx=None):
        """One optimizer step from a lookup's ids and the gradient of its output, as
        ``optimizer.step(table, ids, grad_output, padding_idx=...)`` in one process: the
        gradient is accumulated here (`fastembed.accumulate`), split by shard, and each
        shard updates its rows. Everything is checked before any shard writes: a call that
        raises changes no shard and does not count a step.

        Parameters
        ----------
        ids : array_like of integers, any shape
        grad_output : array_like, shape ``ids.shape + (output_dim,)``, the table's dtype
        padding_idx : int, optional
            Entries equal to it contribute no gradient (the row is not updated).
        """
        self._needs_optimizer()
        self._check_usable()
        grad = fastembed.accumulate(ids, grad_output, self.input_dim, padding_idx=padding_idx)
        if grad.values.shape[1] != self.output_dim or grad.values.dtype != self.dtype:
            raise ValueError(f"grad_output rows are {grad.values.shape[1]} "
                             f"{grad.values.dtype}, the table's {self.output_dim} "
                             f"{self.dtype}")
        self._update(grad.indices, grad.values)

    def apply(self, grad):
        """The optimizer's update from a `RowSparseGrad` of shape (input_dim, output_dim),
        as ``optimizer.apply(table, grad)`` in one process (checked first, as `step`)."""
        self._needs_optimizer()
        self._check_usable()
        if not isinstance(grad, fastembed.RowSparseGrad):
            raise TypeError(f"grad must be a RowSparseGrad, got {type(grad).__name__}")
        if grad.shape != (self.input_dim, self.output_dim):
            raise ValueError(f"grad has shape {grad.shape}, the table "
                             f"{(self.input_dim, self.output_dim)}")
        self._update(grad.indices, np.ascontiguousarray(grad.values, dtype=self.dtype))

    def _needs_optimizer(self):
        if self.optimizer is None:
            raise ValueError("this ShardedEmbedding has no optimizer: pass optimizer= (an "
                             "instance from fastembed.optimizers) to update it")

    def _update(self, rows, values):
        if not self._optimizer_spec[1].get("allow_nonfinite", False) and values.size:
            bad = ~np.isfinite(values)
            if bad.any():
                k = int(np.flatnonzero(bad.any(axis=1))[0])
                raise ValueError(f"the gradient of row {int(rows[k])} holds a non-finite value "
                                 f"({values[k][bad[k]][0]}); nothing was updated on any shard "
                                 "(allow_nonfinite=True in the optimizer lets it through)")
        t = self.iterations
        self._gather([(i, self.actors[i].apply.remote(rows[a:b] - self.bounds[i],
                                                      values[a:b], t))
                      for i, a, b in self._route(rows)])
        self.iterations = t + 1

    # ---- checkpoints ----------------------------------------------------------------------

    def save(self, path):
        """Save every shard's rows and optimizer state, the optimizer's configuration and
        step count under the directory `path` (on storage every shard's node can reach).

        The shards write a new version directory ``path/vNNNNNNNN``; then ``path/manifest.json``
        is replaced atomically (written aside, fsync'd, renamed) to point at it, and older
        versions are removed. A save interrupted at any point leaves the previous checkpoint
        whole and loadable. The table becomes `restore`'s checkpoint."""
        self._check_usable()
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        previous = _read_manifest(path, missing_ok=True)
        version = 1 + (previous["version"] if previous else 0)
        name = f"v{version:08d}"
        directory = os.path.join(path, name)
        if os.path.exists(directory):  # debris of an interrupted save
            shutil.rmtree(directory)
        os.makedirs(directory)
        shards = self._gather([(i, a.save.remote(directory))
                               for i, a in enumerate(self.actors)])
        manifest = {
            "format": FORMAT, "version": version, "directory": name,
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "dtype": self.dtype.name, "num_shards": self.num_shards, "shards": shards,
            "optimizer": None if self.optimizer is None else {
                "class": self._optimizer_spec[0], "config": self._optimizer_spec[1],
                "iterations": self.iterations, "slots": list(shards[0]["slots"]),
                "row_state": shards[0]["row_state"]},
        }
        _fsync_dir(directory)
        _publish(path, manifest)
        for entry in os.listdir(path):  # older versions and debris
            if entry != name and entry.startswith("v") and entry[1:].isdigit():
                shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
        self._checkpoint = (directory, manifest)

    @classmethod
    def load(cls, path, num_shards=None, *, address=None, actor_options=None):
        """A table from the checkpoint `save` wrote under `path`, over `num_shards` actors
        (default: as saved; another count reshards). The optimizer's configuration, state
        and step count come back with the rows."""
        manifest = _read_manifest(os.fspath(path))
        directory = os.path.join(os.fspath(path), manifest["directory"])
        opt = manifest["optimizer"]
        optimizer = None if opt is None else optimizer_from(opt["class"], opt["config"])
        table = cls(manifest["input_dim"], manifest["output_dim"],
                    manifest["num_shards"] if num_shards is None else num_shards,
                    dtype=manifest["dtype"], optimizer=optimizer, address=address,
                    actor_options=actor_options, _source=("checkpoint", directory, manifest))
        table.iterations = 0 if opt is None else opt["iterations"]
        return table

    def restore(self):
        """Bring every shard back to the last checkpoint (the last `save`, or the one this
        table was loaded from): dead actors are replaced, live ones reload their rows, and
        rows, optimizer state and step count are the checkpoint's on every shard."""
        if self._checkpoint is None:
            raise RuntimeError("no checkpoint to restore: save(path) first")
        if self.actors is None:
            raise RuntimeError("this ShardedEmbedding was shut down")
        directory, manifest = self._checkpoint
        source = ("checkpoint", directory, manifest)
        ray = self._ray
        calls = []
        for i, ref in [(i, a.ping.remote()) for i, a in enumerate(self.actors)]:
            try:
                ray.get(ref)
                calls.append((i, self.actors[i].load.remote(directory, manifest)))
            except ray.exceptions.RayError:  # gone: a new actor reads the checkpoint
                ray.kill(self.actors[i], no_restart=True)
                self.actors[i] = self._start(i, source)
                calls.append((i, self.actors[i].ping.remote()))
        self._failed = None
        self._gather(calls)
        opt = manifest["optimizer"]
        self.iterations = 0 if opt is None else opt["iterations"]

    def shutdown(self):
        """Stop the shard actors (Ray itself keeps running; ``ray.shutdown()`` stops it)."""
        if self.actors is None:
            return
        for a in self.actors:
            try:
                self._ray.kill(a, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors = None


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(path, manifest):
    """Replace ``path/manifest.json`` atomically: write aside, fsync, rename, fsync dir."""
    tmp = os.path.join(path, f".{MANIFEST}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(path, MANIFEST))
    _fsync_dir(path)


def _read_manifest(path, missing_ok=False):
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path} holds no ShardedEmbedding checkpoint "
                                f"({MANIFEST} is missing)") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}/{MANIFEST} is not a {FORMAT} checkpoint")
    return manifest
