"""Thread policy.

``num_threads=None`` means the process default: the value given to `set_num_threads`, or
else ``omp_get_max_threads()`` (which honours ``OMP_NUM_THREADS`` and threadpoolctl
limits) capped by the CPUs this process may use (affinity mask and cgroup quota). The C
side lowers the count further: one thread for small work, for a serial build, and in a
child forked after OpenMP started (GNU libgomp would hang there).
"""
import functools
import math
import os

from fastembed import _kernels
from fastembed._validate import integer

_default_threads = None


@functools.lru_cache(maxsize=None)
def available_cpus():
    """CPUs this process may run on: the affinity mask, capped by a cgroup v2/v1 CPU quota.
    Read once (it costs ~25 us of file reads) and again in a forked child."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def _cgroup_cpu_quota():
    try:  # cgroup v2: "max 100000" or "200000 100000"
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=available_cpus.cache_clear)


def _check_count(n, name):
    if type(n) is int and n >= 1:  # the common case, without a call (every op runs this)
        return n
    return integer(n, name, low=1)  # (None is handled by the callers)


def set_num_threads(n):
    """Set the default thread count of every kernel; ``None`` restores the automatic rule."""
    global _default_threads
    _default_threads = None if n is None else _check_count(n, "n")


def get_num_threads():
    """The thread count a call with ``num_threads=None`` asks for."""
    if _default_threads is not None:
        return _default_threads
    return max(1, min(_kernels.omp_max_threads(), available_cpus()))


def resolve(num_threads):
    """The per-call ``num_threads`` argument as a positive int."""
    if num_threads is None:
        return get_num_threads()
    return _check_count(num_threads, "num_threads")
