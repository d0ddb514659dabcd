import os
import re
import sys

import numpy as np
import pytest

import fastembed
from conftest import requires_openmp, run_python


def test_set_and_get_num_threads():
    default = fastembed.get_num_threads()
    assert default >= 1
    try:
        fastembed.set_num_threads(1)
        assert fastembed.get_num_threads() == 1
        fastembed.set_num_threads(3)
        assert fastembed.get_num_threads() == 3
    finally:
        fastembed.set_num_threads(None)
    assert fastembed.get_num_threads() == default


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), (2.0, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, exc):
    with pytest.raises(exc):
        fastembed.set_num_threads(bad)


def test_default_follows_omp_num_threads():
    proc = run_python("import fastembed; print(fastembed.get_num_threads())",
                      env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_default_is_capped_by_affinity():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no affinity control on this platform")
    proc = run_python("""
        import os
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        import fastembed
        print(fastembed.get_num_threads())
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


@requires_openmp
def test_threadpoolctl_limits_are_honoured():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    proc = run_python("""
        import fastembed, threadpoolctl
        before = fastembed.get_num_threads()
        with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
            inside = fastembed.get_num_threads()
        print(before, inside)
    """)
    assert proc.returncode == 0, proc.stderr
    before, inside = map(int, proc.stdout.split())
    assert inside == 1
    assert before == min(os.cpu_count(), len(os.sched_getaffinity(0)), before)


def test_small_calls_run_serially():
    assert fastembed._kernels.plan_threads(8, 1000) == 1
    big = fastembed._kernels.plan_threads(2, 10**9)
    assert big == (2 if fastembed._kernels.openmp_enabled() else 1)


@requires_openmp
@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_fork_after_parallel_call_does_not_hang():
    # GNU libgomp's pool does not survive fork(); the child must run serially, not hang.
    proc = run_python("""
        import os, sys
        import numpy as np
        import fastembed
        w = np.random.rand(200_000, 64).astype(np.float32)
        ids = np.random.randint(0, 200_000, 400_000)
        expected = w[ids]
        assert np.array_equal(fastembed.lookup(w, ids, num_threads=2), expected)
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(fastembed.lookup(w, ids, num_threads=2), expected)
            ok = ok and fastembed._kernels.in_forked_child()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_start_methods(method):
    import multiprocessing as mp
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} unavailable")
    proc = run_python(f"""
        import multiprocessing as mp
        import numpy as np
        import fastembed

        def work(seed):
            rng = np.random.default_rng(seed)
            w = rng.random((100_000, 32), dtype=np.float32)
            ids = rng.integers(0, 100_000, 300_000)
            return bool(np.array_equal(fastembed.lookup(w, ids, num_threads=2), w[ids]))

        if __name__ == "__main__":
            work(0)  # the parent starts its OpenMP pool first
            with mp.get_context("{method}").Pool(2) as pool:
                print(all(pool.map(work, range(4))))
    """, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_show_config_prints_build_facts(capsys):
    fastembed.show_config()
    text = capsys.readouterr().out
    for key in ("version", "compiler", "openmp", "simd_compiled", "simd_chosen", "num_threads"):
        assert key in text
    assert fastembed.__version__ in text
    # the compiler that built the kernels, with its version (not the interpreter's CC)
    compiler = fastembed._build_info.config_dict()["compiler"]
    assert compiler in text and re.match(r"(gcc|clang) \d+\.\d+", compiler), compiler


@pytest.mark.parametrize("level", ["baseline", "avx2", "avx512"])
def test_every_simd_path_gives_the_same_result(level):
    # FASTEMBED_SIMD caps the path at load time; run each in a fresh interpreter
    proc = run_python("""
        import numpy as np, fastembed
        rng = np.random.default_rng(0)
        ok = True
        for dim in (1, 16, 32, 64, 128, 256, 7, 100):
            for dt in (np.float32, np.float64):
                w = rng.standard_normal((5000, dim)).astype(dt)
                ids = rng.integers(0, 5000, 100_000)
                ok &= np.array_equal(fastembed.lookup(w, ids, num_threads=2), w[ids])
        print(ok, fastembed._kernels.simd_info()[2])
    """, env={"FASTEMBED_SIMD": level})
    assert proc.returncode == 0, proc.stderr
    ok, chosen = proc.stdout.split()
    assert ok == "True"
    cpu = fastembed._kernels.simd_info()[1]
    order = ["baseline", "avx2", "avx512f"]
    want = order[min(order.index(cpu), ["baseline", "avx2", "avx512"].index(level))]
    assert chosen == want


@pytest.mark.skipif(not os.environ.get("FASTEMBED_EXPECT_SERIAL"),
                    reason="only for the FASTEMBED_NO_OPENMP=1 build (make test-serial)")
def test_serial_build_has_no_openmp():
    assert not fastembed._kernels.openmp_enabled()
    assert fastembed.get_num_threads() == 1


@pytest.mark.parametrize("user_env", [{}, {"GOMP_SPINCOUNT": "77"}, {"OMP_WAIT_POLICY": "active"}])
def test_import_bounds_libgomp_spin_without_changing_the_environment(user_env):
    # fastembed/_spin.py sets GOMP_SPINCOUNT only while libgomp loads, and never over a
    # user's own setting: the environment after import is the one before it
    code = """
        import json, os
        before = dict(os.environ)
        import fastembed
        fastembed.lookup([[1.0, 2.0]], [0, 0, 0], num_threads=2)
        print(json.dumps(dict(os.environ) == before))
        print(os.environ.get("GOMP_SPINCOUNT"))
    """
    saved = {k: os.environ.pop(k) for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY") if k in os.environ}
    try:
        r = run_python(code, env=user_env)
    finally:
        os.environ.update(saved)
    assert r.returncode == 0, r.stderr
    same, spin = r.stdout.split()
    assert same == "true"
    assert spin == user_env.get("GOMP_SPINCOUNT", "None")
