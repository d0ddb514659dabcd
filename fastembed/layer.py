"""The Keras-compatible Embedding layer: thin Python over `fastembed.lookup` and
`fastembed.accumulate`.

Keras 2/3 semantics (arguments, masking, output shapes, regularizer losses, config), the
Keras 1 arguments `weights` and `dropout` and names `init`, `W_regularizer`,
`W_constraint`, and what Keras leaves to its autodiff written out: `backward` returns the
table's row-sparse gradient for the last training call.
"""
import itertools

import numpy as np

from fastembed import _ops_init as rng, _savefile
from fastembed import constraints, initializers, regularizers
from fastembed.config import KERAS1_ALIASES, layer_arguments, register
from fastembed._arrays import as_array, as_ids
from fastembed._threads import resolve as _resolve_threads
from fastembed._validate import flag, integer, real
from fastembed.ops import accumulate, lookup
from fastembed.quantized import QuantizedTable, quantize
from fastembed.sparse import RowSparseGrad

__all__ = ["Embedding"]

REGULARIZER_MODES = ("lazy", "exact")
# Keras 1 argument names and the Keras 2/3 names they stand for.
_SAVE_FORMAT = "fastembed.Embedding"
_SAVE_VERSION = 1

_layer_numbers = itertools.count()

def _layer_dtype(dtype):
    if dtype is None:
        return np.dtype(np.float32)  # Keras's floatx
    try:
        dt = np.dtype(dtype)
    except TypeError:
        if isinstance(dtype, str):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
        raise TypeError(f"dtype must be 'float32' or 'float64', got {type(dtype).__name__} "
                        f"{dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dt}")
    return dt


def _input_length(value):
    """None, or a tuple of positive ints / None (Keras 2 allows an int or a list)."""
    if value is None:
        return None
    lengths = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not lengths:
        raise ValueError("input_length must not be empty")
    return tuple(None if n is None else integer(n, "input_length", low=1) for n in lengths)


def _named(argument, build):
    """`build()`, with a failure's message prefixed by the argument it concerns (the
    modules' own messages name the bad value and the valid names, not the argument)."""
    try:
        return build()
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{argument}: {exc}") from exc


