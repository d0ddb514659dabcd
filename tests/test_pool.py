"""The pool of recycled result buffers (fastembed/_pool.py): large results of lookup,
lookup_bag and accumulate reuse mapped pages once the arrays that used them die."""
import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastembed
from fastembed import _pool

BIG = 2 * _pool.MIN_BYTES  # bytes: above the pool's threshold


@pytest.fixture(autouse=True)
def fresh_pool():
    previous = fastembed.set_buffer_pool(64 * BIG)
    fastembed.set_buffer_pool(0)  # drop what earlier tests left
    fastembed.set_buffer_pool(64 * BIG)
    yield
    fastembed.set_buffer_pool(previous)


def addr(a):
    return a.__array_interface__["data"][0]


def big_lookup():
    table = np.arange(1000 * 64, dtype=np.float32).reshape(1000, 64)
    ids = np.arange(BIG // 256 + 1) % 1000
    return table, ids


def test_a_dead_result_is_recycled_and_a_live_one_never_shared():
    table, ids = big_lookup()
    a = fastembed.lookup(table, ids)
    first = addr(a)
    b = fastembed.lookup(table, ids)  # a is alive: b must not use its block
    assert addr(b) != first
    np.testing.assert_array_equal(a, table[ids])
    del a
    c = fastembed.lookup(table, ids)
    assert addr(c) == first  # a's block came back and was reused
    np.testing.assert_array_equal(b, table[ids])
    np.testing.assert_array_equal(c, table[ids])


def test_a_view_keeps_the_block_out_of_the_pool():
    table, ids = big_lookup()
    a = fastembed.lookup(table, ids)
    view = a[5:7]
    mv = memoryview(a)
    saved = a[5:7].copy()
    first = addr(a)
    del a
    b = fastembed.lookup(table, ids[::-1].copy())
    assert addr(b) != first
    np.testing.assert_array_equal(view, saved)
    assert mv.nbytes == b.nbytes
    del view, mv
    c = fastembed.lookup(table, ids)
    assert addr(c) == first


def test_results_are_ordinary_writable_arrays():
    table, ids = big_lookup()
    a = fastembed.lookup(table, ids)
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    assert addr(a) % 64 == 0
    a[0] = -1.0
    assert a.shape == (ids.size, 64) and a.dtype == np.float32
    r = fastembed.accumulate(ids, np.ones((ids.size, 64), np.float32), 1000)
    np.testing.assert_array_equal(r.indices, np.arange(1000))
    bag = fastembed.lookup_bag(table, np.arange(BIG // 256 * 2) % 1000,
                               np.arange(0, BIG // 256 * 2, 2))
    np.testing.assert_array_equal(bag, table[np.arange(0, BIG // 256 * 2, 2) % 1000]
                                  + table[np.arange(1, BIG // 256 * 2, 2) % 1000])


def test_small_results_bypass_the_pool():
    a = fastembed.lookup(np.ones((10, 4), np.float32), [1, 2])
    assert a.base is None or not isinstance(a.base, _pool._Lease)
    assert fastembed.buffer_pool_info()["blocks"] == 0


def test_cap_is_honoured_and_zero_turns_the_pool_off():
    fastembed.set_buffer_pool(3 * BIG)
    arrays = [_pool.empty((BIG,), np.uint8) for _ in range(6)]
    del arrays
    gc.collect()
    info = fastembed.buffer_pool_info()
    assert 0 < info["held_bytes"] <= 3 * BIG and info["max_bytes"] == 3 * BIG
    fastembed.set_buffer_pool(BIG)
    assert fastembed.buffer_pool_info()["held_bytes"] <= BIG
    assert fastembed.set_buffer_pool(0) == BIG
    assert fastembed.buffer_pool_info() == {"max_bytes": 0, "held_bytes": 0, "blocks": 0}
    a = _pool.empty((BIG,), np.uint8)
    assert not isinstance(a.base, _pool._Lease)
    del a
    assert fastembed.buffer_pool_info()["held_bytes"] == 0


def test_a_block_is_not_spent_on_a_much_smaller_result():
    big = _pool.empty((8 * BIG,), np.uint8)
    del big
    small = _pool.empty((BIG,), np.uint8)
    assert fastembed.buffer_pool_info()["blocks"] == 1  # the big block stays free
    del small


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_set_buffer_pool_rejects_bad_caps(bad):
    before = fastembed.buffer_pool_info()["max_bytes"]
    with pytest.raises((TypeError, ValueError)):
        fastembed.set_buffer_pool(bad)
    assert fastembed.buffer_pool_info()["max_bytes"] == before


def test_threads_never_share_a_live_block():
    errors = []

    def work(seed):
        try:
            for k in range(40):
                a = _pool.empty((BIG // 8,), np.int64)
                a.fill(seed * 1000 + k)
                b = _pool.empty((BIG // 8 + k,), np.int64)
                b.fill(-seed)
                if not (a == seed * 1000 + k).all() or not (b == -seed).all():
                    errors.append(seed)
                del a, b
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert fastembed.buffer_pool_info()["held_bytes"] <= 64 * BIG


def test_release_during_a_collection_inside_the_pool_is_kept():
    # a lease in a reference cycle dies in a gc run; force one while the pool lock is held
    fastembed.set_buffer_pool(8 * BIG)

    class Cycle:
        pass

    c = Cycle()
    c.self = c
    c.array = _pool.empty((BIG,), np.uint8)
    del c
    with _pool._Locked():
        gc.collect()  # the lease's release is queued, not deadlocked
        assert len(_pool._queued) == 1
    assert fastembed.buffer_pool_info()["blocks"] == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_pool():
    table, ids = big_lookup()
    a = fastembed.lookup(table, ids)
    del a
    held = _pool._lock.acquire()  # a fork while the lock is held must not hang the child
    try:
        pid = os.fork()
        if pid == 0:  # child
            ok = False
            try:
                b = fastembed.lookup(table, ids)
                ok = bool((b == table[ids]).all())
                del b
            finally:
                os._exit(0 if ok else 1)
    finally:
        if held:
            _pool._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_environment_variable_turns_the_pool_off():
    code = ("import fastembed, numpy as np; from fastembed import _pool\n"
            "a = fastembed.lookup(np.ones((10, 64), np.float32), np.zeros(1 << 16, np.int64))\n"
            "assert not isinstance(a.base, _pool._Lease)\n"
            "print(fastembed.buffer_pool_info()['max_bytes'])")
    env = dict(os.environ, FASTEMBED_BUFFER_POOL="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
