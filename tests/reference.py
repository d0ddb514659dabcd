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
