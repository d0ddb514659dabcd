"""Measuring: copy bandwidth, checked-then-timed implementations, peak extra memory, and
the spinning processes of a --busy run."""
import contextlib
import gc
import os
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fastembed.bench import peers

COPY_MIN_BYTES = 256 * 2**20  # out of every cache this package targets


@dataclass
class Rounds:
    """How long to time one implementation: at least `min_rounds`, then more while the
    total stays under `budget` seconds, at most `max_rounds`."""
    min_rounds: int
    max_rounds: int
    budget: float


ROUNDS = {
    "full": Rounds(5, 31, 1.0),
    "quick": Rounds(3, 9, 0.15),
    "tiny": Rounds(2, 3, 0.01),
}
BATCH_SECONDS = 2e-3  # calls faster than this are timed in loops (timer resolution)


# ---- timing ------------------------------------------------------------------------------

def time_calls(timed, rounds):
    """Per-call times in seconds. A call with no reset that takes under BATCH_SECONDS is
    timed in loops of several calls (the figure is the loop time / calls)."""
    clock = time.perf_counter
    inner = 1
    if timed.reset is None:
        t0 = clock()
        timed.call()
        first = clock() - t0
        if first < BATCH_SECONDS:
            inner = max(1, min(10_000, int(BATCH_SECONDS / max(first, 1e-7))))
    times = []
    spent = 0.0
    while len(times) < rounds.min_rounds or (len(times) < rounds.max_rounds
                                             and spent < rounds.budget):
        if timed.reset is not None:
            timed.reset()
        t0 = clock()
        for _ in range(inner):
            ret = timed.call()
        t = (clock() - t0) / inner
        del ret
        times.append(t)
        spent += t * inner
    return times


def summarize(times):
    times = sorted(times)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "iqr_s": q[2] - q[0],
            "min_s": times[0], "rounds": len(times)}


# ---- copy bandwidth ------------------------------------------------------------------------

