"""Keras 3 layers whose forward and backward run fastembed's kernels.

`Embedding` and `EmbeddingBag` are real ``keras.layers.Layer`` subclasses (registered for
serialization under the package name "fastembed"): they go in ``Sequential`` and
functional models, ``TimeDistributed`` and ``Bidirectional`` wrappers, ``compile``/``fit``/
``predict``, ``model.save`` and ``keras.models.load_model``. Their table, ``embeddings``, is
a Keras variable made in ``build()``; initializers, regularizers and constraints are
Keras's own. What runs the lookup depends on the backend Keras was imported with:

- torch: the modules of `fastembed.interop.torch` (their autograd functions call
  `fastembed.lookup` / `lookup_bag` forward and `accumulate` / `accumulate_bag` backward),
  on the Keras variable's own ``torch.nn.Parameter``, zero-copy; where nothing needs a
  gradient (``predict`` runs under ``torch.no_grad``) `fastembed.lookup` / `lookup_bag`
  straight from the Parameter's memory, without the per-call module and autograd node. The
  table is moved onto 2 MB pages at build where Linux allows it (torch's allocator leaves
  it on 4 KB pages, and a lookup of random rows then pays a TLB miss per row);
- jax: `fastembed.interop.jax` (custom VJP, host callbacks, works under ``jit``);
- tensorflow: ``tf.numpy_function`` under a ``tf.custom_gradient`` whose gradient is a
  ``tf.IndexedSlices`` with one row per distinct id (summed), so Keras's Adam takes the
  steps it takes on torch and jax (Keras's own Embedding there passes one slice per
  occurrence, and Keras's sparse Adam squares each occurrence instead of their sum).
  Tested with tensorflow-cpu 2.21.0; CI does not install tensorflow;
- numpy: inference (Keras cannot train on it).

``sparse_optimizer=`` (torch and jax backends) takes a `fastembed.optimizers` instance: the
table is then updated by that optimizer's fused sparse step inside the backward pass (only
the rows the batch touched), and Keras's optimizer leaves it alone. On torch the table
leaves the model's trainable weights. On jax, whose trainer keeps no state but what the
jitted step returns, it stays trainable with ``overwrite_with_gradient`` set: the backward
updates the table's buffer in place (``jax.experimental.buffer_callback`` aliasing its
operand to its output, so no copy) and hands the updated table back as its "gradient",
which Keras's optimizer assigns as it is (the mechanism Keras uses for float8 scales: no
slots, clipping or decay for it). See `Embedding` for what that gives up.
"""
import ctypes
import numbers
import sys
import weakref

import keras
import numpy as np

import fastembed
from fastembed.config import layer_arguments
from fastembed.layer import KERAS1_ALIASES

__all__ = ["Embedding", "EmbeddingBag", "from_config"]

_BAG_MODES = ("sum", "mean", "max", "sqrtn")


