# Everything a fresh machine needs (Python 3.10+ and a C compiler) is set up by these targets.
#   make bench   build into .venv and run the benchmark comparison (the main job;
#                BENCH_ARGS=--quick for the one-minute version, JAX=1 to add the JAX peer)
#   make test    build into .venv and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := setup.py $(wildcard csrc/*.c csrc/*.h fastembed/*.pyx fastembed/*.pxd.in fastembed/*.pxi)

.PHONY: build test test-serial test-asan fuzz leakcheck bench bench-pytest clean
FUZZ_SECONDS ?= 60
LEAK_K ?= 200

# The venv, the runtime and test dependencies, and an editable install (built with PEP 517
# build isolation, the way `pip install .` builds it).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@

# Incremental rebuild of the extension in place after a change to C or Cython sources.
$(VENV)/.built: $(VENV)/.installed $(SOURCES)
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $@

build: $(VENV)/.built

test: build
	$(BIN)/python -m pytest tests -q

# The serial build (no OpenMP), built in isolation as a user's `pip install .` would, and
# the lookup and thread tests run against it.
test-serial:
	rm -rf .venv-serial
	$(PYTHON) -m venv .venv-serial
	.venv-serial/bin/python -m pip install --quiet --upgrade pip
	FASTEMBED_NO_OPENMP=1 .venv-serial/bin/python -m pip install --quiet '.[test]'
	cd /tmp && FASTEMBED_EXPECT_SERIAL=1 $(CURDIR)/.venv-serial/bin/python -m pytest -q \
		$(CURDIR)/tests/test_lookup.py $(CURDIR)/tests/test_threads.py

# The whole suite against an ASan+UBSan build of the extension (a copy in build/asan-tree),
# with the ASan runtime preloaded: fails on any sanitizer report. See RELIABILITY.md.
test-asan: $(VENV)/.installed
	tools/test_asan.sh $(BIN)/python

# Coverage-guided fuzzing of every kernel for FUZZ_SECONDS (atheris; clang for native
# coverage, installed with apt-get when missing and possible). See fuzz/README.md.
fuzz: $(VENV)/.installed
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(BIN)/python

# valgrind: every kernel's success and error paths run K and 2K times; the "definitely
# lost" bytes must not grow. Skips with a message when valgrind is missing.
leakcheck: build
	$(BIN)/python tools/leakcheck.py --k $(LEAK_K)

# The peers the comparison runs against besides NumPy and SciPy: PyTorch (CPU), FBGEMM's
# CPU trainer (fbgemm-gpu-cpu 1.8.0 is built for torch 2.13: installed without dependencies
# only beside a torch 2.13.x) and matplotlib for the plot; JAX only when asked (JAX=1: about
# 600 MB). A peer that cannot be installed is left out of the comparison, not an error.
BENCH_OUT ?= build/bench
BENCH_ARGS ?=
$(VENV)/.bench-peers: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch unavailable: the torch peer is left out"
	if $(BIN)/python -c "import sys, torch; sys.exit(not torch.__version__.startswith('2.13.'))" 2>/dev/null; then \
		$(BIN)/python -m pip install --quiet --no-deps fbgemm-gpu-cpu==1.8.0 \
		|| echo "fbgemm-gpu-cpu unavailable: the fbgemm peer is left out"; \
	else echo "torch is not 2.13.x: the fbgemm peer (fbgemm-gpu-cpu 1.8.0) is left out"; fi
	$(BIN)/python -m pip install --quiet 'matplotlib>=3.5' || echo "matplotlib unavailable: no plot"
	touch $@

# The main job: every kernel against its peers, tables on stdout, the JSON (machine, library
# versions, every figure) and the plot in $(BENCH_OUT). See benchmarks/README.md.
bench: build $(VENV)/.bench-peers
	if [ -n "$(JAX)" ]; then $(BIN)/python -c "import jax" 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet jax || echo "jax unavailable: the jax peer is left out"; fi
	mkdir -p $(BENCH_OUT)
	$(BIN)/python -m fastembed bench --json $(BENCH_OUT)/results.json \
		$$($(BIN)/python -c "import matplotlib" 2>/dev/null && echo --plot $(BENCH_OUT)/results.png) \
		$(BENCH_ARGS)

# The pytest-benchmark suites (per kernel, grouped by case) for development.
bench-pytest: build
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-group-by=group \
		--benchmark-columns=median,iqr,ops --benchmark-sort=name -q

clean:
	rm -rf build .venv .venv-serial fuzz/corpus fastembed/*.so fastembed/_kernels.c *.egg-info