def measure_copy(n_bytes, threads, rounds):
    """GB/s of np.copyto between two written float32 buffers of `n_bytes` each, split in
    `threads` contiguous chunks copied concurrently (np.copyto releases the GIL). Bytes
    counted: read + written (2 * n_bytes), the same rule as the kernels' bytes moved."""
    n = max(n_bytes // 4, threads)
    src = np.ones(n, np.float32)
    dst = np.full(n, 2.0, np.float32)
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    chunks = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    if threads == 1:
        def call():
            np.copyto(dst, src)
        pool = None
    else:
        pool = ThreadPoolExecutor(threads)

        def call():
            list(pool.map(lambda c: np.copyto(*c), chunks))
    from fastembed.bench.core import Timed
    try:
        times = time_calls(Timed(call), Rounds(max(3, rounds.min_rounds), rounds.max_rounds,
                                               rounds.budget))
    finally:
        if pool is not None:
            pool.shutdown()
    stats = summarize(times)
    stats.update(threads=threads, bytes=2 * 4 * n, gbps=2 * 4 * n / stats["median_s"] / 1e9)
    return stats


# ---- memory ---------------------------------------------------------------------------------

def _status_kb(*keys):
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in keys:
                out[key] = int(line.split()[1]) * 1024
    return out


def _can_reset_hwm():
    """True if resetting VmHWM works and it then sees a freed 32 MB temporary (it did not,
    once, on a loaded CI machine: the test then measured 12 of 64 MB; tracemalloc instead)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kb("VmRSS")["VmRSS"]
        tmp = np.ones(32 * 2**20 // 8)
        del tmp
        return _status_kb("VmHWM")["VmHWM"] - before >= 24 * 2**20
    except (OSError, KeyError):
        return False


_HWM = None


def _arrays(obj):
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _arrays(o)
    elif hasattr(obj, "indices") and hasattr(obj, "values"):
        yield from _arrays((obj.indices, obj.values))


def peak_extra_bytes(timed, data):
    """Peak memory one call needs beyond its inputs and its output: the growth of the
    process's peak resident set (Linux: VmHWM, reset through /proc/self/clear_refs) during
    the call, less the bytes of the result it returns when that result is new memory.
    Elsewhere, tracemalloc's peak (it sees NumPy's allocations, not every library's).
    Returns (bytes, method)."""
    global _HWM
    if _HWM is None:
        _HWM = _can_reset_hwm()
    if timed.reset is not None:
        timed.reset()
    gc.collect()
    inputs = [v for v in data.values() if isinstance(v, np.ndarray)]
    if _HWM:
        before = _status_kb("VmRSS")["VmRSS"]
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        ret = timed.call()
        peak = _status_kb("VmHWM")["VmHWM"]
        method = "rss"
    else:
        tracemalloc.start()
        ret = timed.call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        before = 0
        method = "tracemalloc"
    got = timed.output(ret) if timed.output is not None else ret
    new = sum(a.nbytes for a in _arrays(got)
              if not any(np.may_share_memory(a, x) for x in inputs))
    del ret, got
    return max(0, peak - before - new), method


# ---- one implementation on one case ---------------------------------------------------------

def _row(case, impl, threads):
    return {"kernel": case.kernel, "case": case.name, "params": case.params,
            "library": impl.library, "variant": impl.variant, "threads": threads,
            "compare_to": impl.compare_to,
            "threads_used": (threads if impl.threaded else
                             "library default" if impl.own_threads else 1),
            "status": "ok", "error": None}


def _failed(row, exc):
    row["status"] = "error"
    row["error"] = f"{type(exc).__name__}: {exc}"


def _inner_calls(timed):
    """Calls per timed round: several for a call under BATCH_SECONDS (timer resolution)."""
    if timed.reset is not None:
        return 1
    t0 = time.perf_counter()
    timed.call()
    first = time.perf_counter() - t0
    return max(1, min(10_000, int(BATCH_SECONDS / max(first, 1e-7))))


def run_case(case, impls, data, want, threads, rounds, measure_memory=True):
    """Every implementation in `impls` on one case at one thread count. Each is first
    checked against NumPy's result (`want`): one that disagrees is "wrong" and one that
    raises is "error", and neither is timed. The others are timed in interleaved rounds
    (one call of each per round), so a burst of load from another process falls on all
    of them alike and the ratios hold. Returns one result dict per implementation."""
    rows, ready = [], []
    for impl in impls:
        row = _row(case, impl, threads)
        rows.append(row)
        peers.set_threads(impl.library, threads)
        try:
            timed = impl.prepare(data, threads)
            if timed.reset is not None:
                timed.reset()
            ret = timed.call()
            got = timed.output(ret) if timed.output is not None else ret
            if case.compare(got, want):
                ready.append([row, timed, _inner_calls(timed), []])
            else:
                row["status"] = "wrong"
                row["error"] = "result differs from NumPy's"
            del ret, got
        except Exception as exc:  # a peer that fails is reported, not fatal
            _failed(row, exc)
    clock = time.perf_counter
    spent = 0.0
    n_rounds = 0
    while ready and (n_rounds < rounds.min_rounds or (
            n_rounds < rounds.max_rounds and spent < rounds.budget * len(ready))):
        for entry in list(ready):
            row, timed, inner, times = entry
            try:
                if timed.reset is not None:
                    timed.reset()
                t0 = clock()
                for _ in range(inner):
                    ret = timed.call()
                t = clock() - t0
                del ret
            except Exception as exc:
                _failed(row, exc)
                ready.remove(entry)
                continue
            times.append(t / inner)
            spent += t
        n_rounds += 1
    for row, timed, inner, times in ready:
        row.update(summarize(times))
        if measure_memory:
            try:
                row["peak_extra_bytes"], row["memory_method"] = peak_extra_bytes(timed, data)
            except Exception as exc:
                _failed(row, exc)
                for key in ("median_s", "iqr_s", "min_s", "rounds"):
                    row.pop(key, None)
    return rows


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, total, enabled=None, stream=None):
        stream = sys.stderr if stream is None else stream  # the current one, at run time
        self.total, self.done, self.stream = max(total, 1), 0, stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()

    def step(self, label):
        """Show that the work named `label` starts (the bar counts what is finished)."""
        if self.enabled:
            self._draw(label)
        self.done += 1

    def _draw(self, label):
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                          f" {elapsed:5.0f}s {label[:60]:<60}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()


# A spinner burns one CPU until it is stopped, or until the bench that started it is gone
# (its parent changes: a killed bench leaves no spinner behind).
SPINNER = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
           "    for _ in range(1_000_000):\n        pass\n")


@contextlib.contextmanager
def busy_processes(n):
    """Run the body with `n` other processes spinning (each a busy loop on one CPU), as on
    a shared machine. They are stopped when the body ends, however it ends (an exception,
    Ctrl-C, or SIGTERM, which is turned into SystemExit for the time). Yields their pids."""
    procs = []
    old_term = None
    if n > 0:
        def terminate(signum, frame):
            raise SystemExit(128 + signum)
        try:
            old_term = signal.signal(signal.SIGTERM, terminate)
        except ValueError:  # not the main thread: no handler, the finally still runs
            old_term = None
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", SPINNER],
                                          stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def memory_total():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
