"""Plain NumPy reference implementations of every kernel: slow, obvious, trusted.

One ``<kernel>_ref`` per kernel, taking the kernel's arguments (FBGEMM's
RefImplementations.h is the model): a loop or a textbook NumPy expression per rule, no
speed tricks. In-place kernels' references return the updated copy. They raise the
kernel's exception type on the inputs the contract rejects (ids out of range: IndexError;
not integers: TypeError; bad shapes and offsets: ValueError). The harness registry
(tests/kernel_drivers.py) and the tests import this module; it imports nothing of theirs.
"""
import numpy as np

BAG_MODES = ("sum", "mean", "max", "sqrtn")


def check_ids(ids, n_rows):
    ids = np.asarray(ids)
    if ids.size == 0 and ids.dtype.kind == "f":
        ids = ids.astype(np.int64)  # an empty list
    if ids.dtype.kind not in "iu":
        raise TypeError("ids must be integers")
    if ids.dtype == np.uint64 and ids.size and ids.max() >= 2**63:
        raise IndexError("id out of range")
    flat = ids.reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= n_rows):
        raise IndexError("id out of range")
    return flat


def bag_bounds(ids, offsets, include_last_offset):
    """Bag boundaries (n_bags + 1 positions into the flattened ids), offsets validated."""
    ids = np.asarray(ids)
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError("2-D ids take no offsets")
        return np.arange(ids.shape[0] + 1, dtype=np.int64) * ids.shape[1]
    elif ids.ndim == 1:
        if offsets is None:
            raise ValueError("1-D ids need offsets")
        off = np.asarray(offsets)
        if off.ndim != 1 or off.dtype.kind not in "iu":
            raise ValueError("offsets")
        off = off.astype(np.int64)
        if include_last_offset:
            if off.size == 0 or off[-1] != ids.size:
                raise ValueError("include_last_offset: the last offset must be len(ids)")
            bounds = off
        else:
            if off.size == 0 and ids.size:
                raise ValueError("offsets empty with ids")
            bounds = np.concatenate([off, [ids.size]])
        if bounds.size and (bounds[0] != 0 or np.any(np.diff(bounds) < 0)
                            or bounds.min() < 0 or bounds.max() > ids.size):
            raise ValueError("offsets")
        return bounds
    else:
        raise ValueError("ids must be 1-D or 2-D")


# ---- lookup and its gradient ---------------------------------------------------------------

def lookup_ref(weights, ids):
    """weights[ids]: the rows in the order of ids, ids of any shape."""
    weights = np.asarray(weights)
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= weights.shape[0]):
        raise IndexError("id out of range")
    return weights[ids.astype(np.int64)]


class RowGrad:
    """A row-sparse gradient: the sorted distinct rows (`indices`, int64) and their summed
    gradient rows (`values`); unpacks as ``indices, values``."""

    def __init__(self, indices, values):
        self.indices, self.values = indices, values

    def __iter__(self):
        return iter((self.indices, self.values))


def accumulate_ref(ids, grad_output, n_rows, padding_idx=None, scale_grad_by_freq=False):
    """The gradient of lookup on the touched rows only (n_rows may be far too large for a
    dense array: a fuzzed n_rows of 2**62 with valid huge ids is a valid call).

    The contract: np.add.at into zeros in the gradient's dtype, input order (so sums of
    1e30-sized terms that cancel compare exactly), padding_idx's row dropped, then one
    division by the id's count when scale_grad_by_freq."""
    grad = np.asarray(grad_output)
    flat = check_ids(ids, n_rows)
    if grad.shape[:-1] != np.shape(ids):
        raise ValueError("grad_output shape")
    dt = grad.dtype.newbyteorder("=")
    g = grad.reshape(flat.size, grad.shape[-1]).astype(dt)
    keep = np.ones(flat.size, bool) if padding_idx is None else flat != padding_idx % n_rows
    rows, inv = np.unique(flat[keep], return_inverse=True)
    values = np.zeros((rows.size, grad.shape[-1]), dt)
    np.add.at(values, inv.reshape(-1), g[keep])
    if scale_grad_by_freq:
        uniq, counts = np.unique(flat, return_counts=True)
        values = values / counts[np.searchsorted(uniq, rows)][:, None].astype(dt)
    return RowGrad(rows, values)


