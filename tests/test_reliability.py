"""Reliability of every kernel in kernel_drivers.KERNELS: canaries around views, huge
tables, size-product overflow, concurrency, fork/spawn/forkserver, memory growth, and a
bounded fuzz run. A kernel that lands adds its entry to tests/kernel_drivers.py and is
covered here without new code. See RELIABILITY.md."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import fastembed


# ---- size products that overflow int64 -----------------------------------------------------

def test_output_size_overflowing_int64_raises_value_error_without_allocating():
    # A (1, 2**60) float32 table of stride 0 (2**62 bytes declared, 4 bytes real) is a valid
    # array; 4 rows of it would be 2**64 bytes, beyond int64.
    w = as_strided(np.zeros(1, np.float32), shape=(1, 2**60), strides=(0, 4))
    with pytest.raises(ValueError):
        fastembed.lookup(w, np.zeros(4, np.int64))


def test_private_wrapper_checks_the_size_product_before_forming_it():
    # The Cython wrapper is the last line before C: a size product it forms must not overflow
    # (signed overflow is undefined behaviour; UBSan aborts on it), whatever its caller.
    w = as_strided(np.zeros(1, np.float32), shape=(1, 2**60), strides=(0, 4))
    with pytest.raises(ValueError, match="overflow"):
        fastembed._kernels.lookup(w, np.zeros(4, np.int64), np.empty(0, np.float32), 1, None)
