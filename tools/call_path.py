"""The path of one call from Python to C: Python frames entered, calls into the extension
(fastembed._kernels) and the peak of extra memory NumPy and Python allocated, for
`Adam.step` and `Embedding.__call__`. Run from a checkout's root (its `fastembed` is used):

    python tools/call_path.py
"""
import sys
import tracemalloc

import numpy as np

import fastembed
from fastembed import optimizers


def _count_kernel_calls(names):
    """Wrap every function of fastembed._kernels (Cython functions raise no c_call profile
    event) so that each call appends its name to `names`."""
    from fastembed import _kernels
    for attr in dir(_kernels):
        f = getattr(_kernels, attr)
        if callable(f) and not isinstance(f, type) and not attr.startswith("_"):
            def counted(*a, _f=f, _n=attr, **k):
                names.append(_n)
                return _f(*a, **k)
            setattr(_kernels, attr, counted)


NAMES = []


def path(fn):
    frames = 0

    def prof(frame, event, arg):
        nonlocal frames
        if event == "call" and frame.f_code.co_name != "counted":
            frames += 1

    fn()  # warm: state allocated, imports done
    NAMES.clear()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return frames, len(NAMES), list(NAMES), peak


def main():
    _count_kernel_calls(NAMES)
    rng = np.random.default_rng(0)
    n_rows, dim, n_ids = 100_000, 64, 100_000
    table = rng.standard_normal((n_rows, dim)).astype(np.float32)
    ids = rng.integers(0, n_rows, n_ids)
    grad = rng.standard_normal((n_ids, dim)).astype(np.float32)
    opt = optimizers.Adam(0.01)
    layer = fastembed.Embedding(n_rows, dim)
    ids2 = ids.reshape(1000, 100)
    mb = grad.nbytes
    for name, fn in (("Adam.step", lambda: opt.step(table, ids, grad)),
                     ("Embedding.__call__", lambda: layer(ids2))):
        frames, crossings, names, peak = path(fn)
        print(f"{name}: {frames} Python frames, {crossings} calls into _kernels "
              f"({', '.join(names)}), peak extra memory {peak / 2**20:.1f} MiB "
              f"({peak / mb:.2f}x the {mb / 2**20:.1f} MiB gradient/output)")


if __name__ == "__main__":
    main()
