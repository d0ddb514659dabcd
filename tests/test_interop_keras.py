"""fastembed.interop.keras in Keras models, once per installed Keras backend.

Keras picks its backend when it is first imported, once per process, so each backend's
cases (tests/keras_backend_cases.py) run in a fresh interpreter with KERAS_BACKEND set.
Skipped when Keras is absent and under FASTEMBED_ASAN=1 (Keras imports JAX, which aborts
under the ASan runtime; see conftest.import_keras).
"""
import importlib.util
import os
import subprocess
import sys

import pytest

import fastembed

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_backend_cases.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastembed.__file__)))

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("FASTEMBED_ASAN")),
                       reason="Keras imports JAX, which aborts under the ASan runtime"),
    pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed"),
]


@pytest.mark.parametrize("backend", ["torch", "jax", "numpy", "tensorflow"])
def test_keras_backend(backend, tmp_path):
    # Keras's numpy backend imports jax
    needs = {"torch": "torch", "jax": "jax", "numpy": "jax", "tensorflow": "tensorflow"}[backend]
    if importlib.util.find_spec(needs) is None:
        pytest.skip(f"{needs} not installed")
    env = dict(os.environ, KERAS_BACKEND=backend,
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", CASES, "-q", "-p", "no:randomly", "-p",
         "no:cacheprovider", "-W", "ignore::DeprecationWarning", f"--basetemp={tmp_path}"],
        capture_output=True, text=True, timeout=900, env=env, cwd=os.path.dirname(CASES))
    assert run.returncode == 0, \
        f"the {backend} backend's cases failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
