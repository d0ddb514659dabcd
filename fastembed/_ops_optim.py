"""Optimizer ops: the sparse update rules at array level, each one call into C.

`step` goes from a lookup's ids and output gradient to the updated rows; `apply` from a
summed row-sparse gradient. Both hand the whole job to C in one call (fe_opt_step /
fe_opt_apply in csrc/fastembed.h): the grouping of the ids, the id check, the finiteness
checks of the gradient and of each row's summed gradient, the update of the rows and their
state, and the row constraint. A call that raises has written nothing. float16 and
bfloat16 tables are updated in float32 from float32 gradients and state, and rounded back
(`Hyper.rounding`). The Keras-style classes of `fastembed.optimizers` are a shell over these
two functions: they own the state arrays, the step count and the hyperparameter policy.
"""
from collections import namedtuple

import numpy as np

from fastembed import _kernels
from fastembed._arrays import F32, U16, as_ids, as_table, grad_rows, is_bfloat16, padding_row
from fastembed._threads import resolve as _resolve_threads

__all__ = ["SGD", "ADAGRAD", "ROWWISE_ADAGRAD", "ADAM", "FTRL", "NEAREST", "STOCHASTIC",
           "Hyper", "state_dtype", "step", "apply"]

# the update rules (fe_opt.kind), exported by the extension rather than restated
SGD, ADAGRAD, ROWWISE_ADAGRAD, ADAM, FTRL = (
    _kernels.OPT_SGD, _kernels.OPT_ADAGRAD, _kernels.OPT_ROWWISE_ADAGRAD, _kernels.OPT_ADAM,
    _kernels.OPT_FTRL)
# how a half table's updated values are rounded back (Hyper.rounding)
NEAREST, STOCHASTIC = _kernels.OPT_ROUND_NEAREST, _kernels.OPT_ROUND_STOCHASTIC

Hyper = namedtuple(
    "Hyper",
    "nesterov decoupled lr momentum eps beta1 beta2 alpha lr_power ftrl_l1 ftrl_l2 "
    "l2_shrinkage weight_decay l1 l2 eps_in_sqrt rounding seed step",
    defaults=(0,) * 19)
Hyper.__doc__ = """The hyperparameters of one update, in fe_opt's order (unused ones 0).

lr: learning rate; momentum, nesterov: SGD; eps: Adagrad, RowwiseAdagrad, Adam
(eps_in_sqrt: Adagrad's Keras 3 form, lr g / sqrt(a + eps)); beta1,
beta2, alpha (the bias-corrected step of this iteration): Adam; lr_power, ftrl_l1, ftrl_l2
(beta folded in), l2_shrinkage: FTRL; weight_decay, decoupled: L2 decay into the gradient
or (decoupled) AdamW's shrink; l1, l2: a lazy embeddings regularizer on the touched rows;
rounding (NEAREST or STOCHASTIC), seed, step (integers in [0, 2**64)): how a half table's
rows are rounded back, stochastic rounding drawing from (seed, step, row, column)."""


def state_dtype(table):
    """The dtype of the optimizer state of `table`: its own, float32 for a half table."""
    return F32 if table.itemsize == 2 else table.dtype


def _kernel_table(table):
    """(the table as C takes it, whether it is bfloat16): half tables as uint16 views."""
    if table.itemsize == 2:
        return table.view(U16), is_bfloat16(table.dtype)
    return table, False


def _state_args(rule, table, state):
    s = tuple(state) + (None,) * (2 - len(state))
    return s[0], s[1], 1 if rule == ROWWISE_ADAGRAD else table.shape[1]


def step(rule, table, ids, grad_output, state, hyper, *, padding_idx=None, constraint=None,
         allow_nonfinite=False, num_threads=None):
    """Update, in place, the rows of `table` that `ids` touched, from a lookup's gradient.

    Equal to ``apply(rule, table, accumulate(ids, grad_output, n_rows, padding_idx=...),
    ...)`` bit for bit, in one call into C that never builds the summed gradient.

    Parameters
    ----------
    rule : int
        SGD, ADAGRAD, ROWWISE_ADAGRAD, ADAM or FTRL.
    table : ndarray, shape (n_rows, dim), float32, float64, float16 or bfloat16
        Writable, rows contiguous; updated in place. A half table's rows are updated in
        float32 exactly as a float32 table's, then rounded back (`hyper.rounding`).
    ids : array_like of integers, any shape
        The ids of the lookup, each in ``[0, n_rows)``.
    grad_output : array_like, shape ids.shape + (dim,), table's dtype
        The gradient of the lookup's output (float32 or the table's dtype for a half table).
    state : sequence of 0 to 2 ndarrays
        The rule's state (SGD with momentum: velocity; Adagrad: accumulator; Adam: m, v;
        FTRL: accumulator, linear), each C-contiguous in `state_dtype(table)`, of the
        table's shape, or (n_rows,) for ROWWISE_ADAGRAD; updated in place.
    hyper : Hyper
        The hyperparameters of this update.
    padding_idx : int, optional
        Its row is not updated (torch's rule: negative counts from the end).
    constraint : tuple (kind, a, b, rate), optional
        A row constraint applied to every updated row (`Constraint.row_projection()`).
    allow_nonfinite : bool, default False
        Skip the finiteness checks of the gradient and of each row's summed gradient.
    num_threads : int, optional
        Threads for this call; default `fastembed.get_num_threads()`.

    Raises
    ------
    IndexError
        An id out of range (its position, value and the valid range named).
    ValueError
        A non-finite gradient value (its position), finite rows summing to a non-finite
        row (the row and its count), bad shapes, dtypes or hyperparameters.

    Every check comes before the first write: a call that raises leaves the table and the
    state bit-identical. Results are bit-identical for any thread count.
    """
    table = as_table(table, "weights", writable=True, half=True)
    idx, original = as_ids(ids)
    grad = grad_rows(grad_output, idx.shape)  # a half gradient comes back float32, exactly
    if grad.shape[1] != table.shape[1] or grad.dtype != state_dtype(table):
        raise ValueError(f"grad_output rows are {grad.shape[1]} {grad.dtype}, the table's "
                         f"{table.shape[1]} {table.dtype}"
                         + (" (its gradient: float32 or its own dtype)" if table.itemsize == 2
                            else ""))
    pad = padding_row(padding_idx, table.shape[0])
    s1, s2, state_row = _state_args(rule, table, state)
    _kernels.opt_step(*_kernel_table(table), idx, grad, pad, s1, s2, state_row, rule, hyper,
                      constraint, bool(allow_nonfinite), _resolve_threads(num_threads),
                      original)


def apply(rule, table, indices, values, state, hyper, *, constraint=None,
          allow_nonfinite=False, num_threads=None):
    """Update, in place, the rows `indices` of `table` by the summed gradient `values`.

    `indices` (int64, strictly increasing, in range) and `values` (len(indices), dim) are
    a `RowSparseGrad`'s; the rest as in `step`. One call into C; two-phase."""
    table = as_table(table, "weights", writable=True, half=True)
    indices = np.ascontiguousarray(indices, np.int64)
    values = np.ascontiguousarray(values, dtype=state_dtype(table))
    s1, s2, state_row = _state_args(rule, table, state)
    _kernels.opt_apply(*_kernel_table(table), indices, values, s1, s2, state_row, rule, hyper,
                       constraint, bool(allow_nonfinite), _resolve_threads(num_threads))
