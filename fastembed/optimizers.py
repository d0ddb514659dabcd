"""Sparse optimizers: update only the rows a batch touched, in one fused C pass.

Each optimizer has Keras's arguments and formulas and keeps its state (moments,
accumulators) in NumPy arrays it owns, created lazily for each table it updates.
`apply(target, grad)` takes a `RowSparseGrad`; `step(target, ids, grad_output)` goes straight
from a lookup's ids and output gradient to the update, summing each touched row's gradient
(exactly as `fastembed.accumulate` does) while the row is updated, without materialising
the gradient. Both are two-phase: ids, shapes, dtypes, writability, hyperparameters and
(by default) the finiteness of the gradient are checked before the first write, so a call
that raises leaves the table, the state and `iterations` bit-identical. For `step` that
includes each touched row's summed gradient (finite grad_output rows can add up to inf):
it raises exactly when ``apply(target, accumulate(...))`` would. Results are bit-identical for any
thread count (each row is one thread's).

`iterations` (the step count t of Adam's bias correction ``sqrt(1 - beta_2**t) / (1 -
beta_1**t)``) advances by one on every successful `step` or `apply` call, per optimizer
object, whichever table the call updates: one optimizer updating two tables in a training
step advances twice. For PyTorch's behaviour (each parameter's step count advances once
per training step) use one optimizer per table, as with one torch optimizer per table. A
call that raises does not advance it.

Concurrent updates of one table from several Python threads are racy but memory-safe
(RELIABILITY.md); ``use_locking=True`` (TensorFlow's name) serializes the updates of each
table under a lock shared by every optimizer, so they equal some serial order of the calls.

`target` is a weights array (float32/float64/float16/bfloat16, writable, rows contiguous)
or an `Embedding` layer: then its embeddings regularizer gradient on the touched rows
("lazy" mode; "exact" mode goes through ``layer.backward``) and its row constraint are
applied too.

Half tables (float16, ``ml_dtypes.bfloat16``): each touched row is loaded as float32 and
updated exactly as a float32 table's row would be, from float32 state (the optimizer keeps
float32 state for them) and a float32 gradient (a half ``grad_output`` is widened exactly),
then rounded back once, by every optimizer's ``rounding`` argument:

- ``"nearest"`` (the default): to nearest, ties to even: the float32 step, then
  ``astype(table.dtype)``, bit for bit.
- ``"stochastic"`` (as FBGEMM trains half tables): to one of the two half values around the
  float32 result x, the farther one with probability ``|x - nearer| / |farther - nearer|``,
  so the expected stored value is x (exactly, except within 2**-32 of a step in float16's
  subnormal range) and small updates are not lost to rounding. Each element draws its own
  random bits from a counter-based hash of (``seed``, the step count ``iterations``, row,
  column): the same seed gives the same table, for any thread count. ``seed=None`` draws a
  seed from the OS when a stochastic optimizer is made; `get_config` (and so `save`)
  records the seed in use, so a restored optimizer continues the same draws.

``rounding`` is ignored for float32 and float64 tables (their rows are stored as before).
A row constraint projects the rounded row (the half constraint kernels, rounding to nearest).
"""
import contextlib
import math
import numbers
import operator
import secrets
import threading

import numpy as np

from fastembed import _ops_optim as rules, _savefile
from fastembed._arrays import as_table
from fastembed._validate import integer as _integer, real as _number  # one rule
from fastembed.sparse import RowSparseGrad

__all__ = ["SGD", "Adagrad", "RowwiseAdagrad", "Adam", "FTRL", "Optimizer"]

ROUNDINGS = {"nearest": rules.NEAREST, "stochastic": rules.STOCHASTIC}


def _seed(seed):
    """An integer seed in [0, 2**64), or a fresh one from the OS for None."""
    if seed is None:
        return secrets.randbits(64)
    return _integer(seed, "seed", low=0, high=2 ** 64 - 1)


