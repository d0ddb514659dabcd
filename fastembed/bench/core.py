"""The benchmark registry: what a kernel family declares, and where it is declared.

A family module (``fastembed/bench/<family>.py``, listed once in
``fastembed/bench/__init__.py``) registers one function with `register`. Given a size
("full", "quick" or "tiny") it returns `Case` objects: the inputs of one problem, its NumPy
reference result, the bytes a kernel must move at least, and the implementations to time
on those same inputs (fastembed first, then its peers). The runner does the rest: checks
every implementation's output against the reference before timing it, times it at each
thread count, measures its peak extra memory, and reports.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

SIZES = ("full", "quick", "tiny")
# the smoke-test cases of the kernels over an id stream (lookup, accumulate, renorm_):
# (n_rows, dim, n_ids, dtype, id distribution)
TINY_SHAPES = [(1_000, 8, 500, np.float32, "uniform"), (1_000, 8, 500, np.float64, "zipf")]


@dataclass
class Timed:
    """One implementation made ready on one case's data.

    `call` is what is timed. `reset`, when given, runs untimed before every call (in-place
    kernels restore their table with it). `output(ret)` turns what `call` returned into
    what `Case.compare` checks against the reference (default: `ret` as a NumPy array).
    """
    call: Callable[[], Any]
    reset: Optional[Callable[[], None]] = None
    output: Optional[Callable[[Any], Any]] = None


@dataclass
class Impl:
    """An implementation of a case's kernel: fastembed's or a peer's.

    `prepare(data, threads)` builds a `Timed` (untimed: tensor conversions, jit tracing,
    working copies). `threaded` says whether the call honours the benchmark's thread
    count. Others are timed once per case and shown at every thread count: NumPy and SciPy
    run these operations on one thread; `own_threads` marks a library that picks its own
    count (JAX/XLA fixes it at start-up). `compare_to` names the fastembed variant a
    peer's ratio is taken against (a peer writing into a given `out=` against fastembed's
    `out=` variant); by default the case's first fastembed implementation.
    """
    library: str        # "fastembed", "numpy", "scipy", "torch", "jax"
    variant: str        # what exactly is called, e.g. "np.take(axis=0)"
    prepare: Callable[[dict, int], Timed]
    threaded: bool = False
    own_threads: bool = False
    compare_to: Optional[str] = None


@dataclass
class Case:
    """One problem of a kernel, its inputs built by `make()` (deterministic)."""
    kernel: str                       # public name: "lookup", "renorm_", ...
    name: str                         # short label, e.g. "1Mx64 f32 uniform"
    params: dict                      # what the label abbreviates (JSON-ready)
    make: Callable[[], dict]          # the inputs
    reference: Callable[[dict], Any]  # NumPy's result on the inputs
    bytes_moved: Callable[[dict], int]
    impls: list = field(default_factory=list)
    compare: Callable[[Any, Any], bool] = None
    # fastembed against itself: (label, variant A, variant B) -> the summary prints A's
    # median / B's (e.g. "allocating / out=", "fused / accumulate+apply")
    ratios: list = field(default_factory=list)

    def __post_init__(self):
        if self.compare is None:
            self.compare = exact_equal


def exact_equal(got, want):
    got = np.asarray(got)
    return got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want)


def close(rtol_f32=2e-5, rtol_f64=1e-11):
    """A comparison for sums whose order differs between libraries."""
    def compare(got, want):
        got = np.asarray(got)
        if got.shape != want.shape:
            return False
        rtol = rtol_f32 if want.dtype == np.float32 else rtol_f64
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        return bool(np.allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1.0)))
    return compare


@dataclass
class Family:
    kernel: str
    cases: Callable[[str], list]
    available: Callable[[], bool]
    requires: str


_FAMILIES = {}


def register(kernel, *, available=lambda: True, requires=None):
    """Decorator: ``@register("lookup", available=...)`` on a ``cases(size)`` function.

    `available()` is asked at run time, so a kernel this build of fastembed does not export
    is listed as not run (needing `requires`, default ``fastembed.<kernel>``) instead of
    failing."""
    def decorate(cases):
        _FAMILIES[kernel] = Family(kernel, cases, available,
                                   requires or f"fastembed.{kernel}")
        return cases
    return decorate


def register_shapes(kernel, shapes, case, **kwargs):
    """`register(kernel, **kwargs)` for a family that is one `case(*shape)` per shape of
    ``shapes[size]``."""
    register(kernel, **kwargs)(lambda size: [case(*shape) for shape in shapes[size]])


def families():
    """Registered families in registration order (the order of the family modules)."""
    return dict(_FAMILIES)


# ---- helpers the family modules share ------------------------------------------------------

def uniform_ids(rng, n_ids, n_rows):
    return rng.integers(0, n_rows, n_ids, dtype=np.int64)


def zipf_ids(rng, n_ids, n_rows, a=1.05):
    """Zipf(a) ids over [0, n_rows), with the hot ids spread over the table (a permutation),
    as in real categorical features: a few ids are most of the stream."""
    raw = np.minimum(rng.zipf(a, n_ids) - 1, n_rows - 1)
    return rng.permutation(n_rows)[raw].astype(np.int64)


def make_ids(rng, dist, n_ids, n_rows):
    if dist == "uniform":
        return uniform_ids(rng, n_ids, n_rows)
    if dist == "zipf":
        return zipf_ids(rng, n_ids, n_rows)
    raise ValueError(f"unknown id distribution {dist!r}")


def table_and_ids(n_rows, dim, n_ids, dtype, dist):
    """The table and id stream of a case (seeded: the same for the same arguments), and
    the generator they came from, for the rest of the case's inputs."""
    rng = np.random.default_rng(0)
    w = random_table(rng, n_rows, dim, dtype)
    return w, make_ids(rng, dist, n_ids, n_rows), rng


def random_table(rng, n_rows, dim, dtype):
    """A written (not lazily mapped) table of uniform [0, 1) values."""
    return rng.random((n_rows, dim), dtype=np.float32).astype(dtype, copy=False)


def written_empty(shape, dtype):
    """An output buffer touched once, so no timing includes its first-touch page faults."""
    out = np.empty(shape, dtype)
    out.fill(0)
    return out


def short(n):
    """1000000 -> '1M', 50000 -> '50K', 100 -> '100'."""
    for unit, div in (("M", 1_000_000), ("K", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


DTYPE_NAMES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
               np.dtype(np.float16): "f16"}


def id_stream_case(n_rows, dim, n_ids, dtype, dist, **more):
    """The `name` and `params` of a case over a table and an id stream (lookup,
    accumulate, renorm_), e.g. "1Mx64 f32 1M ids uniform"; `more` joins the params."""
    dtype = np.dtype(dtype)
    return {"name": f"{short(n_rows)}x{dim} {DTYPE_NAMES[dtype]} {short(n_ids)} ids {dist}",
            "params": {"n_rows": n_rows, "dim": dim, "n_ids": n_ids, "dtype": dtype.name,
                       "ids": dist, **more}}


def optional_import(name):
    """A peer library, or None when it is not installed (or fails to import)."""
    try:
        return __import__(name)
    except Exception:
        return None
