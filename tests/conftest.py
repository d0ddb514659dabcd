import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import fastembed

VALUE_DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]


def import_keras():
    """Keras 3 on its NumPy backend, or a skip: not installed, or under make test-asan (its
    NumPy backend imports JAX, whose start-up C++ throw aborts with the ASan runtime)."""
    if os.environ.get("FASTEMBED_ASAN"):
        pytest.skip("Keras imports JAX, which aborts under the ASan runtime")
    os.environ.setdefault("KERAS_BACKEND", "numpy")  # before the first import of keras
    try:
        import keras
    except Exception as exc:  # not installed, or its backend cannot load
        pytest.skip(f"keras unavailable: {exc}")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests compare with Keras 3, found {keras.__version__}")
    return keras


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def snapshot(*arrays):
    """Copies of `arrays`, to prove later that a failed call changed nothing."""
    return [np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, *arrays):
    for old, new in zip(before, arrays):
        assert old.dtype == new.dtype and old.shape == new.shape
        assert old.tobytes() == np.ascontiguousarray(new).tobytes(), "a failed call changed an array"


def run_python(code, timeout=120, env=None):
    """Run `code` as a script in a fresh interpreter (for fork tests and anything that could
    hang or crash); returns the CompletedProcess. A real file, not -c, so that
    multiprocessing's spawn and forkserver children can import its functions."""
    full_env = dict(os.environ)
    # The child imports the same fastembed as this process (an in-place build is not on the
    # child's path otherwise, since the script lives in a temporary directory).
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastembed.__file__)))
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, full_env.get("PYTHONPATH")) if p)
    full_env.update(env or {})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "script.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent(code))
        return subprocess.run([sys.executable, path], capture_output=True, text=True,
                              timeout=timeout, env=full_env)


def simd_digests(code):
    """The set of what `code` prints (a digest of its results) when run on each SIMD path
    (FASTEMBED_SIMD baseline, avx2, avx512) in a fresh interpreter: one element when every
    path computes the same bits."""
    digests = set()
    for level in ("baseline", "avx2", "avx512"):
        proc = run_python(code, env={"FASTEMBED_SIMD": level})
        assert proc.returncode == 0, proc.stderr
        digests.add(proc.stdout.strip())
    return digests


requires_openmp = pytest.mark.skipif(not fastembed._kernels.openmp_enabled(),
                                     reason="serial build (no OpenMP)")