@register
class Embedding:
    """Turns integer ids into dense vectors: ``layer(ids) == layer.embeddings[ids]``.

    Parameters
    ----------
    input_dim : int
        Rows of the table (vocabulary size; the largest id + 1). Positive.
    output_dim : int
        Width of each embedding. Non-negative (0: a zero-width table, as Keras 1 allows).
    embeddings_initializer : str, dict or Initializer, default "uniform"
        Keras's names (`fastembed.initializers`); "uniform" is RandomUniform(-0.05, 0.05).
    embeddings_regularizer, activity_regularizer : str, dict or Regularizer, optional
        `fastembed.regularizers` L1, L2, L1L2 or a name ("l1", "l2", "l1_l2"). The
        embeddings penalty is in `losses`; its gradient is applied as `regularizer_mode`
        says. The activity penalty (on the output, divided by the batch size) is in
        `losses` and its gradient is in `backward`.
    embeddings_constraint : str, dict or Constraint, optional
        Applied by `apply_constraint` (the optimizers call it after each update). Keras's
        MaxNorm, UnitNorm and MinMaxNorm default to ``axis=0``: on this table that
        constrains columns; ``axis=1`` constrains each embedding.
    mask_zero : bool, default False
        `compute_mask` gives ``ids != 0``; the row of id 0 is still looked up, as in Keras.
    input_length : int or sequence of int/None, optional
        The trailing shape of the ids: used by `compute_output_shape`, and ids whose
        trailing shape disagrees raise ValueError.
    weights : array or [array], shape (input_dim, output_dim), optional
        Initial table (Keras 1); the initializer is not run.
    dropout : float in [0, 1), default 0.0
        Keras 1's embedding dropout: in a training call every distinct id is dropped with
        this probability (all its occurrences), kept rows are scaled by 1 / (1 - dropout).
    dtype : "float32" or "float64", default "float32"
    seed : int, optional
        Seeds the initializer (when given by name) and the dropout draws.
    name : str, optional
    regularizer_mode : {"lazy", "exact"}, default "lazy"
        fastembed extension. "lazy": the optimizers add the embeddings regularizer's gradient
        on the rows a batch touched only. "exact": `backward` returns a gradient over every
        row that includes the regularizer's gradient, as Keras computes it.
    trainable : bool, default True
        Kept for Keras configs; fastembed's optimizers update whatever they are given.
    init, W_regularizer, W_constraint
        Keras 1 names of `embeddings_initializer`, `embeddings_regularizer`,
        `embeddings_constraint`.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None,
                 weights=None, dropout=0.0, dtype="float32", seed=None, name=None, *,
                 regularizer_mode="lazy", trainable=True, **keras1_names):
        unknown = sorted(set(keras1_names) - set(KERAS1_ALIASES))
        if unknown:
            raise TypeError(f"Embedding got unexpected keyword argument(s) {unknown}; the Keras "
                            f"1 aliases are {sorted(KERAS1_ALIASES)}")
        given = {"embeddings_initializer": embeddings_initializer,
                 "embeddings_regularizer": embeddings_regularizer,
                 "embeddings_constraint": embeddings_constraint}
        defaults = {"embeddings_initializer": "uniform", "embeddings_regularizer": None,
                    "embeddings_constraint": None}
        for alias, value in keras1_names.items():
            target = KERAS1_ALIASES[alias]
            if not (given[target] is defaults[target] or given[target] == defaults[target]):
                raise TypeError(f"Embedding got both {alias} and {target} (the Keras 1 name of "
                                f"the same argument)")
            given[target] = value

        self.input_dim = integer(input_dim, "input_dim", low=1)
        # >= 0 as Keras 1 and Polyaxon document it (Keras 3 wants > 0): a zero-width table
        # is valid, its lookups are empty
        self.output_dim = integer(output_dim, "output_dim", low=0)
        self.dtype = _layer_dtype(dtype)
        self.seed = None if seed is None else integer(seed, "seed", low=0)
        self.dropout = real(dropout, "dropout", low=0.0, high=1.0, high_open=True)
        if regularizer_mode not in REGULARIZER_MODES:
            raise ValueError(f"regularizer_mode must be one of {REGULARIZER_MODES}, got "
                             f"{regularizer_mode!r}")
        self.regularizer_mode = regularizer_mode
        self.mask_zero = flag(mask_zero, "mask_zero")
        self.trainable = flag(trainable, "trainable")
        self.input_length = _input_length(input_length)
        if name is None:
            number = next(_layer_numbers)
            name = "embedding" if number == 0 else f"embedding_{number}"
        elif not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name

        self.embeddings_initializer = _named(
            "embeddings_initializer",
            lambda: initializers.get(given["embeddings_initializer"], seed=seed))
        self.embeddings_regularizer = _named(
            "embeddings_regularizer", lambda: regularizers.get(given["embeddings_regularizer"]))
        self.activity_regularizer = _named(
            "activity_regularizer", lambda: regularizers.get(activity_regularizer))
        self.embeddings_constraint = _named(
            "embeddings_constraint", lambda: constraints.get(given["embeddings_constraint"]))
        if self.embeddings_initializer is None:
            raise ValueError("embeddings_initializer must not be None")
        reg = self.embeddings_regularizer
        if reg is not None and regularizer_mode == "lazy" and not isinstance(
                reg, regularizers.L1L2):
            raise ValueError(f"regularizer_mode='lazy' needs an L1/L2/L1L2 embeddings "
                             f"regularizer (the optimizers apply l1 and l2 themselves), got "
                             f"{reg!r}; use regularizer_mode='exact' for other penalties")

        shape = (self.input_dim, self.output_dim)
        if weights is not None:
            self._embeddings = np.array(self._checked_weights(weights, "weights"),
                                        dtype=self.dtype, order="C", copy=True)
        else:
            init = self.embeddings_initializer
            if isinstance(init, initializers.Initializer):
                table = init(shape, self.dtype, num_threads=None)
            else:  # a plain callable, Keras style
                table = init(shape, self.dtype)
            table = np.asarray(table)
            if table.shape != shape:
                raise ValueError(f"embeddings_initializer returned shape {table.shape}, "
                                 f"expected {shape}")
            self._embeddings = np.require(table.astype(self.dtype, copy=False),
                                          requirements=("C", "W", "A"))

        # Dropout: the keep/drop decision of an id is a function of (seed, call number, id).
        if seed is None:
            self._dropout_base = int(np.random.SeedSequence().entropy) & ((1 << 64) - 1)
        else:
            self._dropout_base = rng.dropout_base(seed)
        self._dropout_calls = 0
        self._last_training = None   # what backward needs from the last training call
        self._activity_loss = None

    # ---- weights ---------------------------------------------------------------------------

    @property
    def embeddings(self):
        """The (input_dim, output_dim) table, a C-contiguous ndarray updated in place by
        `set_weights` and by the optimizers."""
        return self._embeddings

    def _checked_weights(self, weights, name):
        """The one table in `weights` (an array or a one-element list), shape-checked."""
        if isinstance(weights, (list, tuple)):
            if len(weights) != 1:
                raise ValueError(f"{name} must hold exactly one array (the embeddings), got "
                                 f"{len(weights)}")
            weights = weights[0]
        w = as_array(weights, name)
        if w.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real-valued array, got dtype {w.dtype}")
        expected = (self.input_dim, self.output_dim)
        if w.shape != expected:
            raise ValueError(f"{name} must have shape {expected} (input_dim, output_dim), "
                             f"got {w.shape}")
        return w

    def get_weights(self):
        """[a copy of the table], as Keras returns it."""
        return [self._embeddings.copy()]

    def set_weights(self, weights):
        """Copy ``weights[0]`` into the table (in place, so optimizer state stays bound).

        Raises ValueError (wrong count or shape) or TypeError (not real-valued) and keeps the
        old table."""
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"set_weights takes a list of one array, got {type(weights).__name__}")
        w = self._checked_weights(weights, "weights")
        np.copyto(self._embeddings, w, casting="unsafe")

    # ---- forward --------------------------------------------------------------------------

    def _check_trailing_shape(self, shape, what):
        """``shape`` with `input_length` filled in; ValueError when they disagree."""
        shape = tuple(shape)
        if self.input_length is None:
            return shape
        k = len(self.input_length)
        if len(shape) < k + 1:
            raise ValueError(f"{what} {shape} must have a batch axis and trailing axes "
                             f"input_length = {self.input_length}")
        merged = []
        for got, expected in zip(shape[-k:], self.input_length):
            if got is not None and expected is not None and got != expected:
                raise ValueError(f"{what} {shape} disagrees with input_length = "
                                 f"{self.input_length} (its last {k} axes must match)")
            merged.append(got if expected is None else expected)
        return shape[:-k] + tuple(merged)

    def __call__(self, ids, training=False, *, num_threads=None):
        """Look up `ids`: ``embeddings[ids]``, of shape ``ids.shape + (output_dim,)``.

        Parameters
        ----------
        ids : array_like of integers, any shape
            Each in ``[0, input_dim)`` (IndexError otherwise, naming the first bad one).
        training : bool, default False
            A training call applies dropout and records what `backward` needs.
        num_threads : int, optional

        Returns
        -------
        ndarray, shape ``ids.shape + (output_dim,)``, the layer's dtype
        """
        idx, _ = as_ids(ids)
        self._check_trailing_shape(idx.shape, "ids of shape")
        if training and isinstance(self._embeddings, QuantizedTable):
            raise ValueError("this layer was quantized for inference and a quantized table "
                             "cannot be trained: train the float layer, quantize it afterwards")
        n_threads = _resolve_threads(num_threads)
        # the caller's ids, so an error names the value it was given (a huge uint64 id
        # reads as negative once viewed as int64)
        out = lookup(self._embeddings, ids, num_threads=n_threads)  # checks every id
        training = bool(training)
        dropout_key = None
        if training and self.dropout > 0.0:
            dropout_key = rng.dropout_key(self._dropout_base, self._dropout_calls)
            self._dropout_calls += 1
            # The draw is a pure function of (key, id): evaluated at every position it gives
            # each distinct id one decision, and costs less than grouping the ids first
            # (3-5x, measured); backward evaluates it once per distinct id.
            keep = rng.dropout_keep(idx, dropout_key, self.dropout, n_threads)
            scale = np.where(keep, self.dtype.type(1.0 / (1.0 - self.dropout)),
                             self.dtype.type(0.0))
            out *= scale[..., None]  # in place: no second output array
        self._activity_loss = None
        if self.activity_regularizer is not None:
            batch = out.shape[0]  # Keras divides by the output's first axis (0 gives 0)
            penalty = self.activity_regularizer(out)
            self._activity_loss = out.dtype.type(penalty / batch if batch else 0.0)
        if training:
            self._last_training = {
                "ids": idx.copy(),  # the caller may reuse its buffer before backward
                "dropout_key": dropout_key,
                "output": out if self.activity_regularizer is not None else None,
            }
        return out

    @property
    def supports_masking(self):
        """True when the layer produces a mask (`mask_zero`), as Keras 3 sets it."""
        return self.mask_zero

    def compute_mask(self, ids, mask=None):
        """``ids != 0`` (a bool array shaped like `ids`) when `mask_zero`, else None."""
        if not self.mask_zero:
            return None
        idx, _ = as_ids(ids)
        return np.not_equal(idx, 0)

    def compute_output_shape(self, input_shape):
        """``input_shape + (output_dim,)``, with `input_length` filling unknown (None) axes.

        Raises ValueError when `input_shape`'s trailing axes disagree with `input_length`."""
        if not isinstance(input_shape, (tuple, list)):
            raise TypeError(f"input_shape must be a tuple, got {type(input_shape).__name__}")
        shape = tuple(None if n is None else integer(n, "input_shape", low=0)
                      for n in input_shape)
        return self._check_trailing_shape(shape, "input_shape") + (self.output_dim,)

    @property
    def losses(self):
        """The regularization terms, as Keras lists them: the activity regularizer's value on
        the last call's output divided by its batch size, then the embeddings regularizer's
        value on the current table (computed when read, as Keras does)."""
        terms = []
        if self._activity_loss is not None:
            terms.append(self._activity_loss)
        if self.embeddings_regularizer is not None:
            terms.append(self.embeddings_regularizer(self._embeddings))
        return terms

    # ---- backward -------------------------------------------------------------------------

    @property
    def needs_backward(self):
        """True when the table's gradient is more than ``accumulate(ids, grad_output)``
        (dropout, an activity regularizer): the fused ``opt.step(layer, ids, grad_output)``
        then refuses the layer, and training goes through ``opt.apply(layer,
        layer.backward(grad_output))``."""
        return self.dropout > 0.0 or self.activity_regularizer is not None

    def backward(self, grad_output, *, num_threads=None):
        """The gradient of the loss with respect to the table, for the last training call.

        Parameters
        ----------
        grad_output : array_like, shape ``ids.shape + (output_dim,)``, float32 or float64
            Gradient of the loss with respect to that call's output.
        num_threads : int, optional

        Returns
        -------
        RowSparseGrad
            "lazy" mode: the rows the call touched (ids dropped by dropout left out), with
            the activity regularizer's gradient included; the optimizers add the embeddings
            regularizer's gradient on those rows. "exact" mode with an embeddings
            regularizer: every row, its regularizer gradient included.

        Raises
        ------
        RuntimeError
            No training call yet.
        ValueError, TypeError
            `grad_output` of the wrong shape or dtype.
        """
        if self._last_training is None:
            raise RuntimeError("backward needs a training call first: "
                               "layer(ids, training=True)")
        last = self._last_training
        ids = last["ids"]
        n_threads = _resolve_threads(num_threads)
        grad = grad_output
        if self.activity_regularizer is not None:
            out = last["output"]
            grad = as_array(grad_output, "grad_output")
            if grad.shape != out.shape:
                raise ValueError(f"grad_output must have shape {out.shape}, got {grad.shape}")
            if grad.dtype.kind != "f":
                raise TypeError(f"grad_output must be float32 or float64, got {grad.dtype}")
            batch = out.shape[0]
            if batch:
                grad = grad + self.activity_regularizer.gradient(out) / out.dtype.type(batch)
        result = accumulate(ids, grad, self.input_dim, num_threads=n_threads)
        if last["dropout_key"] is not None:  # the same draw as the forward, per distinct id
            keep = rng.dropout_keep(result.indices, last["dropout_key"], self.dropout, n_threads)
            scale = result.values.dtype.type(1.0 / (1.0 - self.dropout))
            result = RowSparseGrad._trusted(result.indices[keep],
                                            result.values[keep] * scale, self.input_dim)
        reg = self.embeddings_regularizer
        if self.regularizer_mode == "exact" and reg is not None:
            full = reg.gradient(self._embeddings)
            full = full.astype(np.result_type(full.dtype, result.values.dtype), copy=False)
            full[result.indices] += result.values
            result = RowSparseGrad._trusted(np.arange(self.input_dim, dtype=np.int64), full,
                                            self.input_dim)
        return result

    def quantize(self, bits=8, *, num_threads=None):
        """Replace the table by its 8- or 4-bit row-quantized form (`fastembed.quantize`),
        for inference: calls then return float32 rows dequantized from it, `embeddings` is
        the `QuantizedTable`, and training calls and optimizers refuse the layer."""
        if isinstance(self._embeddings, QuantizedTable):
            raise ValueError(f"this layer is already quantized ({self._embeddings.bits} bits)")
        self._embeddings = quantize(self._embeddings, bits, num_threads=num_threads)
        self._last_training = None

    def apply_constraint(self, rows=None, *, num_threads=None):
        """Apply `embeddings_constraint` in place: to `rows` (the ids an update touched) or,
        with None, to the whole table. No-op without a constraint.

        A column constraint (Keras's default ``axis=0``) always covers the whole table: a
        column spans every row. A plain callable gets the whole table too."""
        constraint = self.embeddings_constraint
        if constraint is None:
            return
        if hasattr(constraint, "apply_"):
            constraint.apply_(self._embeddings, rows, num_threads=num_threads)
        else:
            np.copyto(self._embeddings, np.asarray(constraint(self._embeddings)),
                      casting="same_kind")

    # ---- config and files -----------------------------------------------------------------

    def get_config(self):
        """Keras 3's keys (name, trainable, dtype, input_dim, output_dim, the three
        serialized objects, mask_zero, quantization_config) plus input_length and
        fastembed's dropout, seed and regularizer_mode. JSON-serialisable."""
        constraint = self.embeddings_constraint
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype.name,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
            "input_length": None if self.input_length is None else (
                self.input_length[0] if len(self.input_length) == 1
                else list(self.input_length)),
            "dropout": self.dropout,
            "seed": self.seed,
            "regularizer_mode": self.regularizer_mode,
        }

    @classmethod
    def from_config(cls, config):
        """A new layer from `get_config()`'s dict, or any form `fastembed.from_config`
        reads (Keras's ``{"class_name": "Embedding", "config": ...}``, Polyaxon's
        ``{"Embedding": {...}}``, a Keras 3 layer's config, YAML or JSON text)."""
        return cls(**layer_arguments(config, expected="Embedding"))

    def save(self, path):
        """Write config (JSON) and table to one ``.npz`` file at `path` (used as given),
        atomically: a temporary file in the same directory, flushed to disk, then renamed
        over `path`. A crash mid-save leaves the old file (or none) in place."""
        _savefile.save(path, _SAVE_FORMAT, _SAVE_VERSION,
                       {"config": self.get_config(), "dropout_calls": self._dropout_calls},
                       {"embeddings": self._embeddings})

    @classmethod
    def load(cls, path):
        """A layer from a file written by `save` (read with ``allow_pickle=False``); ValueError
        for another kind of file or another format version."""
        meta, arrays = _savefile.load(path, _SAVE_FORMAT, _SAVE_VERSION, required=("embeddings",))
        table = arrays["embeddings"]
        kwargs = layer_arguments(meta["config"], expected="Embedding")
        layer = cls(**kwargs, weights=[table])
        layer._dropout_calls = int(meta.get("dropout_calls", 0))
        return layer

    def __repr__(self):
        return (f"Embedding(input_dim={self.input_dim}, output_dim={self.output_dim}, "
                f"dtype={self.dtype.name!r}, name={self.name!r})")
