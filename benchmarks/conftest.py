"""Shared pieces of the pytest-benchmark suites: data, peers, byte accounting.

Each case puts fastembed and its peers in one benchmark group on the same data; every peer's
output is checked once against NumPy before it is timed; `extra_info["bytes"]` records the
bytes a kernel must move at least, so a result reads as GB/s (bytes / median)."""
import os

import numpy as np
import pytest

import fastembed

try:
    import torch
except ImportError:  # torch is an optional peer
    torch = None

THREADS = fastembed.get_num_threads()
if torch is not None:
    torch.set_num_threads(THREADS)

COPY_MIN_BYTES = 256 * 2**20
_cache = {}


def cached(key, make):
    """Build expensive inputs once per session; keyed by the case."""
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def zipf_ids(rng, n_ids, n_rows, a=1.05):
    """Zipf(a)-distributed ids over [0, n_rows), shuffled so hot ids are not all low."""
    raw = rng.zipf(a, n_ids) - 1
    raw = np.minimum(raw, n_rows - 1)
    perm = rng.permutation(n_rows)
    return perm[raw]


def copy_buffers(n_bytes):
    """Two written float32 buffers of at least COPY_MIN_BYTES (so the copy is out of cache)."""
    n = max(n_bytes, COPY_MIN_BYTES) // 4
    return cached(("copy", n), lambda: (np.ones(n, np.float32), np.full(n, 2.0, np.float32)))


def run(benchmark, fn, bytes_moved, rounds=None):
    benchmark.extra_info["bytes"] = int(bytes_moved)
    benchmark.extra_info["threads"] = THREADS
    if rounds is None:
        return benchmark(fn)
    return benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)


requires_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    for bench in output_json["benchmarks"]:
        b = bench["extra_info"].get("bytes")
        if b:
            bench["extra_info"]["GB/s"] = b / bench["stats"]["median"] / 1e9


def pytest_terminal_summary(terminalreporter):
    """After the tables, GB/s of every result (bytes moved / median)."""
    bs = getattr(getattr(terminalreporter.config, "_benchmarksession", None), "benchmarks", None)
    if not bs:
        return
    terminalreporter.write_sep("-", "throughput (bytes moved / median)")
    for bench in sorted(bs, key=lambda b: (b.group or "", b.name)):
        b = bench.extra_info.get("bytes")
        if b and bench.stats:
            med = bench.stats.median
            terminalreporter.write_line(
                f"{bench.group:<48} {bench.name:<44} {med * 1e3:9.3f} ms {b / med / 1e9:7.2f} GB/s")
