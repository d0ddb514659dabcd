"""pytest-benchmark over the cases of fastembed.bench (the same cases and peers as
`python -m fastembed bench`): one group per case, fastembed and its peers on the same data,
each output checked against NumPy once before it is timed. A family whose library or peer
is missing is not collected. Run:

    pytest benchmarks/ --benchmark-only --benchmark-group-by=group      # or: make bench-pytest
    FASTEMBED_BENCH_SIZE=quick pytest benchmarks/ --benchmark-only --benchmark-group-by=group
"""
import os

import pytest

import fastembed
from fastembed.bench import families, peers

SIZE = os.environ.get("FASTEMBED_BENCH_SIZE", "full")
THREADS = fastembed.get_num_threads()

PARAMS = [
    pytest.param(case, impl, id=f"{kernel}|{case.name}|{impl.library}:{impl.variant}")
    for kernel, family in families().items() if family.available()
    for case in family.cases(SIZE)
    for impl in case.impls
]

_current = {}  # one case's inputs at a time (tables are hundreds of MB)


def inputs(case):
    if _current.get("case") is not case:
        _current.clear()
        data = case.make()
        _current.update(case=case, data=data, want=case.reference(data))
    return _current["data"], _current["want"]


@pytest.mark.parametrize("case,impl", PARAMS)
def test_kernel(benchmark, case, impl):
    data, want = inputs(case)
    benchmark.group = f"{case.kernel} {case.name}"
    peers.set_threads(impl.library, THREADS)
    timed = impl.prepare(data, THREADS)
    if timed.reset is not None:
        timed.reset()
    ret = timed.call()
    got = timed.output(ret) if timed.output is not None else ret
    assert case.compare(got, want), f"{impl.library} {impl.variant} differs from NumPy"
    del ret, got
    moved = int(case.bytes_moved(data))
    benchmark.extra_info.update(bytes=moved, threads=THREADS if impl.threaded else 1)
    if timed.reset is None:
        benchmark(timed.call)
    else:  # in-place kernels start every round from the same table (restored untimed)
        benchmark.pedantic(timed.call, setup=timed.reset, rounds=11, warmup_rounds=0)
    if benchmark.stats:  # not under --benchmark-disable
        benchmark.extra_info["GB/s"] = moved / benchmark.stats.stats.median / 1e9