def accumulate_dense_ref(ids, grad_output, n_rows, padding_idx=None, scale_grad_by_freq=False):
    """accumulate_ref's gradient as a dense (n_rows, dim) array, summed in float64 (the
    form of torch's dense embedding backward, which tests compare it with)."""
    grad = np.asarray(grad_output)
    flat = check_ids(ids, n_rows)
    if grad.shape[:-1] != np.shape(ids):
        raise ValueError("grad_output shape")
    g = grad.reshape(flat.size, grad.shape[-1]).astype(np.float64)
    keep = np.ones(flat.size, bool) if padding_idx is None else flat != padding_idx
    if scale_grad_by_freq:
        counts = np.bincount(flat, minlength=n_rows)
        g = g / counts[flat][:, None]
    dense = np.zeros((n_rows, grad.shape[-1]), np.float64)
    np.add.at(dense, flat[keep], g[keep])
    return dense.astype(grad.dtype)


# ---- bags: the pooled lookup and its gradient ------------------------------------------------

def lookup_bag_ref(weights, ids, offsets=None, mode="sum", per_sample_weights=None,
                   padding_idx=None, include_last_offset=False, accumulator=None):
    """(n_bags, dim) pooled rows, per API.md (PyTorch embedding_bag + "sqrtn"). Float32
    tables sum in float32, in id order (each weight times row rounded, then added), unless
    accumulator="float64"; weight totals and the division are in double."""
    w = np.asarray(weights)
    acc32 = w.dtype == np.float32 and accumulator is None
    ids = np.asarray(ids)
    if mode not in BAG_MODES:
        raise ValueError("mode")
    bounds = bag_bounds(ids, offsets, include_last_offset)
    n_bags = bounds.size - 1
    flat = check_ids(ids, w.shape[0])
    psw = None
    if per_sample_weights is not None:
        psw = np.asarray(per_sample_weights)
        if psw.shape != ids.shape or mode == "max":
            raise ValueError("per_sample_weights")
        psw = psw.reshape(-1).astype(np.float64)
    out = np.zeros((max(n_bags, 0), w.shape[1]), np.float64)
    for b in range(max(n_bags, 0)):
        sel = flat[bounds[b]:bounds[b + 1]]
        ws = np.ones(sel.size) if psw is None else psw[bounds[b]:bounds[b + 1]]
        keep = np.ones(sel.size, bool) if padding_idx is None else sel != padding_idx
        sel, ws = sel[keep], ws[keep]
        if sel.size == 0:
            continue
        rows = w[sel].astype(np.float64)
        if mode == "max":
            out[b] = rows.max(axis=0)
            continue
        if acc32:  # in-order float32: cumsum runs sequentially
            terms = ws.astype(np.float32)[:, None] * w[sel].astype(np.float32)
            total = np.cumsum(terms, axis=0, dtype=np.float32)[-1].astype(np.float64)
        else:
            total = (ws[:, None] * rows).sum(axis=0)
        if mode == "sum":
            out[b] = total
        elif mode == "mean":
            out[b] = total / ws.sum()
        else:
            out[b] = total / np.sqrt((ws ** 2).sum())
    return out.astype(w.dtype.newbyteorder("="))


