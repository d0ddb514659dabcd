"""The path of one call from Python to C: Python frames entered, calls into the extension
(fastembed._kernels) and the peak of extra memory NumPy and Python allocated, for
`Adam.step` and `Embedding.__call__`. Run from a checkout's root (its `fastembed` is used):

    python tools/call_path.py            # -v: also the frames, by function

Another checkout (an older commit, built in place) is measured the same way with
``PYTHONPATH=<that checkout> python <this file>``: docs/architecture.md's before/after
table was made so. The extra memory is what tracemalloc sees (NumPy's allocations and
Python's); pages fastembed's buffer pool maps and recycles (fastembed/_pool.py) are not
in it, so a result served from the pool reads as 0.
"""
import collections
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
    seen = []

    def prof(frame, event, arg):
        if event == "call" and frame.f_code.co_name != "counted":
            code = frame.f_code
            seen.append(f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}")

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
    return seen, len(NAMES), list(NAMES), peak


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
        seen, crossings, names, peak = path(fn)
        print(f"{name}: {len(seen)} Python frames, {crossings} calls into _kernels "
              f"({', '.join(names)}), peak extra memory {peak / 2**20:.1f} MiB "
              f"({peak / mb:.2f}x the {mb / 2**20:.1f} MiB gradient/output)")
        if "-v" in sys.argv[1:]:
            for frame, count in collections.Counter(seen).most_common():
                print(f"    {count:3d}  {frame}")


if __name__ == "__main__":
    main()
