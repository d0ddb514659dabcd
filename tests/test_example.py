"""examples/train_embeddings.py runs end to end and its loss falls."""
import os
import re
import subprocess
import sys

import fastembed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_embeddings_quick():
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastembed.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_embeddings.py"),
                          "--quick"], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    test_mse = [float(x) for x in re.findall(r"test mse ([0-9.]+)", run.stdout)]
    train_mse = [float(x) for x in re.findall(r"train mse ([0-9.]+)", run.stdout)]
    assert len(test_mse) >= 3 and len(train_mse) == len(test_mse) - 1, run.stdout
    assert test_mse[-1] < 0.2 * test_mse[0], run.stdout  # from ~1 (the variance) to ~0.02
    assert all(b < a for a, b in zip(train_mse, train_mse[1:])), run.stdout