def _whole_ids(ids):
    """`ids` as an integer NumPy array. Float ids (Keras 3's ``Sequential`` feeds its input
    layer as float32) must hold whole numbers; a fractional or non-finite one raises
    ValueError naming its position and value."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        return ids
    if ids.dtype.kind != "f":
        raise TypeError(f"ids must be integers (or floats holding whole numbers), got {ids.dtype}")
    whole = np.isfinite(ids) & (ids == np.trunc(ids))
    if not whole.all():
        bad = np.unravel_index(int(np.argmin(whole)), ids.shape)
        raise ValueError(f"ids must be whole numbers: got {ids[bad]!r} at position {bad} "
                         "(a float id is used only when it has no fractional part)")
    return ids.astype(np.int64 if np.abs(ids).max(initial=0) >= 2**31 else np.int32)


_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25  # Linux's <asm-generic/mman-common.h>


def _huge_pages(tensor):
    """Ask Linux to back a large CPU torch tensor's memory with 2 MB pages, now
    (``MADV_COLLAPSE``, Linux 6.1+: the pages are copied into huge ones in place, contents
    unchanged) and on later faults (``MADV_HUGEPAGE``). A lookup reads rows of the table at
    random, and with 4 KB pages nearly every row is also a TLB miss (a page walk): the
    gather ceiling in benchmarks/README.md falls from ~0.37 to ~0.26 of copy. NumPy advises
    this for its own large arrays; torch's allocator does not. Advice only: where the kernel
    refuses (THP "never", another OS, an older kernel), nothing changes. Returns True when
    the memory is now on huge pages."""
    if not sys.platform.startswith("linux") or tensor.device.type != "cpu":
        return False
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    lo = -(-start // _HUGE_PAGE) * _HUGE_PAGE  # the whole 2 MB pages inside the tensor
    hi = end // _HUGE_PAGE * _HUGE_PAGE
    if hi - lo < _HUGE_PAGE:
        return False
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return False
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return madvise(lo, hi - lo, _MADV_HUGEPAGE) == 0 and madvise(lo, hi - lo, _MADV_COLLAPSE) == 0


def _int_ids_jax(ids):
    import jax
    # jax's default integer is int32 (x64 off): wider ids are not representable there anyway
    out = jax.ShapeDtypeStruct(ids.shape, jax.numpy.int32)
    return jax.pure_callback(lambda a: _whole_ids(a).astype(np.int32), out, ids,
                             vmap_method="sequential")


# ---- the lookup, per backend ---------------------------------------------------------------
# Each takes (layer, table, ids, training) with ids of any float/int dtype and returns the
# looked-up (or pooled) rows as a backend tensor.

def _torch_run(layer, table, ids, training):
    import torch
    import fastembed.interop.torch as fet
    if ids.dtype.is_floating_point:
        ids = torch.from_numpy(_whole_ids(ids.detach().cpu().numpy()))
    fused = layer.sparse_optimizer if (training and layer.trainable) else None
    if fused is None and not (table.requires_grad and torch.is_grad_enabled()) \
            and table.dtype in (torch.float32, torch.float64, torch.float16) \
            and ids.dtype in (torch.int32, torch.int64) \
            and table.device.type == "cpu" and ids.device.type == "cpu":
        # nothing to differentiate (predict runs under no_grad): the lookup straight from
        # the table's memory into a NumPy result that the returned tensor shares, without
        # the per-call module and autograd node the training path needs
        ids_np = ids.detach().numpy()
        if not layer._bag:
            return torch.from_numpy(fastembed.lookup(table.detach().numpy(), ids_np))
        try:
            return torch.from_numpy(fastembed.lookup_bag(
                table.detach().numpy(), ids_np, mode=layer.mode, padding_idx=layer.padding_idx))
        except IndexError as e:  # the class interop.torch's bag raises (torch's RuntimeError)
            raise fet.IndexRuntimeError(*e.args) from None
    n_rows, dim = table.shape
    # interop.torch's public modules, pointed at the Keras variable's own Parameter, so the
    # gradient lands in its .grad where Keras's trainer reads it
    if layer._bag:
        module = fet.EmbeddingBag(n_rows, dim, mode=layer.mode, padding_idx=layer.padding_idx,
                                  _weight=table)
    else:
        module = fet.Embedding(n_rows, dim, _weight=table)
    module.weight = table
    if fused is None:
        return module(ids)
    if not table.requires_grad:  # a non-trainable Keras variable: autograd must still call back
        table.requires_grad_(True)
    sparse = fet.SparseOptimizer([module], fused)
    out = module(ids)
    if out.grad_fn is not None:
        # after this node's backward has handed (ids, grad) to `sparse`: one fused update
        out.grad_fn.register_hook(lambda grad_inputs, grad_outputs: sparse.step())
    return out


class _JaxSparseStep:
    """The lookup and the fused update of a layer trained by its `sparse_optimizer` on jax
    (`fastembed.interop.jax.trained_lookup`'s `run`: hashable by identity, one per layer)."""

    def __init__(self, layer):
        self.layer = layer
        self.address = None  # of the table buffer the optimizer's state is bound to
        self.traced = lambda: None  # a weak reference to the table tracer last looked up

    def forward(self, table, ids):
        import fastembed.interop.jax as fej
        layer = self.layer
        if layer._bag:
            return fej.lookup_bag(table, ids, mode=layer.mode, padding_idx=layer.padding_idx)
        return fej.lookup(table, ids)

    def update(self, table, ids, grad_output):
        layer, opt = self.layer, self.layer.sparse_optimizer
        address = table.__array_interface__["data"][0]
        if self.address is not None and address != self.address:
            opt.rebind(self.address, table)  # set_weights / load gave JAX a new buffer
        self.address = address
        if layer._bag:
            grad = fastembed.accumulate_bag(
                ids, None, grad_output, table.shape[0], mode=layer.mode,
                padding_idx=layer.padding_idx, weights=table if layer.mode == "max" else None)
            opt.apply(table, grad)
        else:
            opt.step(table, ids.reshape(-1), grad_output.reshape(-1, table.shape[1]))


def _jax_run(layer, table, ids, training):
    import jax.numpy as jnp
    import fastembed.interop.jax as fej
    if jnp.issubdtype(ids.dtype, jnp.floating):
        ids = _int_ids_jax(ids)
    if training and layer.trainable and layer.sparse_optimizer is not None:
        import jax
        run = layer._jax_sparse = layer._jax_sparse or _JaxSparseStep(layer)
        if isinstance(table, jax.core.Tracer):
            # a second call in one traced step would add a second "gradient" (a whole table)
            if run.traced() is table:
                raise ValueError(f"layer {layer.name!r} with sparse_optimizer is called more "
                                 "than once in one training step; on jax it must be called "
                                 "once (share ids by concatenating them)")
            run.traced = weakref.ref(table)
        return fej.trained_lookup(table, ids, run)
    if layer._bag:
        return fej.lookup_bag(table, ids, mode=layer.mode, padding_idx=layer.padding_idx)
    return fej.lookup(table, ids)


def _numpy_run(layer, table, ids, training):
    ids = _whole_ids(ids)
    table = np.asarray(table)
    if layer._bag:
        return fastembed.lookup_bag(table, ids, mode=layer.mode, padding_idx=layer.padding_idx)
    return fastembed.lookup(table, ids)


def _tensorflow_run(layer, table, ids, training):
    """Forward by tf.numpy_function, gradient as tf.IndexedSlices (rows touched only)."""
    import tensorflow as tf
    n_rows, dim = table.shape
    shape = ids.shape
    ids = tf.numpy_function(lambda a: _whole_ids(a).astype(np.int64), [ids], tf.int64)
    ids.set_shape(shape)
    bag = layer._bag

    def forward(w, i):
        if bag:
            return fastembed.lookup_bag(w, i, mode=layer.mode, padding_idx=layer.padding_idx)
        return fastembed.lookup(w, i)

    def gradient(w, i, g):
        if bag:
            grad = fastembed.accumulate_bag(i, None, g, n_rows, mode=layer.mode,
                                            padding_idx=layer.padding_idx,
                                            weights=w if layer.mode == "max" else None)
        else:
            grad = fastembed.accumulate(i, g, n_rows)
        return grad.indices, grad.values.astype(g.dtype, copy=False)

    @tf.custom_gradient
    def run(w):
        out = tf.numpy_function(forward, [w, ids], w.dtype)
        out.set_shape(ids.shape[:1] + (dim,) if bag else ids.shape + (dim,))

        def grad(g):
            idx, values = tf.numpy_function(gradient, [w, ids, g], [tf.int64, g.dtype])
            values.set_shape((None, dim))
            return tf.IndexedSlices(values, idx, dense_shape=tf.constant([n_rows, dim], tf.int64))
        return out, grad

    return run(tf.convert_to_tensor(table))


_RUN = {"torch": _torch_run, "jax": _jax_run, "numpy": _numpy_run,
        "tensorflow": _tensorflow_run}


# ---- argument handling -----------------------------------------------------------------------

def _regularizer(value):
    # tf.keras's "l1_l2" (Keras 3 refuses the string) is l1_l2() = L1L2(0.01, 0.01)
    if value == "l1_l2":
        return keras.regularizers.L1L2(l1=0.01, l2=0.01)
    return keras.regularizers.get(value)


def _initializer(value, seed):
    init = keras.initializers.get(value)
    if seed is not None and isinstance(value, str) and "seed" in init.get_config():
        init = type(init).from_config({**init.get_config(), "seed": seed})
    return init


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _take_keras1_names(kwargs, given):
    """Move Keras 1's ``init``, ``W_regularizer``, ``W_constraint`` out of `kwargs` into
    `given` (the Keras 2/3 arguments); both names for one argument raise TypeError."""
    for alias, target in KERAS1_ALIASES.items():
        if alias in kwargs:
            if given[target] is not None and given[target] != "uniform":
                raise TypeError(f"got both {alias} and {target} (the Keras 1 name of the same "
                                "argument)")
            given[target] = kwargs.pop(alias)
    return given


class _Table(keras.layers.Layer):
    """What Embedding and EmbeddingBag share: the table, its arguments and the backward."""

    _bag = False

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, weights=None,
                 sparse_optimizer=None, seed=None, **kwargs):
        given = _take_keras1_names(kwargs, {
            "embeddings_initializer": embeddings_initializer,
            "embeddings_regularizer": embeddings_regularizer,
            "embeddings_constraint": embeddings_constraint})
        activity = kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=_regularizer(activity), **kwargs)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.seed = seed
        self.embeddings_initializer = _initializer(given["embeddings_initializer"], seed)
        self.embeddings_regularizer = _regularizer(given["embeddings_regularizer"])
        self.embeddings_constraint = keras.constraints.get(given["embeddings_constraint"])
        if sparse_optimizer is not None:
            if not hasattr(sparse_optimizer, "step"):
                raise TypeError("sparse_optimizer must be a fastembed.optimizers instance, got "
                                f"{type(sparse_optimizer).__name__}")
            if keras.backend.backend() not in ("torch", "jax"):
                raise ValueError("sparse_optimizer runs on the torch and jax backends only "
                                 f"(this Keras uses {keras.backend.backend()!r}); leave it None "
                                 "to train the table with the model's Keras optimizer")
            if self.embeddings_regularizer is not None or self.embeddings_constraint is not None:
                raise ValueError("with sparse_optimizer the table is not in Keras's optimizer: "
                                 "an embeddings_regularizer or embeddings_constraint would not "
                                 "be applied; use the fastembed optimizer's weight_decay, or "
                                 "leave sparse_optimizer None")
        self.sparse_optimizer = sparse_optimizer
        self._jax_sparse = None
        if weights is not None:
            w = np.asarray(weights[0] if isinstance(weights, (list, tuple)) else weights)
            if w.shape != (self.input_dim, self.output_dim):
                raise ValueError(f"weights must have shape {(self.input_dim, self.output_dim)}, "
                                 f"got {w.shape}")
            weights = w
        self._initial_weights = weights

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim), initializer=self.embeddings_initializer,
            name="embeddings", regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
            trainable=self.sparse_optimizer is None or keras.backend.backend() == "jax")
        if self.sparse_optimizer is not None and keras.backend.backend() == "jax":
            # Keras's jax trainer takes new values only from what the step returns: the
            # backward hands the updated table back as the "gradient", and Keras's optimizer
            # assigns it as it is (no slots, clipping or decay for it; see Embedding)
            self.embeddings.overwrite_with_gradient = True
        if self._initial_weights is not None:
            self.embeddings.assign(self._initial_weights)
            self._initial_weights = None
        if keras.backend.backend() == "torch":
            # Keras assigns (set_weights, load_model) by copying into this same memory; None
            # while a stateless scope defers the variable's creation
            table = getattr(self.embeddings, "_value", None)
            if table is not None:
                _huge_pages(table)
        self.built = True

    def _lookup(self, inputs, training):
        backend = keras.backend.backend()
        if backend not in _RUN:
            raise NotImplementedError(f"fastembed.interop.keras has no path for the {backend!r} "
                                      f"backend (it has {sorted(_RUN)})")
        return _RUN[backend](self, self.embeddings.value, inputs, training)

    def get_config(self):
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim, "output_dim": self.output_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": keras.constraints.serialize(self.embeddings_constraint),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
            "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="fastembed")
