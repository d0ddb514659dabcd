"""Build script: one Cython extension, ``fastembed._kernels``, over the C99 kernels in csrc/.

OpenMP is probed by compiling and linking a tiny program with the compiler setuptools
will use. Environment switches:

FASTEMBED_NO_OPENMP=1       build serially, without probing.
FASTEMBED_REQUIRE_OPENMP=1  a failed probe is an error instead of a warning.
FASTEMBED_SANITIZE=1        build with -fsanitize=address,undefined (make test-asan).

fastembed/_kernels.pxd is generated: each build renders it from fastembed/_kernels.pxd.in
(Cython's Tempita), the way NumPy and SciPy generate sources from .in templates.
"""
import glob
import os
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _flag(name):
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


def _probe_openmp(compiler, flags):
    """Return True if `compiler` compiles and links an OpenMP program with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=flags)
        except Exception:  # any compile or link failure means "no OpenMP"
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        is_msvc = self.compiler.compiler_type == "msvc"
        omp_flags = ["/openmp"] if is_msvc else ["-fopenmp"]
        use_openmp = False
        if _flag("FASTEMBED_NO_OPENMP"):
            print("fastembed: FASTEMBED_NO_OPENMP set, building without OpenMP (serial kernels)")
        elif _probe_openmp(self.compiler, omp_flags):
            use_openmp = True
        elif _flag("FASTEMBED_REQUIRE_OPENMP"):
            sys.exit("fastembed: FASTEMBED_REQUIRE_OPENMP is set but the compiler cannot build OpenMP code")
        else:
            print(
                "WARNING fastembed: the compiler cannot build OpenMP code; "
                "building serial kernels (every call will use one thread)",
                file=sys.stderr,
            )

        # -fno-math-errno: sqrt may then vectorise (no kernel reads errno)
        cflags = ["/O2"] if is_msvc else ["-O3", "-std=c99", "-fno-strict-aliasing",
                                          "-fno-math-errno", "-Wall"]
        ldflags = []
        if use_openmp:
            cflags += omp_flags
            ldflags += omp_flags
        if _flag("FASTEMBED_SANITIZE"):
            san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                   "-fno-omit-frame-pointer", "-g", "-O1"]
            cflags += san
            ldflags += san
        for ext in self.extensions:
            ext.extra_compile_args = cflags
            ext.extra_link_args = ldflags
            ext.define_macros = list(ext.define_macros or []) + [
                ("CYTHON_USE_TYPE_SPECS", "0"),
            ]
        super().build_extensions()


def render_templates(pattern="fastembed/*.pxd.in"):
    """Render each Tempita template `X.in` into `X`, rewriting `X` only when its text changes
    (an unchanged .pxd keeps its time stamp, so nothing is recompiled for it)."""
    from Cython import Tempita

    for src in sorted(glob.glob(pattern)):
        dst = src[: -len(".in")]
        with open(src, encoding="utf-8") as f:
            text = Tempita.Template(f.read(), name=src).substitute()
        text = f"# GENERATED from {os.path.basename(src)} by setup.py: edit that file.\n" + text
        if os.path.exists(dst):
            with open(dst, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)


extensions = [
    Extension(
        "fastembed._kernels",
        sources=["fastembed/_kernels.pyx"] + sorted(glob.glob("csrc/*.c")),
        include_dirs=["csrc"],
        depends=sorted(glob.glob("csrc/*.h")) + sorted(glob.glob("fastembed/*.pxi")),
    )
]

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - build isolation always provides Cython
    sys.exit("fastembed: building from source needs Cython >= 3 (pip installs it automatically)")

render_templates()

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
