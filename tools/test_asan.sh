#!/usr/bin/env bash
# `make test-asan`: build the extension with -fsanitize=address,undefined
# -fno-sanitize-recover=undefined (setup.py's FASTEMBED_SANITIZE=1) in a copy of the tree
# (build/asan-tree; the normal build is untouched) and run the WHOLE test suite against it
# with the ASan runtime preloaded into CPython. Any ASan or UBSan report, in the test
# process or in any subprocess a test starts, fails the run.
#   tools/test_asan.sh [PYTHON] [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${1:-python3}
# absolute, without resolving symlinks (a venv's python is a symlink to the base one)
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac
shift || true
TREE=$ROOT/build/asan-tree
REPORTS=$ROOT/build/asan-reports
CC=${CC:-gcc}
LIBASAN=$($CC -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
    echo "test-asan: $CC has no libasan.so (install the compiler's sanitizer runtime)"; exit 1
fi
# libstdc++ preloaded beside the ASan runtime: ASan resolves the real __cxa_throw when it
# starts, and without libstdc++ loaded by then, the first C++ exception thrown by any
# extension (matplotlib, JAX, ...) aborts the process with a CHECK failure
PRELOAD=$LIBASAN
LIBSTDCXX=$($CC -print-file-name=libstdc++.so)
[ -e "$LIBSTDCXX" ] && PRELOAD="$LIBASAN $LIBSTDCXX"
rm -rf "$TREE" "$REPORTS"
mkdir -p "$TREE" "$REPORTS"
git ls-files -z setup.py pyproject.toml README.md csrc fastembed tests examples | xargs -0 cp --parents -t "$TREE"
(cd "$TREE" && CC=$CC FASTEMBED_SANITIZE=1 "$PY" setup.py -q build_ext --inplace >build.log 2>&1) \
    || { cat "$TREE/build.log"; exit 1; }
# grep -c, not grep -q: -q exits at the first match, nm then dies of SIGPIPE and pipefail
# would call an instrumented build "not instrumented"
[ "$(nm -D "$TREE"/fastembed/_kernels*.so | grep -c __asan_init)" -gt 0 ] \
    || { echo "test-asan: not instrumented"; exit 1; }
echo "test-asan: instrumented build in $TREE; preloading $PRELOAD"
cd "$TREE"
set +e
# detect_leaks=0: CPython keeps interned objects and module state alive at exit by design,
# so LeakSanitizer reports thousands of "leaks" that are not ours; leaks of the kernels
# are measured by tools/leakcheck.py (valgrind, K vs 2K calls) and tests/test_reliability.py.
# Output capture is off (-s) and stderr goes to a log: a sanitizer report is written to
# stderr and ends the process, which would otherwise lose pytest's captured copy. Tests that
# start subprocesses fail on their non-zero exit and show the child's stderr.
PYTHONPATH=$TREE LD_PRELOAD="$PRELOAD" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    FASTEMBED_ASAN=1 "$PY" -m pytest tests -q -s -p no:cacheprovider "$@" 2>"$REPORTS/stderr.log"
status=$?
set -e
if grep -q -E "runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer" \
        "$REPORTS/stderr.log"; then
    echo "test-asan: sanitizer report:"; cat "$REPORTS/stderr.log"; exit 1
fi
if [ "$status" -ne 0 ]; then
    tail -50 "$REPORTS/stderr.log"; echo "test-asan: tests failed (exit $status)"; exit "$status"
fi
echo "test-asan: whole suite passed under ASan+UBSan with zero reports"