def accumulate_bag_ref(ids, offsets, grad_output, n_rows, mode="sum", per_sample_weights=None,
                       padding_idx=None, include_last_offset=False, weights=None):
    """(dense (n_rows, dim) gradient w.r.t. the table, gradient w.r.t. per_sample_weights or
    None) of lookup_bag_ref, per API.md."""
    grad = np.asarray(grad_output)
    if mode not in BAG_MODES:
        raise ValueError("mode")
    bounds = bag_bounds(ids, offsets, include_last_offset)
    flat = check_ids(ids, n_rows)
    n_bags = bounds.size - 1
    if grad.shape[:-1] != (n_bags,) or grad.ndim != 2:
        raise ValueError("grad_output shape")
    dim = grad.shape[1]
    g = grad.astype(np.float64)
    psw = None if per_sample_weights is None else \
        np.asarray(per_sample_weights).reshape(-1).astype(np.float64)
    if psw is not None and (psw.size != flat.size or mode == "max"):
        raise ValueError("per_sample_weights")
    if (mode == "max" or psw is not None) and weights is None:
        raise ValueError("weights needed")
    w = None if weights is None else np.asarray(weights).astype(np.float64)
    dense = np.zeros((n_rows, dim))
    gpsw = None if psw is None else np.zeros(flat.size)
    terms = None if psw is None else np.zeros(flat.size)  # size of what cancels in gpsw
    for b in range(n_bags):
        pos = np.arange(bounds[b], bounds[b + 1])
        if padding_idx is not None:
            pos = pos[flat[pos] != padding_idx]
        if pos.size == 0:
            continue
        sel = flat[pos]
        if mode == "max":
            arg = w[sel].argmax(axis=0)  # the first maximum, as the forward keeps it
            for d in range(dim):
                dense[sel[arg[d]], d] += g[b, d]
            continue
        ws = np.ones(pos.size) if psw is None else psw[pos]
        if mode == "sum":
            scale, norm = ws, 1.0
        elif mode == "mean":
            norm = ws.sum()
            scale = ws / norm
        else:
            norm = np.sqrt((ws ** 2).sum())
            scale = ws / norm
        for k, row in enumerate(sel):
            dense[row] += scale[k] * g[b]
        if gpsw is not None:
            dots = w[sel] @ g[b]  # e_i . g
            if mode == "sum":
                gpsw[pos] = dots
                terms[pos] = np.abs(w[sel]) @ np.abs(g[b])
            elif mode == "mean":  # out = sum(w e) / sum(w)
                gpsw[pos] = dots / norm - (ws @ dots) / norm ** 2
                terms[pos] = (np.abs(w[sel]) @ np.abs(g[b])) / abs(norm) \
                    + (np.abs(ws) @ np.abs(dots)) / norm ** 2
            else:  # out = sum(w e) / sqrt(sum(w^2))
                gpsw[pos] = dots / norm - ws * (ws @ dots) / norm ** 3
                terms[pos] = (np.abs(w[sel]) @ np.abs(g[b])) / norm \
                    + np.abs(ws) * (np.abs(ws) @ np.abs(dots)) / norm ** 3
    dense = dense.astype(grad.dtype.newbyteorder("="))
    if gpsw is None:
        return dense
    gpsw = gpsw.reshape(np.shape(per_sample_weights)).astype(np.asarray(
        per_sample_weights).dtype.newbyteorder("=")).view(Cancelling)
    gpsw.terms = terms.reshape(gpsw.shape)
    return dense, gpsw


class Cancelling(np.ndarray):
    """A reference result that is a difference of larger terms (``terms``: their size):
    rounding error is relative to the terms, not to the result (e.g. the per_sample_weights
    gradient of a mean over equal rows is 0 analytically, +-1e13 in float64 when the rows
    are 1e29)."""
    terms = None


# ---- in-place row updates: renorm_ and the row constraints ----------------------------------

def renorm_ref(weights, ids, max_norm, norm_type=2.0):
    """weights after torch.embedding_renorm_: each distinct row with norm > max_norm is
    scaled by max_norm / (norm + 1e-7)."""
    w = np.array(weights, copy=True)
    flat = check_ids(ids, w.shape[0])
    for row in np.unique(flat):
        norm = np.linalg.norm(w[row].astype(np.float64), ord=norm_type)
        if norm > max_norm:
            w[row] = (w[row] * (max_norm / (norm + 1e-7))).astype(w.dtype)
    return w


