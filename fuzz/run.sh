#!/usr/bin/env bash
# Build the extension with ASan + UBSan + libFuzzer coverage into build/fuzz-tree (a copy of
# the sources; the normal in-place build is untouched), then fuzz for FUZZ_SECONDS.
#   fuzz/run.sh [PYTHON]     env: FUZZ_SECONDS (60), FUZZ_WORKERS (1), FUZZ_ARGS (extra
#                            libFuzzer flags), FUZZ_CORPUS (fuzz/corpus, kept between runs)
# clang gives native coverage (-fsanitize=fuzzer-no-link) and the ASan runtime that atheris
# ships (asan_with_fuzzer.so). Without clang (and no way to install it) it falls back to a
# gcc ASan build: the C code is then sanitized but not coverage-guided; it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${1:-python3}
# absolute, without resolving symlinks (a venv's python is a symlink to the base one)
case $PY in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
WORKERS=${FUZZ_WORKERS:-1}
CORPUS=${FUZZ_CORPUS:-$ROOT/fuzz/corpus}
NAME=${FUZZ_NAME:-fuzz}  # a second concurrent run needs its own NAME
TREE=$ROOT/build/$NAME-tree
LOG=$ROOT/build/$NAME.log
ART=$ROOT/build/$NAME-artifacts

if ! "$PY" -c "import atheris" 2>/dev/null; then
    echo "fuzz: installing atheris into $PY"
    "$PY" -m pip install --quiet atheris || { echo "fuzz: SKIPPED: atheris does not install for $PY"; exit 0; }
fi
if ! command -v clang >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: installing clang (native coverage) with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libomp-dev) \
        >/dev/null 2>&1 || echo "fuzz: could not install clang"
fi

ATHERIS_DIR=$("$PY" -c "import atheris, os; print(atheris.path())")
rm -rf "$TREE"
mkdir -p "$TREE"
# the harness and the driver table are copied too: a long run is not disturbed by edits
git ls-files -z setup.py pyproject.toml README.md csrc fastembed fuzz/fuzz_kernels.py \
    tests/kernel_drivers.py tests/reference.py tests/generators.py | xargs -0 cp --parents -t "$TREE"
if command -v clang >/dev/null 2>&1; then
    MODE="clang: ASan + UBSan (trap) + libFuzzer coverage of the C code"
    # UBSan traps (SIGILL, a crash to libFuzzer) instead of needing a runtime next to
    # atheris' ASan one.
    (cd "$TREE" && CC=clang LDSHARED="clang -shared" FASTEMBED_SANITIZE=1 \
        CFLAGS="-fsanitize=fuzzer-no-link -fsanitize-trap=undefined" \
        "$PY" setup.py -q build_ext --inplace >build.log 2>&1) || { cat "$TREE/build.log"; exit 1; }
    PRELOAD=$ATHERIS_DIR/asan_with_fuzzer.so
else
    MODE="gcc: ASan + UBSan, NO native coverage (install clang for coverage-guided C fuzzing)"
    (cd "$TREE" && FASTEMBED_SANITIZE=1 "$PY" setup.py -q build_ext --inplace >build.log 2>&1) \
        || { cat "$TREE/build.log"; exit 1; }
    PRELOAD=$(gcc -print-file-name=libasan.so)
fi
echo "fuzz: $MODE; $SECONDS_TO_RUN s, $WORKERS worker(s), corpus $CORPUS"
mkdir -p "$CORPUS" "$ART"
# Workers are separate processes on the one corpus, started here: libFuzzer's own -workers
# re-runs argv[0] through the shell, which for a Python harness is not an executable.
# Runs in chunks of FUZZ_CHUNK_SECONDS on that corpus: atheris' Python coverage
# instrumentation grows the process by ~400 bytes per execution (measured; without it RSS is
# flat), so one 10M-execution process would hit the RSS limit. A restart costs ~2 s.
CHUNK=${FUZZ_CHUNK_SECONDS:-600}
cd "$ART"
: > "$LOG"
total=0
deadline=$(( $(date +%s) + SECONDS_TO_RUN ))
left=$SECONDS_TO_RUN
chunk_no=0
while [ "$left" -gt 0 ]; do
    this=$(( left < CHUNK ? left : CHUNK ))
    chunk_no=$((chunk_no + 1))
    chunk_start=$(date +%s)
    pids=()
    for w in $(seq 1 "$WORKERS"); do
        PYTHONPATH=$TREE LD_PRELOAD=$PRELOAD \
            ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:detect_stack_use_after_return=0:malloc_context_size=2:quarantine_size_mb=64 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            "$PY" "$TREE/fuzz/fuzz_kernels.py" -max_total_time="$this" -print_final_stats=1 \
            -rss_limit_mb=4096 -timeout=60 -artifact_prefix="$ART/" \
            ${FUZZ_ARGS:-} "$CORPUS" > "$LOG.chunk$w" 2>&1 &
        pids+=($!)
    done
    # the first worker to fail stops the others: one finding ends the run
    status=0
    failed=
    for _ in "${pids[@]}"; do
        rc=0
        wait -n -p finished "${pids[@]}" 2>/dev/null || rc=$?
        if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
            status=$rc
            for w in "${!pids[@]}"; do
                if [ "${pids[$w]}" = "$finished" ]; then failed=$((w + 1)); fi
            done
            kill "${pids[@]}" 2>/dev/null || true
        fi
    done
    cat "$LOG".chunk* >> "$LOG"
    runs=$({ grep -h -o -E 'stat::number_of_executed_units: [0-9]+' "$LOG".chunk* || true; } \
        | awk '{s += $2} END {print s + 0}')
    total=$((total + runs))
    echo "fuzz: chunk $chunk_no: $runs executions in $(( $(date +%s) - chunk_start )) s (total $total), exit $status"
    if [ "$status" -ne 0 ]; then
        grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)|^INFO' "$LOG.chunk$failed" | tail -60
        echo "fuzz: FAILED after $total executions: a crash or finding; see $LOG and $ART/"
        exit 1
    fi
    rm -f "$LOG".chunk*
    left=$(( deadline - $(date +%s) ))
done
echo "fuzz: TOTAL $total executions in $(( $(date +%s) - deadline + SECONDS_TO_RUN )) s, 0 crashes"

