"""A bounded pool of recycled result buffers.

A kernel that returns a fresh result (``lookup``, ``lookup_bag``, ``accumulate`` without
``out=``) would otherwise write pages the OS has never mapped, and the first touch of each
page is a fault that zeroes it: measured on the project's 2-core VM, writing a fresh 487 MB
array took 540-1020 ms against 72 ms for one already mapped (huge pages advised or not), so
an allocating ``lookup`` ran 6x slower than the same call into ``out=``.

Large results (at least ``MIN_BYTES``) are therefore carved from blocks that the pool keeps:
when the last array or view using a block dies, the block goes back to the pool instead of to
the OS, and the next result of a fitting size reuses its already-mapped pages.

Memory cost: at most ``max_bytes`` of idle blocks (default ``min(1 GiB, RAM / 8)``), beyond
what live results hold; blocks are evicted oldest first to stay under the cap, and a block
larger than the cap is never kept. ``fastembed.set_buffer_pool(0)`` or the environment
variable ``FASTEMBED_BUFFER_POOL=0`` turns the pool off (``FASTEMBED_BUFFER_POOL=<bytes>``
sets the cap).

Safety: a block is referenced by exactly one lease object, and every array or view built on
it keeps that lease alive (the lease is the arrays' ``base``), so a block only returns to the
pool once nothing can reach its memory: a recycled buffer never aliases a live array. The
free list is guarded by a lock; a lease released while its own thread is inside the pool
(a garbage collection run there) is queued and merged before the lock is let go. A forked
child gets a fresh lock (its blocks are its own copy-on-write pages).
"""
import collections
import os
import threading

import numpy as np

MIN_BYTES = 1 << 20   # smaller results come from np.empty: malloc reuses its own heap there
_BLOCK = 2 << 20      # blocks hold whole 2 MB units (plus _ALIGN), so near sizes share blocks
_ALIGN = 64           # results start on a cache line


def _default_cap():
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        ram = 8 << 30
    return min(1 << 30, ram // 8)


def _cap_from_env():
    value = os.environ.get("FASTEMBED_BUFFER_POOL")
    if value is None or value.strip() == "":
        return _default_cap()
    try:
        cap = int(value)
    except ValueError:
        raise ValueError(f"FASTEMBED_BUFFER_POOL must be a byte count (0 turns the pool off), "
                         f"got {value!r}") from None
    return max(0, cap)


_lock = threading.Lock()
_inside = threading.local()        # .active: this thread holds _lock
_free = collections.OrderedDict()  # id(block) -> block, oldest first
_held = 0                          # bytes in _free
_queued = collections.deque()      # blocks released while their thread held _lock
_max_bytes = _cap_from_env()


def _reset_after_fork():
    global _lock, _inside
    _lock = threading.Lock()
    _inside = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class _Lease:
    """The one owner of a block while results use it; ``np.asarray`` of it is the result."""
    __slots__ = ("block", "__array_interface__", "__weakref__")

    def __init__(self, block, shape, dtype):
        self.block = block
        addr = block.__array_interface__["data"][0]
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str,
                                    "data": (addr + (-addr) % _ALIGN, False), "version": 3}

    def __del__(self):
        block = self.block
        self.block = None
        try:
            _give_back(block)
        except Exception:  # interpreter shutdown: module state may be gone
            pass


def _trim(limit):
    """Evict the oldest free blocks until at most `limit` bytes are held (lock held)."""
    global _held
    while _held > limit and _free:
        _, block = _free.popitem(last=False)
        _held -= block.nbytes


def _merge(block):
    """Put one released block in the free list within the cap (lock held)."""
    global _held
    if block.nbytes > _max_bytes:
        return
    _trim(_max_bytes - block.nbytes)
    _free[id(block)] = block
    _held += block.nbytes


class _Locked:
    """The pool lock, marking the thread inside; on exit, merges what was queued meanwhile."""

    def __enter__(self):
        _lock.acquire()
        _inside.active = True

    def __exit__(self, *exc):
        try:
            while _queued:
                _merge(_queued.popleft())
        finally:
            _inside.active = False
            _lock.release()


def _give_back(block):
    if getattr(_inside, "active", False):  # re-entered from this thread's critical section
        _queued.append(block)
        return
    with _Locked():
        _merge(block)


def _take(need):
    """The smallest free block of at least `need` bytes and at most twice that, or None."""
    global _held
    with _Locked():
        best = None
        for key, block in _free.items():
            size = block.nbytes
            if need <= size <= 2 * need and (best is None or size < best[1].nbytes):
                best = (key, block)
        if best is None:
            return None
        del _free[best[0]]
        _held -= best[1].nbytes
        return best[1]


def empty(shape, dtype):
    """``np.empty(shape, dtype)``, C-contiguous, from a recycled block when it is large."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    if nbytes < MIN_BYTES or _max_bytes <= 0:
        return np.empty(shape, dtype)
    need = nbytes + _ALIGN
    block = _take(need)
    if block is None:
        block = np.empty((nbytes + _BLOCK - 1) // _BLOCK * _BLOCK + _ALIGN, np.uint8)
    return np.asarray(_Lease(block, shape, dtype))


def set_buffer_pool(max_bytes):
    """Cap the idle memory of the pool that recycles large results (``lookup``,
    ``lookup_bag`` and ``accumulate`` without ``out=``); ``0`` turns it off and frees what it
    holds, ``None`` restores the default (``min(1 GiB, RAM / 8)``). Returns the previous cap.
    The environment variable ``FASTEMBED_BUFFER_POOL`` (bytes; 0 = off) sets the cap at
    import."""
    global _max_bytes
    if max_bytes is None:
        cap = _default_cap()
    else:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
            raise TypeError(f"max_bytes must be an int or None, got {type(max_bytes).__name__}")
        cap = int(max_bytes)
        if cap < 0:
            raise ValueError(f"max_bytes must be >= 0, got {cap}")
    with _Locked():
        previous, _max_bytes = _max_bytes, cap
        _trim(cap)
    return previous


def buffer_pool_info():
    """``{"max_bytes", "held_bytes", "blocks"}``: the cap and the idle blocks now held."""
    with _Locked():
        return {"max_bytes": _max_bytes, "held_bytes": _held, "blocks": len(_free)}