def constrain_rows_ref(weights, ids, constraint="min_max_norm", min_value=0.0, max_value=1.0,
                       rate=1.0):
    """weights after Keras's constraint on each distinct row of ids (axis=1): norms in
    float64, the factor rounded to the table's dtype and applied in it."""
    w = np.array(weights, copy=True)
    if w.ndim != 2 or w.dtype.kind != "f":
        raise TypeError("weights")
    flat = check_ids(ids, w.shape[0])
    rows = np.unique(flat)
    sub = w[rows]
    if constraint == "non_neg":
        w[rows] = np.where((sub > 0) | np.isnan(sub), sub, 0).astype(w.dtype)
        return w
    with np.errstate(all="ignore"):
        norms = np.sqrt(np.sum(sub.astype(np.float64) ** 2, axis=1, keepdims=True))
        if constraint == "unit_norm":
            w[rows] = sub / (1e-7 + norms).astype(w.dtype)
            return w
        if constraint == "max_norm":
            factor = np.clip(norms, 0.0, max_value) / (1e-7 + norms)
        else:
            desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
            factor = desired / (1e-7 + norms)
        w[rows] = sub * factor.astype(w.dtype)
    return w


# ---- sparse optimizers: one step on the touched rows, float64, Keras's formulas ------------

def optimizer_step_ref(name, w, state, ids, grad_output, t, hp):
    """Update w (float64 copy) and state (dict of float64 arrays) in place for one step t
    (1-based) of optimizer `name` with hyperparameters hp; the gradient is summed per id
    (np.add.at, in its own dtype) and only touched rows move."""
    dim = w.shape[1]
    # summed in the gradient's dtype, as the kernels sum (np.add.at order), then float64
    grad_output = np.asarray(grad_output)
    g_all = np.zeros(w.shape, grad_output.dtype)
    np.add.at(g_all, np.asarray(ids).reshape(-1), grad_output.reshape(np.size(ids), dim))
    g_all = g_all.astype(np.float64)
    lr = hp["learning_rate"]
    # every touched row at once: the rules are elementwise within a row (RowwiseAdagrad's
    # mean aside), and each row is touched once per step
    r = np.unique(np.asarray(ids))
    g = g_all[r]
    wd = hp.get("weight_decay") or 0.0
    if wd and not hp.get("decoupled_weight_decay"):
        g += wd * w[r]
    if wd and hp.get("decoupled_weight_decay"):
        w[r] = (1 - lr * wd) * w[r]  # the shrink as one product (inf weights stay inf)
    if name == "SGD":
        m = hp.get("momentum", 0.0)
        if m == 0:
            w[r] -= lr * g
        else:
            v = m * state["velocity"][r] - lr * g
            state["velocity"][r] = v
            w[r] += m * v - lr * g if hp.get("nesterov") else v
    elif name == "Adagrad":
        state["accumulator"][r] += g * g
        w[r] -= lr * g / (np.sqrt(state["accumulator"][r]) + hp["epsilon"])
    elif name == "RowwiseAdagrad":
        state["accumulator"][r] += (g * g).sum(axis=1) / dim if dim else 0.0
        w[r] -= lr * g / (np.sqrt(state["accumulator"][r]) + hp["epsilon"])[:, None]
    elif name == "Adam":
        b1, b2 = hp["beta_1"], hp["beta_2"]
        state["m"][r] = b1 * state["m"][r] + (1 - b1) * g
        state["v"][r] = b2 * state["v"][r] + (1 - b2) * g * g
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w[r] -= alpha * state["m"][r] / (np.sqrt(state["v"][r]) + hp["epsilon"])
    elif name == "FTRL":
        p = -hp["learning_rate_power"]
        l2 = hp["l2_regularization_strength"] + hp["beta"] / (2 * lr)
        gs = g + 2 * hp["l2_shrinkage_regularization_strength"] * w[r]
        n_old = state["accumulator"][r]
        n_new = n_old + g * g
        state["linear"][r] += gs - (n_new ** p - n_old ** p) / lr * w[r]
        quad = n_new ** p / lr + 2 * l2
        l1 = hp["l1_regularization_strength"]
        lin = state["linear"][r]
        w[r] = (np.clip(lin, -l1, l1) - lin) / quad
        state["accumulator"][r] = n_new
    else:
        raise ValueError(name)
