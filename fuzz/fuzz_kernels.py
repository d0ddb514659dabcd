"""Coverage-guided fuzzing of every public kernel (atheris + libFuzzer).

Each input picks a kernel from tests/kernel_drivers.KERNELS and builds its arguments from the
fuzz bytes (tests/generators.Gen): shapes (empty, zero-width, 0-d to 3-d ids), dtypes (float32/64, converted and
rejected ones), layouts (strided, negative stride, Fortran, misaligned, big-endian,
read-only, slices of larger arrays), extreme ids (-2**63, 2**63-1, n_rows, uint64 max,
int32 max), offsets, hyperparameters (NaN, inf, 0, negative) and thread counts. The oracle
(kernel_drivers.check_call): an allowed exception with every array bit-identical afterwards,
or a result equal to the NumPy reference. Any other exception, a sanitizer report or a
signal is a crash.

Run it through `make fuzz` (fuzz/run.sh builds the instrumented extension); directly:
    python fuzz/fuzz_kernels.py [libFuzzer flags] [corpus dir]
"""
import os
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

if os.environ.get("FUZZ_PY_COVERAGE", "1") == "1":
    with atheris.instrument_imports(include=["fastembed", "kernel_drivers", "reference", "generators"]):
        import fastembed  # noqa: F401  (the argument policy is Python: instrument it too)
        import generators
        import kernel_drivers
else:
    import fastembed  # noqa: F401
    import generators
    import kernel_drivers


def test_one_input(data):
    kernel_drivers.fuzz_one(generators.FdpSource(atheris.FuzzedDataProvider(data)))


def main():
    print("fastembed fuzz: kernels", [k.name for k in kernel_drivers.KERNELS],
          "from", fastembed.__file__, flush=True)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
