"""Plain NumPy reference implementations of every kernel: slow, obvious, trusted."""
import numpy as np


def lookup(weights, ids):
    weights = np.asarray(weights)
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= weights.shape[0]):
        raise IndexError("id out of range")
    return weights[ids.astype(np.int64)]



# The pooled-lookup and bag-gradient references live beside their fuzz drivers, which check
# them against torch (tests/test_reliability.py): one copy of each formula. (Imported at
# call time: kernel_drivers imports this module.)
def lookup_bag(*args, **kwargs):
    from kernel_drivers import ref_lookup_bag
    return ref_lookup_bag(*args, **kwargs)


def accumulate_bag(*args, **kwargs):
    from kernel_drivers import ref_accumulate_bag
    return ref_accumulate_bag(*args, **kwargs)
def accumulate(ids, grad_output, n_rows, padding_idx=None, scale_grad_by_freq=False):
    """(indices, values) of the row-sparse gradient of lookup: np.add.at into zeros (rows
    in input order), padding_idx's row dropped, sums divided by the id's count when
    scale_grad_by_freq."""
    ids = np.asarray(ids).reshape(-1).astype(np.int64)
    grad = np.asarray(grad_output)
    grad = grad.reshape(ids.size, grad.shape[-1])
    if ids.size and (ids.min() < 0 or ids.max() >= n_rows):
        raise IndexError("id out of range")
    dense = np.zeros((n_rows, grad.shape[1]), grad.dtype)
    np.add.at(dense, ids, grad)
    indices = np.unique(ids)
    if padding_idx is not None:
        indices = indices[indices != padding_idx % n_rows]
    values = dense[indices]
    if scale_grad_by_freq:
        counts = np.bincount(ids, minlength=n_rows)[indices]
        values = values / counts[:, None].astype(grad.dtype)
    return indices, values


def renorm_(weights, ids, max_norm, norm_type=2.0):
    """weights after torch.embedding_renorm_ (a copy): every distinct row of ids whose
    norm_type-norm exceeds max_norm is scaled by max_norm / (norm + 1e-7)."""
    w = np.array(weights, copy=True)
    for row in np.unique(np.asarray(ids).reshape(-1)):
        norm = np.sum(np.abs(w[row].astype(np.float64)) ** norm_type) ** (1.0 / norm_type)
        if norm > max_norm:
            w[row] = w[row] * w.dtype.type(max_norm / (norm + 1e-7))
    return w


# ---- sparse optimizers: one step on the touched rows, float64, Keras's formulas ------------

def optimizer_step(name, w, state, ids, grad_output, t, hp):
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
