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
