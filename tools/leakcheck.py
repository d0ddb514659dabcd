#!/usr/bin/env python3
"""Leak check of every kernel under valgrind.

A child interpreter runs, for every kernel in tests/kernel_drivers.KERNELS, its success path
(a valid call, with out= where the kernel has it, and one large enough to run 2 threads)
and every error path of kernel_drivers.error_cases K times, then another child 2K times,
under ``valgrind --leak-check=full`` with ``PYTHONMALLOC=malloc`` (so every Python object
is a malloc block valgrind can see). CPython's own never-freed startup memory is the same
in both runs; memory a kernel leaks per call grows with the count. The report is the
difference in "definitely lost" bytes between the 2K and the K run (goal: 0). All kernels
share the two children (starting Python under valgrind costs about 15 s of CPU, most of
what a per-kernel pair of children spent); only when the bytes grow is each kernel checked
alone, to name the one that leaks.

    python tools/leakcheck.py [--k 200] [--kernels lookup,...]

Exit status 1 if any kernel's definitely-lost bytes grow. Without valgrind it says so and
exits 0 (skipped), so `make leakcheck` works everywhere.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTS = os.path.join(ROOT, "tests")
try:
    import fastembed  # noqa: F401  (an installed or editable fastembed)
except ImportError:
    sys.path.insert(0, ROOT)  # the in-place build of this tree


def child(kernel_names, iters):
    for kernel_name in kernel_names:
        run_kernel(kernel_name, iters)


def run_kernel(kernel_name, iters):
    sys.path.insert(0, TESTS)
    import numpy as np
    import kernel_drivers as kd

    kernel = kd.BY_NAME[kernel_name]
    rng = np.random.default_rng(0)
    ok_case = kernel.make(rng)
    calls = [(ok_case, None)]
    if kernel.out_spec is not None:
        shape, dtype = kernel.out_spec(ok_case)
        with_out = dict(ok_case, out=np.zeros(shape, dtype))
        calls.append((with_out, None))
    # one call big enough (> 256 KB of work) that 2 threads really start an OpenMP region
    calls.append((kernel.make(rng, n_rows=2000, dim=64, n=3000), None))
    calls += [(case, exc) for _, case, exc in kd.error_cases(kernel, rng)]
    for _ in range(iters):
        for case, exc in calls:
            for threads in (1, 2):
                try:
                    kernel.call(case, threads)
                except kd.ALLOWED_ERRORS as e:
                    if exc is None or not isinstance(e, exc):
                        raise
                else:
                    if exc is not None:
                        raise AssertionError(f"{kernel_name}: expected {exc.__name__}")
    print(f"{kernel_name}: ran {iters} x {len(calls)} calls x 2 thread counts")


LOST = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks")


def valgrind_lost(kernel_names, iters, python):
    env = dict(os.environ, PYTHONMALLOC="malloc", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="2")
    cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
           "--errors-for-leak-kinds=definite", "--num-callers=30", "--error-exitcode=0",
           python, os.path.abspath(__file__), "--child", ",".join(kernel_names), "--iters", str(iters)]
    supp = os.environ.get("PYTHON_VALGRIND_SUPP")
    if supp:
        cmd.insert(1, f"--suppressions={supp}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0 or proc.stdout.count(": ran ") != len(kernel_names):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"leakcheck: the child for {','.join(kernel_names)} failed under valgrind")
    m = LOST.search(proc.stderr)
    lost = int(m.group(1).replace(",", "")) if m else 0  # no line: nothing definitely lost
    return lost, proc.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--kernels", default="")
    ap.add_argument("--child")
    ap.add_argument("--iters", type=int)
    args = ap.parse_args()
    if args.child:
        child(args.child.split(","), args.iters)
        return 0
    if shutil.which("valgrind") is None:
        print("leakcheck: SKIPPED: valgrind is not installed (apt-get install valgrind)")
        return 0
    sys.path.insert(0, TESTS)
    import kernel_drivers as kd
    names = [n for n in args.kernels.split(",") if n] or [k.name for k in kd.KERNELS]
    print(f"{'kernels':<40}{'K':>6}{'lost@K':>10}{'lost@2K':>10}{'growth':>9}")

    def growth_of(group):
        lost_k, _ = valgrind_lost(group, args.k, sys.executable)
        lost_2k, log = valgrind_lost(group, 2 * args.k, sys.executable)
        label = group[0] if len(group) == 1 else f"all {len(group)} kernels"
        print(f"{label:<40}{args.k:>6}{lost_k:>10}{lost_2k:>10}{lost_2k - lost_k:>9}", flush=True)
        return lost_2k - lost_k, log

    worst, _ = growth_of(names)
    if worst > 0 and len(names) > 1:
        for name in names:  # name the kernel that leaks
            growth, log = growth_of([name])
            if growth > 0:
                print(log[-20000:])
    print("leakcheck:", "OK, no growth in definitely lost bytes" if worst <= 0 else "LEAK")
    return 1 if worst > 0 else 0


if __name__ == "__main__":
    sys.exit(main())