_TABLE_LOCKS = {}              # root buffer address -> its lock (use_locking=True)
_TABLE_LOCKS_GUARD = threading.Lock()


def _table_lock(table):
    """The lock of the memory `table` lives in, shared by every view of the same array."""
    root = table
    while isinstance(root.base, np.ndarray):
        root = root.base
    key = root.__array_interface__["data"][0]
    with _TABLE_LOCKS_GUARD:
        return _TABLE_LOCKS.setdefault(key, threading.Lock())


def _filled(shape, value, dtype):
    """State of `shape` filled with `value`. Zero state comes from np.zeros: calloc'd pages
    that the OS maps on first touch, so a sparse step on a huge table commits memory only
    for the rows it updates (np.full would write every byte: 16 GiB for Adam's two slots of
    a 2**31-element table)."""
    return np.zeros(shape, dtype) if value == 0 else np.full(shape, value, dtype)


class Optimizer:
    """Base of the sparse optimizers (see the module docstring). Not used directly."""

    rule = None         # the array-level update rule (fastembed._ops_optim), set by each class
    slots = ()          # names of the per-element state arrays, in C order (s1, s2)
    row_state = False   # one state value per row instead of per element

    def __init__(self, learning_rate, *, weight_decay=None, decoupled_weight_decay=False,
                 allow_nonfinite=False, use_locking=False, rounding="nearest", seed=None):
        self.learning_rate = _number(learning_rate, "learning_rate", low=0, low_open=True)
        if not isinstance(rounding, str) or rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {sorted(ROUNDINGS)} (how a float16 or "
                             f"bfloat16 table's updated rows are rounded back), got {rounding!r}")
        self.rounding = rounding
        # nearest rounding draws nothing: its seed stays as given (None keeps configs equal)
        self.seed = None if seed is None and rounding == "nearest" else _seed(seed)
        self.use_locking = bool(use_locking)
        self.weight_decay = 0.0 if weight_decay is None else _number(
            weight_decay, "weight_decay", low=0)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        self.allow_nonfinite = bool(allow_nonfinite)
        self.iterations = 0
        self._in_one_step = None  # inside one_step(): whether a table was updated yet
        self._state = {}     # table key -> {slot name: array}
        self._pending = []   # slot sets restored by set_state, bound on first use

    # ---- what subclasses define -----------------------------------------------------------

    def _hyper(self):
        """This rule's own fields of `_ops_optim.Hyper` for the coming step."""
        raise NotImplementedError

    def _initial(self, name):
        return 0.0

    # ---- state ----------------------------------------------------------------------------

    @staticmethod
    def _key(table):
        return (table.__array_interface__["data"][0], table.shape, table.dtype.str)

    def _slots_for(self, table):
        """(key, slots, from_pending) for `table`: its bound state, else the next restored
        slot set (still in self._pending: bound by _run only once the step succeeded, so a
        step that raises leaves the optimizer as it was), else fresh state."""
        key = self._key(table)
        slots = self._state.get(key)
        if slots is not None:
            return key, slots, False
        dtype = rules.state_dtype(table)
        if self._pending:
            shape = self._slot_shape(table)
            for name, a in self._pending[0].items():
                if a.shape != shape or a.dtype != dtype:
                    raise ValueError(
                        f"the restored state's next slot set does not fit this table: its "
                        f"{name!r} is {a.dtype} of shape {a.shape}, a {table.dtype} table of "
                        f"shape {table.shape} needs {dtype} of shape {shape} (set_state's "
                        "slot sets bind, in order, to the next tables this optimizer updates); "
                        "nothing was updated")
            return key, self._pending[0], True
        return key, {name: _filled(self._slot_shape(table), self._initial(name), dtype)
                     for name in self.slots}, False

    def _slot_shape(self, table):
        return (table.shape[0],) if self.row_state else table.shape

    def rebind(self, old_address, table):
        """Move the state bound to the table that lived at data address `old_address` (its
        ``__array_interface__["data"][0]``) to `table`, of the same shape and dtype, for a
        framework that moves a table to a new buffer when it is assigned (JAX does): the
        state is bound to a table's memory. Nothing happens when no state is bound there."""
        table = as_table(table, "weights", writable=True)
        new = self._key(table)
        old = (int(old_address),) + new[1:]
        if old != new and old in self._state:
            if new in self._state:
                raise ValueError("the table at the new address already has its own state")
            self._state[new] = self._state.pop(old)

    def get_config(self):
        cfg = {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay or None,
               "decoupled_weight_decay": self.decoupled_weight_decay,
               "allow_nonfinite": self.allow_nonfinite, "use_locking": self.use_locking,
               "rounding": self.rounding, "seed": self.seed}
        cfg.update(self._config())
        return cfg

    def _config(self):
        return {}

    def get_state(self):
        """{"iterations": int, "slots": [ {name: array copy} per table, in first-use order ]}"""
        return {"iterations": self.iterations,
                "slots": [{k: v.copy() for k, v in s.items()} for s in self._state.values()]
                + [{k: v.copy() for k, v in s.items()} for s in self._pending]}

    def set_state(self, state):
        """Restore `get_state()`'s result: the slot sets bind, in order, to the next tables
        this optimizer updates. Each slot is copied (C order, native byte order). A set
        whose slots are not float32/float64 arrays of one shape (1-D for a per-row state,
        else 2-D) raises ValueError here; one whose shape or dtype does not fit the table it
        binds to raises ValueError from that step or apply, before anything is written. On
        a raise the optimizer is left as it was."""
        iterations = operator.index(state["iterations"])
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        ndim = 1 if self.row_state else 2
        sets = []
        for i, s in enumerate(state["slots"]):
            if set(s) != set(self.slots):
                raise ValueError(f"state slots {sorted(s)} do not match {sorted(self.slots)}")
            copies = {}
            for k, v in s.items():
                v = np.asarray(v)
                if v.dtype.kind != "f" or v.dtype.itemsize not in (4, 8) or v.ndim != ndim:
                    raise ValueError(f"slot set {i}: {k!r} must be a {ndim}-D float32 or float64 "
                                     f"array, got {v.ndim}-D {v.dtype}")
                # C order: the kernels index state rows as C-contiguous memory
                copies[k] = np.array(v, dtype=v.dtype.newbyteorder("="), order="C", copy=True)
            if len({(a.shape, a.dtype) for a in copies.values()}) > 1:
                raise ValueError(f"slot set {i}: slots of different shapes or dtypes "
                                 + ", ".join(f"{k} {a.dtype}{a.shape}" for k, a in copies.items()))
            sets.append(copies)
        self.iterations = iterations
        self._state = {}
        self._pending = sets

    _SAVE_FORMAT, _SAVE_VERSION = "fastembed.Optimizer", 1  # of save's file, checked by load

    def save(self, path):
        """Save config and state to a .npz file, atomically (fastembed._savefile: temporary
        file, fsync, rename, fsync of the directory; a format version `load` checks)."""
        state = self.get_state()
        arrays = {f"slot{i}_{k}": v for i, s in enumerate(state["slots"]) for k, v in s.items()}
        meta = {"class": type(self).__name__, "config": self.get_config(),
                "iterations": state["iterations"], "n_tables": len(state["slots"])}
        _savefile.save(path, self._SAVE_FORMAT, self._SAVE_VERSION, meta, arrays)

    @classmethod
    def from_config(cls, config):
        """The optimizer `get_config` describes (Keras's classmethod)."""
        return cls(**config)

    @classmethod
    def load(cls, path):
        """The optimizer `save` wrote (ValueError for another file or format version)."""
        meta, f = _savefile.load(path, cls._SAVE_FORMAT, cls._SAVE_VERSION)
        klass = {c.__name__: c for c in (SGD, Adagrad, RowwiseAdagrad, Adam, FTRL)}[meta["class"]]
        if cls is not Optimizer and klass is not cls:
            raise ValueError(f"{path} holds a {meta['class']}, not a {cls.__name__}")
        opt = klass(**meta["config"])
        slots = [{k: f[f"slot{i}_{k}"] for k in opt.slots} for i in range(meta["n_tables"])]
        opt.set_state({"iterations": meta["iterations"], "slots": slots})
        return opt

    # ---- the update -----------------------------------------------------------------------

    def _target(self, target):
        """(table, layer or None) for a weights array or an Embedding layer."""
        layer = None
        if hasattr(target, "embeddings") and hasattr(target, "apply_constraint"):
            layer = target
            target = target.embeddings
        return as_table(target, "weights", writable=True, half=True), layer

    def _layer_terms(self, layer, from_backward=False):
        """The lazy embeddings-regularizer coefficients (l1, l2) of a layer."""
        if layer is None or layer.embeddings_regularizer is None:
            return 0.0, 0.0
        reg = layer.embeddings_regularizer
        if getattr(layer, "regularizer_mode", "lazy") != "lazy":
            if from_backward:  # layer.backward's gradient already holds the regularizer's
                return 0.0, 0.0
            raise ValueError('a layer with regularizer_mode="exact" is updated through '
                             "opt.apply(layer, layer.backward(grad_output)): its regularizer "
                             "gradient touches every row")
        l1, l2 = getattr(reg, "l1", 0.0), getattr(reg, "l2", 0.0)
        if not (isinstance(l1, numbers.Real) and isinstance(l2, numbers.Real)):
            raise ValueError("the layer's regularizer must be fastembed's L1/L2/L1L2")
        return float(l1), float(l2)

    def _update(self, table, layer, op, *args, from_backward=False, num_threads=None,
                **kwargs):
        """Run the array-level op `op` (`rules.step` or `rules.apply`) on `table` with this
        optimizer's state and hyperparameters; bind the state and count the step only once
        it returned (a call that raises leaves the optimizer as it was)."""
        l1, l2 = self._layer_terms(layer, from_backward)
        constraint = None if layer is None else layer.embeddings_constraint
        fused = None
        if constraint is not None and hasattr(constraint, "row_projection"):
            fused = constraint.row_projection()
        with self._locked(table):
            self._before_step()
            key, slots, from_pending = self._slots_for(table)
            hyper = rules.Hyper(**self._hyper(), lr=self.learning_rate,
                                weight_decay=self.weight_decay,
                                decoupled=int(self.decoupled_weight_decay), l1=l1, l2=l2,
                                rounding=ROUNDINGS[self.rounding], seed=self.seed or 0,
                                step=self.iterations)
            op(self.rule, table, *args, [slots[name] for name in self.slots], hyper,
               constraint=fused, allow_nonfinite=self.allow_nonfinite,
               num_threads=num_threads, **kwargs)
            if from_pending:
                self._pending.pop(0)
            self._state[key] = slots
            if self._in_one_step is None:
                self.iterations += 1
            else:
                self._in_one_step = True
            if constraint is not None and fused is None:  # a column constraint or a callable
                layer.apply_constraint(num_threads=num_threads)

    def apply(self, target, grad, *, num_threads=None):
        """Update the rows of `grad` (a `RowSparseGrad`) in `target`, in place."""
        if not isinstance(grad, RowSparseGrad):
            raise TypeError(f"grad must be a RowSparseGrad, got {type(grad).__name__}")
        table, layer = self._target(target)
        if grad.shape != table.shape:
            raise ValueError(f"grad has shape {grad.shape}, the table {table.shape}")
        self._update(table, layer, rules.apply, grad.indices, grad.values, from_backward=True,
                     num_threads=num_threads)

    def step(self, target, ids, grad_output, *, padding_idx=None, num_threads=None):
        """The fused path: ``apply(target, accumulate(ids, grad_output, n_rows))`` in one
        call into C, without building the gradient."""
        table, layer = self._target(target)
        if layer is not None and getattr(layer, "needs_backward", False):
            raise ValueError("this layer's gradient is not accumulate(ids, grad_output) alone "
                             "(dropout or an activity regularizer): update it with "
                             "opt.apply(layer, layer.backward(grad_output))")
        self._update(table, layer, rules.step, ids, grad_output, padding_idx=padding_idx,
                     num_threads=num_threads)

    def _locked(self, table):
        return _table_lock(table) if self.use_locking else contextlib.nullcontext()

    @contextlib.contextmanager
    def one_step(self):
        """Count the updates made inside the block as one optimizer step, for a model with
        several tables: each table updated in it sees the same step number (Adam's bias
        correction) and `iterations` goes up by one when the block ends, if anything was
        updated (as one ``torch.optim.SparseAdam.step()`` over several parameters)::

            with opt.one_step():
                opt.step(user_table, user_ids, user_grad)
                opt.step(item_table, item_ids, item_grad)

        Update each table at most once per block: a second update of the same table would
        reuse the step number. Blocks do not nest."""
        if self._in_one_step is not None:
            raise RuntimeError("one_step() blocks do not nest")
        self._in_one_step = False
        try:
            yield self
        finally:
            if self._in_one_step:
                self.iterations += 1
            self._in_one_step = None

    def _before_step(self):
        pass

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Keras's SGD: ``v = momentum * v - lr * g; w += v`` (Nesterov: ``w += momentum * v -
    lr * g``); plain ``w -= lr * g`` without momentum. The velocity is lazy (touched rows)."""

    rule = rules.SGD

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number(momentum, "momentum", low=0, high=1, high_open=True)
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum > 0 else ()

    def _hyper(self):
        return {"momentum": self.momentum, "nesterov": int(self.nesterov)}

    def _config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


EPSILON_FORMS = ("tf2", "keras3")


class Adagrad(Optimizer):
    """Keras's Adagrad: ``a += g**2; w -= lr * g / (sqrt(a) + epsilon)``. ``epsilon`` and
    ``initial_accumulator_value`` may not both be 0 (a zero gradient would give 0/0).

    ``epsilon_form`` says where epsilon goes: "tf2" (the default), ``sqrt(a) + epsilon``,
    is tf.keras 2.x's, PyTorch's (``Adagrad``, and FBGEMM's rowwise Adagrad) and fastembed's
    from the start, so saved training runs and torch ports keep their updates; "keras3",
    ``sqrt(a + epsilon)``, is Keras 3's. They differ when epsilon is not tiny next to ``a``.
    The choice is in `get_config`, so `save`/`load` and ``from_config`` keep it.
    """

    rule = rules.ADAGRAD
    slots = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 epsilon_form="tf2", **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value,
                                                 "initial_accumulator_value", low=0)
        self.epsilon = _number(epsilon, "epsilon", low=0)
        if epsilon_form not in EPSILON_FORMS:
            raise ValueError(f"epsilon_form must be one of {EPSILON_FORMS} ('tf2': "
                             "sqrt(a) + epsilon, 'keras3': sqrt(a + epsilon)), got "
                             f"{epsilon_form!r}")
        self.epsilon_form = epsilon_form
        if self.epsilon == 0 and self.initial_accumulator_value == 0:
            # the first zero gradient an element (a row, for RowwiseAdagrad) sees would
            # update it by 0 / (sqrt(0) + 0) = NaN
            raise ValueError("epsilon must be > 0 when initial_accumulator_value is 0 (an "
                             "element whose accumulated gradient is 0 would become 0/0 = NaN)")

    def _initial(self, name):
        return self.initial_accumulator_value

    def _hyper(self):
        return {"eps": self.epsilon, "eps_in_sqrt": int(self.epsilon_form == "keras3")}

    def _config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon, "epsilon_form": self.epsilon_form}


class RowwiseAdagrad(Adagrad):
    """Adagrad with one accumulator per row (FBGEMM's rowwise Adagrad): ``a_row +=
    mean(g**2); w -= lr * g / (sqrt(a_row) + epsilon)``: state of n_rows values, not
    n_rows * dim."""

    rule = rules.ROWWISE_ADAGRAD
    row_state = True

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.0, epsilon=1e-7,
                 epsilon_form="tf2", **kwargs):
        super().__init__(learning_rate, initial_accumulator_value, epsilon, epsilon_form,
                         **kwargs)


class Adam(Optimizer):
    """Lazy Adam (PyTorch's SparseAdam, TensorFlow's LazyAdam) with Keras's formula: only
    touched rows' moments move; ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` with
    t the optimizer's global step; ``w -= alpha * m / (sqrt(v) + epsilon)``. With
    ``weight_decay`` and ``decoupled_weight_decay=True`` it is AdamW on the touched rows."""

    rule = rules.ADAM
    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number(beta_1, "beta_1", low=0, high=1, high_open=True)
        self.beta_2 = _number(beta_2, "beta_2", low=0, high=1, high_open=True)
        # > 0 as PyTorch's SparseAdam requires: with 0, an element whose first gradient is
        # 0 gets m / (sqrt(v) + eps) = 0/0 = NaN
        self.epsilon = _number(epsilon, "epsilon", low=0, low_open=True)

    def _hyper(self):
        t = self.iterations + 1
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        return {"beta1": self.beta_1, "beta2": self.beta_2, "eps": self.epsilon, "alpha": alpha}

    def _config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class FTRL(Optimizer):
    """Keras's FTRL-proximal: ``learning_rate_power``, ``initial_accumulator_value``,
    ``l1_regularization_strength``, ``l2_regularization_strength``,
    ``l2_shrinkage_regularization_strength`` and ``beta`` as Keras defines them, with Keras's
    constraints (all >= 0, ``learning_rate_power <= 0``) plus one: ``initial_accumulator_value
    = 0`` needs ``l2_regularization_strength > 0``, ``beta > 0`` or ``learning_rate_power =
    0``, the combinations where Keras's formula does not divide 0 by 0."""

    rule = rules.FTRL
    slots = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = _number(learning_rate_power, "learning_rate_power", high=0)
        self.initial_accumulator_value = _number(initial_accumulator_value,
                                                 "initial_accumulator_value", low=0)
        self.l1_regularization_strength = _number(l1_regularization_strength,
                                                  "l1_regularization_strength", low=0)
        self.l2_regularization_strength = _number(l2_regularization_strength,
                                                  "l2_regularization_strength", low=0)
        self.l2_shrinkage_regularization_strength = _number(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", low=0)
        self.beta = _number(beta, "beta", low=0)
        if (self.initial_accumulator_value == 0 and self.learning_rate_power < 0
                and self.l2_regularization_strength == 0 and self.beta == 0):
            # Keras accepts this and then divides 0 by 0: an element whose accumulator is
            # still 0 (a zero gradient so far) has quadratic = 0**p / lr + 2 * l2 = 0
            raise ValueError("initial_accumulator_value must be > 0 unless "
                             "l2_regularization_strength or beta is > 0 or learning_rate_power "
                             "is 0 (an element with a zero gradient would become 0/0 = NaN)")

    def _initial(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _hyper(self):
        adjusted_l2 = self.l2_regularization_strength + self.beta / (2 * self.learning_rate)
        return {"lr_power": self.learning_rate_power, "ftrl_l1": self.l1_regularization_strength,
                "ftrl_l2": adjusted_l2,
                "l2_shrinkage": self.l2_shrinkage_regularization_strength}

    def _config(self):
        return {"learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}
