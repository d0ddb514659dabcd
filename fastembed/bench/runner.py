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
    """Per-call times in seconds of `timed` alone, after one warm-up call, with the rounds
    rule of `run_case`."""
    t0 = time.perf_counter()
    timed.call()
    entry = _Timing(None, timed, 1 if timed.reset is not None
                    else _inner_calls(time.perf_counter() - t0))
    while not entry.done(rounds):
        entry.round()
    return entry.times


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


def _hwm():
    """Whether VmHWM can measure peaks here (asked once)."""
    global _HWM
    if _HWM is None:
        _HWM = _can_reset_hwm()
    return _HWM


def _reset_peak():
    """Reset the process's peak resident set to its current size; returns that size."""
    before = _status_kb("VmRSS")["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return before


def _new_bytes(timed, ret, data):
    """Bytes of the arrays `ret` holds that are new memory (not views of the inputs)."""
    inputs = [v for v in data.values() if isinstance(v, np.ndarray)]
    got = timed.output(ret) if timed.output is not None else ret
    return sum(a.nbytes for a in _arrays(got)
               if not any(np.may_share_memory(a, x) for x in inputs))


def _peak_since(before, timed, ret, data):
    """Peak extra memory of the call that returned `ret`, begun at resident size `before`
    (from `_reset_peak`): the growth of the peak less the bytes of a new result."""
    return max(0, _status_kb("VmHWM")["VmHWM"] - before - _new_bytes(timed, ret, data))


def peak_extra_bytes(timed, data):
    """Peak memory one call needs beyond its inputs and its output: the growth of the
    process's peak resident set (Linux: VmHWM, reset through /proc/self/clear_refs) during
    the call, less the bytes of the result it returns when that result is new memory.
    Elsewhere, tracemalloc's peak (it sees NumPy's allocations, not every library's).
    Returns (bytes, method)."""
    if timed.reset is not None:
        timed.reset()
    gc.collect()
    if _hwm():
        before = _reset_peak()
        ret = timed.call()
        return _peak_since(before, timed, ret, data), "rss"
    tracemalloc.start()
    ret = timed.call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return max(0, peak - _new_bytes(timed, ret, data)), "tracemalloc"


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


def _inner_calls(first):
    """Calls per timed round, from the time of a first call: several for a call under
    BATCH_SECONDS (timer resolution)."""
    return max(1, min(10_000, int(BATCH_SECONDS / max(first, 1e-7))))


def stable(times, rel=0.01):
    """True when the median of `times` is known to within `rel` of itself: the standard
    error of a median, about 0.93 * IQR / sqrt(n) for a normal spread, is at most `rel` of
    the median. More rounds would not move it: an implementation stops there."""
    n = len(times)
    q = statistics.quantiles(times, n=4)
    return 0.93 * (q[2] - q[0]) / n ** 0.5 <= rel * statistics.median(times)


class _Timing:
    """One implementation being timed: its row, its Timed, its calls per round, times."""

    def __init__(self, row, timed, inner):
        self.row, self.timed, self.inner, self.times, self.spent = row, timed, inner, [], 0.0

    def round(self, untimed=None):
        """One timed round (the reset, then `untimed()`, before it untimed); returns
        (seconds, the last call's result, what `untimed` returned)."""
        if self.timed.reset is not None:
            self.timed.reset()
        mark = untimed() if untimed is not None else None
        clock = time.perf_counter
        t0 = clock()
        for _ in range(self.inner):
            ret = self.timed.call()
        t = clock() - t0
        self.times.append(t / self.inner)
        self.spent += t
        return t, ret, mark

    def done(self, rounds):
        n = len(self.times)
        return n >= rounds.max_rounds or n >= rounds.min_rounds and (
            self.spent >= rounds.budget or stable(self.times))


def run_case(case, impls, data, want, threads, rounds, measure_memory=True):
    """Every implementation in `impls` on one case at one thread count. Each is first
    checked against NumPy's result (`want`): one that disagrees is "wrong" and one that
    raises is "error", and neither is timed; that first call is also the warm-up. The
    others are timed in interleaved rounds (one call of each per round), so a burst of
    load from another process falls on all of them alike and the ratios hold. Each leaves
    the rounds after `rounds.min_rounds` once its median is stable (`stable`) or its
    `rounds.budget` seconds are spent, at `rounds.max_rounds` at the latest. Peak extra
    memory is read around its first timed round (a separate call when that round loops
    over several calls, or without VmHWM). Every row gets `cost_s`: the seconds its
    preparation, check, timed rounds and memory call took. Returns one dict per
    implementation."""
    clock = time.perf_counter
    rows, ready = [], []
    for impl in impls:
        row = _row(case, impl, threads)
        rows.append(row)
        cost = row["cost_s"] = {"prepare": 0.0, "check": 0.0, "timed": 0.0, "memory": 0.0}
        peers.set_threads(impl.library, threads)
        try:
            t0 = clock()
            timed = impl.prepare(data, threads)
            if timed.reset is not None:
                timed.reset()
            t1 = clock()
            ret = timed.call()
            first = clock() - t1
            got = timed.output(ret) if timed.output is not None else ret
            ok = case.compare(got, want)
            del ret, got
            cost["prepare"], cost["check"] = t1 - t0, clock() - t1
            if ok:
                inner = 1 if timed.reset is not None else _inner_calls(first)
                ready.append(_Timing(row, timed, inner))
            else:
                row["status"] = "wrong"
                row["error"] = "result differs from NumPy's"
        except Exception as exc:  # a peer that fails is reported, not fatal
            _failed(row, exc)
    memory_in_round = measure_memory and _hwm()
    active = list(ready)
    while active:
        for entry in list(active):
            watch = memory_in_round and entry.inner == 1 and not entry.times
            try:
                t, ret, before = entry.round(_reset_peak if watch else None)
                if watch:
                    entry.row["peak_extra_bytes"] = _peak_since(before, entry.timed, ret, data)
                    entry.row["memory_method"] = "rss"
                del ret
            except Exception as exc:
                _failed(entry.row, exc)
                active.remove(entry)
                ready.remove(entry)
                continue
            entry.row["cost_s"]["timed"] += t
            if entry.done(rounds):
                active.remove(entry)
    for entry in ready:
        row = entry.row
        row.update(summarize(entry.times))
        if measure_memory and "peak_extra_bytes" not in row:
            t0 = clock()
            try:
                row["peak_extra_bytes"], row["memory_method"] = peak_extra_bytes(entry.timed,
                                                                                  data)
            except Exception as exc:
                _failed(row, exc)
                for key in ("median_s", "iqr_s", "min_s", "rounds"):
                    row.pop(key, None)
            row["cost_s"]["memory"] = clock() - t0
    return rows


class Progress:
    """One line per finished step on stderr, flushed at once whether or not it is a
    terminal (a log of a long run shows how far it got): how many steps are done, the time
    since the start, what was measured and how long it took."""

    def __init__(self, total, enabled=True, stream=None):
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.stream = sys.stderr if stream is None else stream  # the current one, at run time
        self.start = time.perf_counter()

    def step(self, label, seconds, note=""):
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        width = len(str(self.total))
        self.stream.write(f"[{self.done:>{width}}/{self.total} {_clock(elapsed)}] {label}: "
                          f"{seconds:.1f} s" + (f"; {note}" if note else "") + "\n")
        self.stream.flush()


def _clock(seconds):
    """4000 -> '1:06:40', 75 -> '1:15' (h:mm:ss or m:ss)."""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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
