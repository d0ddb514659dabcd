"""The benchmark suite: one set of cases behind `python -m fastembed bench` (the CLI,
`fastembed.bench.cli`) and pytest-benchmark (`benchmarks/bench_suite.py`, a thin adapter
that parametrizes over the same cases).

Adding a family (one file, one registration line)
-------------------------------------------------
Write ``fastembed/bench/<family>.py`` and add its import to the list below (the import
order is the report's order). The module registers one function per reported kernel::

    from fastembed.bench import peers
    from fastembed.bench.core import Case, Impl, Timed, close, register

    @register("my kernel", available=lambda: ..., requires="what it needs")
    def cases(size):                      # size: "full", "quick" (~1 min run) or "tiny"
        return [Case(kernel="my kernel", name="1Mx64 f32 uniform", params={...},
                     make=make,            # () -> dict of inputs (deterministic)
                     reference=reference,  # inputs -> NumPy's result (the truth)
                     bytes_moved=moved,    # inputs -> bytes a kernel must move at least
                     impls=[Impl("fastembed", "variant", prepare, threaded=True),
                            Impl("torch", "variant", prepare_torch, threaded=True)],
                     compare=close(),      # (got, want) -> bool; default: bit-exact
                     ratios=[("label", "variant A", "variant B")])]  # optional

`available()` is asked at run time: a family whose library or peer is missing is listed
as not run (needing `requires`) instead of failing. ``prepare(data, threads)`` returns a
`Timed` (the call; optional untimed `reset` before every call for in-place kernels; optional
`output` turning the return value into what `compare` checks). Optional peers come from
`fastembed.bench.peers` (``peers.torch()``, ``peers.jax()``, ``peers.fbgemm()``: None when
not installed or left out with ``--without``). The runner checks every implementation
against `reference` before timing it, times them in interleaved rounds at every thread
count, measures peak extra memory and reports: per case, fastembed's speedup over each peer
library, the fraction of the copy bandwidth, the declared `ratios` and every fastembed
variant's N-thread / 1-thread time.
"""
from fastembed.bench import lookup  # noqa: F401  (each import registers its kernels)
from fastembed.bench import lookup_bag  # noqa: F401
from fastembed.bench import accumulate  # noqa: F401
from fastembed.bench import accumulate_bag  # noqa: F401
from fastembed.bench import renorm  # noqa: F401
from fastembed.bench import optim_step  # noqa: F401
from fastembed.bench import bag_step  # noqa: F401
from fastembed.bench import layer  # noqa: F401
from fastembed.bench import distributed  # noqa: F401  (runs with FASTEMBED_BENCH_RAY=1)
from fastembed.bench import keras_layer  # noqa: F401
from fastembed.bench import interop  # noqa: F401
from fastembed.bench import quantized  # noqa: F401
from fastembed.bench.cli import main
from fastembed.bench.core import families, register

__all__ = ["families", "main", "register"]