class Embedding(_Table):
    """Keras's ``Embedding`` on fastembed's kernels: ``layer(ids) == embeddings[ids]``.

    Parameters
    ----------
    input_dim, output_dim : int
        Rows (vocabulary size) and width of the table. Positive.
    embeddings_initializer : default "uniform"
        Keras's initializers (name, dict or object); "uniform" is RandomUniform(-0.05, 0.05).
    embeddings_regularizer, activity_regularizer, embeddings_constraint
        Keras's (name, dict or object); tf.keras's "l1_l2" string is L1L2(0.01, 0.01).
    mask_zero : bool, default False
        ``compute_mask`` gives ``ids != 0``; the mask flows on to RNNs and wrappers.
    weights : array or [array] of shape (input_dim, output_dim), optional
        Initial table (Keras 1 and tf.keras).
    input_length : int or tuple of int/None, optional
        tf.keras 2: the trailing shape of the ids, used by ``compute_output_shape`` and, as
        the first layer of a ``Sequential``, as its input shape; ids whose trailing shape
        disagrees raise ValueError.
    dropout : float in [0, 1), default 0.0
        Keras 1: in a training call each row of the table is dropped with this probability
        (the same rows in every sample), kept rows scaled by 1 / (1 - dropout).
    sparse_optimizer : a `fastembed.optimizers` instance, optional (torch and jax backends)
        Train the table with this optimizer's fused sparse step inside the backward pass,
        instead of with the model's Keras optimizer. Faster for large tables (only the rows
        a batch touched are read and written); it gives up: the table is not in Keras's
        optimizer (its learning-rate schedule, gradient clipping, weight decay, EMA,
        gradient accumulation and loss scaling do not apply to it: do not combine it with
        loss scaling, which would scale its gradient, or ``gradient_accumulation_steps``,
        which it does not follow);
        fastembed's Adam is lazy (untouched rows' moments do not decay) and counts its own
        steps; no embeddings_regularizer or embeddings_constraint; the optimizer's state is
        not saved with the model (a loaded model has no sparse_optimizer). On torch the
        table leaves the model's trainable weights (the model needs another trainable weight
        for Keras to run a backward at all). On jax it stays among them, flagged
        ``overwrite_with_gradient``: the backward is a side effect inside the jitted step
        (a host callback updating the table's buffer in place, once per step) whose
        "gradient" is the updated table, so a ``jax.grad`` of this layer's training call
        taken by hand returns the table, not a gradient; the layer must be called once per
        training step (a second call raises ValueError) and its table read by no other
        layer.
    seed : int, optional
        Seeds the initializer (when given by name) and the dropout draws.
    init, W_regularizer, W_constraint
        Keras 1 names of the three arguments above.
    **kwargs
        Keras's layer arguments (name, dtype, trainable, ...).
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, input_length=None,
                 dropout=0.0, sparse_optimizer=None, seed=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         activity_regularizer=activity_regularizer,
                         embeddings_constraint=embeddings_constraint, weights=weights,
                         sparse_optimizer=sparse_optimizer, seed=seed, **kwargs)
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"mask_zero must be True or False, got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = True
        if input_length is not None:
            lengths = tuple(input_length) if isinstance(input_length, (list, tuple)) \
                else (input_length,)
            for n in lengths:
                if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral)
                                      or n <= 0):
                    raise ValueError("input_length must be a positive integer, None, or a "
                                     f"tuple of them, got {input_length!r}")
            input_length = tuple(None if n is None else int(n) for n in lengths)
            if getattr(self, "_input_shape_arg", None) is None:
                self._input_shape_arg = input_length  # tf.keras: the Sequential's input shape
        self.input_length = input_length
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
                or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self._dropout_seeds = keras.random.SeedGenerator(seed) if self.dropout else None

    def _check_length(self, shape):
        if self.input_length is None:
            return
        n = len(self.input_length)
        tail = tuple(shape)[-n:] if len(shape) >= n else None
        if tail is None or any(want is not None and got is not None and want != got
                               for want, got in zip(self.input_length, tail)):
            raise ValueError(f"ids of shape {tuple(shape)} do not end with input_length "
                             f"{self.input_length}")

    def call(self, inputs, training=None):
        self._check_length(inputs.shape)
        out = self._lookup(inputs, training)
        if self.dropout and training:
            # Keras 1's rule: a Bernoulli draw per table row (O(input_dim) per call)
            keep = keras.random.uniform((self.input_dim,), seed=self._dropout_seeds) \
                >= self.dropout
            scale = keras.ops.cast(keep, out.dtype) / (1.0 - self.dropout)
            ids = keras.ops.cast(inputs, "int32")
            out = out * keras.ops.expand_dims(keras.ops.take(scale, ids), -1)
        return out

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return keras.ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.input_length is not None:
            self._check_length(shape)
            n = len(self.input_length)
            shape = shape[:-n] + tuple(want if got is None else got for want, got
                                       in zip(self.input_length, shape[-n:]))
        return shape + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_zero": self.mask_zero,
                       "input_length": None if self.input_length is None
                       else list(self.input_length),
                       "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="fastembed")
class EmbeddingBag(_Table):
    """Pooled lookup: ids ``(batch, L)`` to ``(batch, output_dim)``, one bag per row, by
    `fastembed.lookup_bag` (what ``Embedding`` + ``GlobalAveragePooling1D`` computes for
    ``mode="mean"``, in one pass and without the ``(batch, L, output_dim)`` intermediate).

    Parameters
    ----------
    input_dim, output_dim : int
    mode : {"sum", "mean", "max", "sqrtn"}, default "mean"
    padding_idx : int, optional
        Entries equal to it are skipped (and not counted in a mean); its row gets no
        gradient.
    embeddings_initializer, embeddings_regularizer, activity_regularizer,
    embeddings_constraint, weights, sparse_optimizer, seed, **kwargs
        As for `Embedding`.
    """

    _bag = True

    def __init__(self, input_dim, output_dim, mode="mean", padding_idx=None, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        if mode not in _BAG_MODES:
            raise ValueError(f"mode must be one of {_BAG_MODES}, got {mode!r}")
        self.mode = mode
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
                    or not -self.input_dim <= padding_idx < self.input_dim:
                raise ValueError(f"padding_idx must be an int in [-{self.input_dim}, "
                                 f"{self.input_dim}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % self.input_dim
        self.padding_idx = padding_idx

    def call(self, inputs, training=None):
        if len(inputs.shape) != 2:
            raise ValueError(f"EmbeddingBag takes ids of shape (batch, bag_size), got "
                             f"{tuple(inputs.shape)}")
        return self._lookup(inputs, training)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"EmbeddingBag takes ids of shape (batch, bag_size), got "
                             f"{tuple(input_shape)}")
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "padding_idx": self.padding_idx})
        return config


def from_config(config):
    """This module's `Embedding` from a layer config in any form `fastembed.from_config`
    reads: fastembed's or Keras 3's ``get_config()``, Keras's ``{"class_name": "Embedding",
    "config": {...}}``, Keras 1 names, Polyaxon's ``{"Embedding": {...}}``, or JSON or
    YAML text of one of them (YAML needs PyYAML).

    fastembed's ``regularizer_mode`` is dropped: Keras applies an embeddings regularizer's
    gradient to every row, which is fastembed's "exact" mode.

    Raises
    ------
    ValueError, TypeError
        As `fastembed.from_config` (unknown class or keys, named in the message).
    """
    kwargs = layer_arguments(config, expected="Embedding")
    kwargs.pop("regularizer_mode", None)
    return Embedding(**kwargs)
