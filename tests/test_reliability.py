"""Reliability of every kernel in kernel_drivers.KERNELS: canaries around views, huge
tables, size-product overflow, concurrency, fork/spawn/forkserver, memory growth, and a
bounded fuzz run. A kernel that lands adds its entry to tests/kernel_drivers.py and is
covered here without new code. See RELIABILITY.md."""
import os
import threading

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import fastembed
import generators
import kernel_drivers as kd
import reference
from conftest import requires_openmp, run_python


# ---- size products that overflow int64 -----------------------------------------------------

def test_output_size_overflowing_int64_raises_value_error_without_allocating():
    # A (1, 2**60) float32 table of stride 0 (2**62 bytes declared, 4 bytes real) is a valid
    # array; 4 rows of it would be 2**64 bytes, beyond int64.
    w = as_strided(np.zeros(1, np.float32), shape=(1, 2**60), strides=(0, 4))
    with pytest.raises(ValueError):
        fastembed.lookup(w, np.zeros(4, np.int64))


def test_private_wrapper_checks_the_size_product_before_forming_it():
    # The Cython wrapper is the last line before C: a size product it forms must not overflow
    # (signed overflow is undefined behaviour; UBSan aborts on it), whatever its caller.
    w = as_strided(np.zeros(1, np.float32), shape=(1, 2**60), strides=(0, 4))
    with pytest.raises(ValueError, match="overflow"):
        fastembed._kernels.lookup(w, np.zeros(4, np.int64), np.empty(0, np.float32), 1, None)


# ---- shared helpers ------------------------------------------------------------------------

KERNELS = [pytest.param(k, id=k.name) for k in kd.KERNELS]
WRITERS = [pytest.param(k, id=k.name) for k in kd.KERNELS if k.writes]
SENTINEL = 0xA5
# The subprocess scripts import fastembed and the driver table from these directories.
PATHS = [os.path.dirname(os.path.dirname(os.path.abspath(fastembed.__file__))),
         os.path.dirname(os.path.abspath(__file__))]
PRELUDE = f"import sys; sys.path[:0] = {PATHS!r}\n"


def embed(arr, rows=3, cols=0):
    """`arr` copied into the middle of a larger C-contiguous array whose other bytes are all
    SENTINEL: `rows` rows above and below, `cols` extra columns right of every row (2-D and
    up). Returns (view, base, mask of the sentinel elements)."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return arr, None, None
    cols = cols if arr.ndim >= 2 else 0
    shape = (arr.shape[0] + 2 * rows,) + arr.shape[1:-1] + (arr.shape[-1] + cols,) \
        if arr.ndim >= 2 else (arr.shape[0] + 2 * rows,)
    base = np.empty(shape, arr.dtype)
    base.reshape(-1).view(np.uint8)[:] = SENTINEL
    index = (slice(rows, rows + arr.shape[0]),) + (slice(None),) * (arr.ndim - 2) \
        + ((slice(0, arr.shape[-1]),) if arr.ndim >= 2 else ())
    view = base[index]
    view[...] = arr
    view.flags.writeable = arr.flags.writeable if isinstance(arr, np.ndarray) else True
    mask = np.ones(shape, bool)
    mask[index] = False
    return view, base, mask


def sentinels_intact(base, mask):
    sentinel = np.empty(1, base.dtype)
    sentinel.view(np.uint8)[:] = SENTINEL
    return base[mask].tobytes() == np.repeat(sentinel, int(mask.sum())).tobytes()


def embedded_case(kernel, case, with_out, cols):
    """The case with every array argument (and out=, if the kernel has it) embedded in a
    sentinel-padded larger array; the table also gets sentinel columns when `cols`."""
    guards = []
    if with_out and kernel.out_spec is not None and "out" not in case:
        shape, dtype = kernel.out_spec(case)
        case = dict(case, out=np.zeros(shape, dtype))
    new = {}
    for name, value in case.items():
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            view, base, mask = embed(value, rows=3, cols=cols if name == kernel.table_arg else 0)
            new[name] = view
            guards.append((name, base, mask))
        else:
            new[name] = value
    return new, guards


# ---- canaries: tables that are the middle of larger arrays ---------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cols", [0, 5])
@pytest.mark.parametrize("with_out", [False, True])
def test_canary_sentinels_survive_every_kernel(kernel, threads, cols, with_out):
    rng = np.random.default_rng(7)
    # big enough (> 256 KB of work) that 2 threads really split it
    case = kernel.make(rng, n_rows=3000, dim=40, n=5000)
    want = kernel.expect(kd.copy_case(case))
    padded, guards = embedded_case(kernel, case, with_out, cols)
    got = kernel.call(padded, threads)
    assert kernel.same(got, want)
    for name, base, mask in guards:
        assert sentinels_intact(base, mask), f"{kernel.name} wrote outside {name}"


@pytest.mark.parametrize("kernel", KERNELS)
def test_canary_failed_calls_change_nothing_even_inside_views(kernel):
    rng = np.random.default_rng(8)
    for label, case, exc in kd.error_cases(kernel, rng):
        padded, guards = embedded_case(kernel, case, True, 5)
        before = [base.copy() for _, base, _ in guards]
        with pytest.raises(exc):
            kernel.call(padded, 2)
        for (name, base, _), old in zip(guards, before):
            assert base.tobytes() == old.tobytes(), f"{kernel.name} [{label}] changed {name}"


# ---- huge tables: offsets beyond 2**31 elements and 2**32 bytes ----------------------------

HUGE_ROWS, HUGE_DIM = 2**22 + 1, 512  # 2**31 + 512 elements, 8 GiB: a sparse file


@pytest.fixture(scope="module")
def huge_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("huge") / "table.f32"
    try:
        table = np.memmap(path, dtype=np.float32, mode="w+", shape=(HUGE_ROWS, HUGE_DIM))
    except (OSError, ValueError) as exc:
        pytest.skip(f"cannot create a sparse 8 GiB file here: {exc}")
    assert HUGE_ROWS * HUGE_DIM > 2**31
    rng = np.random.default_rng(3)
    for row in (0, 1, HUGE_ROWS // 2, HUGE_ROWS - 2, HUGE_ROWS - 1):
        table[row] = rng.standard_normal(HUGE_DIM)
    table.flush()
    yield table
    del table
    os.unlink(path)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", [1, 2])
def test_huge_table_last_row(kernel, threads, huge_table):
    if kernel.huge is None:
        pytest.skip(f"{kernel.name} has no huge-table check in kernel_drivers yet")
    got, want = kernel.huge(huge_table, threads)
    assert kd.same_result(got, want, exact=kernel.exact)
    assert all(a.any() for a in kd.arrays_in(want))  # the rows written above, not zero pages


# ---- concurrency ---------------------------------------------------------------------------

def run_threads(n, target):
    """Run target(i) in n threads started together; re-raise the first exception."""
    barrier = threading.Barrier(n)
    errors = []

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_four_threads_calling_every_kernel_at_once_get_correct_results():
    rng = np.random.default_rng(11)
    work = []
    for kernel in kd.KERNELS:
        case = kernel.make(rng, n_rows=2000, dim=32, n=20_000)
        work.append((kernel, case, kernel.expect(kd.copy_case(case))))

    def body(i):
        for rep in range(6):
            for kernel, case, want in work:
                # in-place kernels work on their own copy; pure ones share the inputs
                mine = kd.copy_case(case) if kernel.writes else case
                assert kernel.same(kernel.call(mine, 1 + (i + rep) % 2), want), kernel.name

    run_threads(4, body)


@pytest.mark.parametrize("kernel", WRITERS)
def test_four_threads_updating_one_table_never_crash(kernel):
    # Racy but memory-safe (documented in RELIABILITY.md): concurrent in-place updates of one
    # table may interleave row writes, but every id is bounds-checked, so nothing outside
    # the table is touched and no call crashes.
    rng = np.random.default_rng(12)
    case = kernel.make(rng, n_rows=500, dim=16, n=20_000)
    padded, guards = embedded_case(kernel, case, False, 3)

    def body(i):
        for rep in range(10):
            kernel.call(padded, 1 + (i + rep) % 2)

    run_threads(4, body)
    for name, base, mask in guards:
        assert sentinels_intact(base, mask)


# ---- fork, spawn, forkserver ---------------------------------------------------------------

FORK_SCRIPT = PRELUDE + """
import os
import numpy as np
import kernel_drivers as kd

def run_all(tag):
    for kernel in kd.KERNELS:
        case = kernel.make(np.random.default_rng(0), n_rows=4_000, dim=64, n=6_000)  # 1.5 MB: 2 threads start
        want = kernel.expect(kd.copy_case(case))
        got = kernel.call(kd.copy_case(case), 2)
        assert kernel.same(got, want), (tag, kernel.name)
    return len(kd.KERNELS)
"""


@requires_openmp
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_every_kernel_in_a_fork_child_after_parallel_calls():
    proc = run_python(FORK_SCRIPT + """
run_all("parent")
pid = os.fork()
if pid == 0:
    try:
        run_all("child")
        import fastembed
        os._exit(0 if fastembed._kernels.in_forked_child() else 4)
    except BaseException:
        os._exit(3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), run_all("parent again"))
""", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "0"


# the same kernels run under ASan in the rest of the suite; three interpreters per start
# method under ASan cost minutes and find nothing the fork-child test above does not
@pytest.mark.skipif(bool(os.environ.get("FASTEMBED_ASAN")), reason="heavy: run once, in make test")
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_kernel_under_multiprocessing_start_methods(method):
    import multiprocessing as mp
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} unavailable")
    proc = run_python(FORK_SCRIPT + f"""
import multiprocessing as mp
if __name__ == "__main__":
    run_all("parent")  # the parent's OpenMP pool is up before the children start
    with mp.get_context("{method}").Pool(2) as pool:
        print(sum(pool.map(run_all, ["worker"] * 2)) == 2 * len(kd.KERNELS))
""", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


# ---- memory growth over 40,000 calls -------------------------------------------------------

def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _small_calls(kernel):
    """Closures over small inputs: the success path (with out= if the kernel has it) and
    every error path."""
    rng = np.random.default_rng(5)
    case = kernel.make(rng, n_rows=50, dim=8, n=16)
    calls = [(case, None)]
    if kernel.out_spec is not None:
        shape, dtype = kernel.out_spec(case)
        calls.append((dict(case, out=np.zeros(shape, dtype)), None))
    calls += [(c, exc) for _, c, exc in kd.error_cases(kernel, rng)]

    def one(i):
        c, exc = calls[i % len(calls)]
        try:
            kernel.call(c, 1)
        except kd.ALLOWED_ERRORS:
            if exc is None:
                raise
    return one


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.skipif(bool(os.environ.get("FASTEMBED_ASAN")), reason="ASan's allocator keeps freed memory in quarantine")
@pytest.mark.parametrize("kernel", KERNELS)
def test_no_memory_growth_over_40k_calls(kernel):
    import gc
    import tracemalloc
    one = _small_calls(kernel)
    for i in range(2000):  # warm caches, exception machinery, allocator arenas
        one(i)
    gc.collect()
    rss0 = _rss_bytes()
    # 40,000 calls: the smallest block a kernel allocates per call (scratch for 16 ids) is
    # 128 bytes, so a lost block per call is over 5 MB of RSS; Python-level leaks are
    # measured to a few bytes per call by the traced windows below (and C-level ones by
    # make leakcheck under valgrind). 100,000 calls took half of make test's time.
    for i in range(40_000):
        one(i)
    gc.collect()
    rss_growth = _rss_bytes() - rss0
    tracemalloc.start()
    try:
        for i in range(2000):
            one(i)
        gc.collect()
        # two windows of 10,000 calls: a leak grows in both, while a one-off allocation of
        # the runtime lands in one (a single 1.9 MB block, allocated once after ~130,000
        # calls of optimizers.FTRL.step and never again, failed a single window)
        growths = []
        for _ in range(2):
            traced0 = tracemalloc.get_traced_memory()[0]
            for i in range(10_000):
                one(i)
            gc.collect()
            growths.append(tracemalloc.get_traced_memory()[0] - traced0)
        traced_growth = min(growths)
    finally:
        tracemalloc.stop()
    # a leak of even 8 bytes per call would be 80 KB traced per window
    assert rss_growth < 2 * 2**20, f"RSS grew {rss_growth} bytes over 40,000 calls"
    assert traced_growth < 32 * 2**10, f"traced memory grew {growths} bytes over 2 x 10,000 calls"


# ---- a bounded fuzz run in every test run (the long runs are `make fuzz`) ------------------

def test_fuzz_oracle_seeds():
    counts = {"ok": 0, "raised": 0}
    for seed in range(3000):
        _, outcome = kd.fuzz_one(generators.RngSource(seed))
        counts[outcome] += 1
    assert counts["ok"] > 500 and counts["raised"] > 500  # both sides of the oracle exercised


# ---- misaligned ids (found by make test-asan: UBSan "load of misaligned address") ---------

@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint64])
def test_misaligned_ids_reach_c_aligned(dtype):
    buf = np.zeros(np.dtype(dtype).itemsize * 10 + 1, np.uint8)
    ids = buf[1:].view(dtype)
    ids[:] = np.arange(10)
    assert not ids.flags.aligned and ids.flags.c_contiguous
    converted, original = fastembed._arrays.as_ids(ids)
    assert converted.flags.aligned and converted.flags.c_contiguous
    w = np.arange(80, dtype=np.float32).reshape(20, 4)
    np.testing.assert_array_equal(fastembed.lookup(w, ids), w[ids.astype(np.int64)])


def test_wrapper_rejects_misaligned_buffers_whatever_the_caller():
    buf = np.zeros(8 * 4 + 1, np.uint8)
    ids = buf[1:].view(np.int64)
    with pytest.raises(ValueError, match="misaligned"):
        fastembed._kernels.lookup(np.ones((4, 2), np.float32), ids, np.empty((4, 2), np.float32),
                                  1, ids)


# ---- the oracle itself catches what it must ------------------------------------------------

def _fake(call):
    base = kd.BY_NAME["lookup"]
    return kd.Kernel("fake", base.make, call, base.expect, base.fuzz, out_spec=base.out_spec)


@pytest.mark.parametrize("behaviour", ["wrong result", "writes input then raises",
                                       "raises on valid input", "writes an input"])
def test_oracle_reports_each_kind_of_failure(behaviour):
    def call(case, num_threads):
        got = fastembed.lookup(case["weights"], case["ids"])
        if behaviour == "wrong result":
            got[0, 0] += 1
        elif behaviour == "writes input then raises":
            case["weights"][0, 0] += 1
            raise IndexError("late")
        elif behaviour == "raises on valid input":
            raise ValueError("spurious")
        else:
            case["weights"][-1, 0] += 1
        return got
    case = kd.BY_NAME["lookup"].make(np.random.default_rng(0))
    with pytest.raises(kd.Finding):
        kd.check_call(_fake(call), case, may_raise=(behaviour == "writes input then raises"))


# ---- the references (tests/reference.py) agree with PyTorch ---------------------------------

def test_contract_references_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    w = (3 * rng.standard_normal((40, 6))).astype(np.float32)
    ids = rng.integers(0, 40, (7, 5))
    grad = rng.standard_normal((7, 5, 6)).astype(np.float32)
    for padding_idx, scale in [(None, False), (3, False), (None, True), (int(ids[0, 0]), True)]:
        weight = torch.tensor(w, requires_grad=True)
        out = torch.nn.functional.embedding(torch.tensor(ids), weight, padding_idx=padding_idx,
                                            scale_grad_by_freq=scale)
        out.backward(torch.tensor(grad))
        want = weight.grad.numpy()
        got = reference.accumulate_dense_ref(ids, grad, 40, padding_idx=padding_idx,
                                      scale_grad_by_freq=scale)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for max_norm, norm_type in [(1.5, 2.0), (0.5, 1.0), (2.0, 3.0)]:
        weight = torch.tensor(w)
        with torch.no_grad():
            torch.embedding_renorm_(weight, torch.tensor(ids.reshape(-1)), max_norm, norm_type)
        np.testing.assert_allclose(reference.renorm_ref(w, ids, max_norm, norm_type),
                                   weight.numpy(), rtol=1e-5, atol=1e-6)


def test_every_public_kernel_is_in_the_reliability_table():
    # a kernel that lands must add its entry to tests/kernel_drivers.py (see RELIABILITY.md)
    not_kernels = set()  # names in fastembed.ops.__all__ that are not kernels, if any
    public = set(fastembed.ops.__all__) - not_kernels
    # every optimizer's fused step and its apply (the base class is not used directly)
    from fastembed import optimizers
    for name in optimizers.__all__:
        cls = getattr(optimizers, name)
        if isinstance(cls, type) and issubclass(cls, optimizers.Optimizer) \
                and cls is not optimizers.Optimizer:
            public |= {f"optimizers.{name}.step", f"optimizers.{name}.apply"}
    missing = public - {k.name for k in kd.KERNELS}
    assert not missing, f"add entries for {sorted(missing)} to tests/kernel_drivers.py"


def test_contract_reference_of_lookup_bag_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(22)
    w = rng.standard_normal((40, 6)).astype(np.float32)
    ids = rng.integers(0, 40, 30)
    offsets = np.array([0, 0, 4, 9, 9, 20])
    F = torch.nn.functional
    for mode in ("sum", "mean", "max"):
        for padding_idx in (None, int(ids[5])):
            for last in (False, True):
                off = np.concatenate([offsets, [30]]) if last else offsets
                want = F.embedding_bag(torch.tensor(ids), torch.tensor(w), torch.tensor(off),
                                       mode=mode, padding_idx=padding_idx,
                                       include_last_offset=last).numpy()
                got = reference.lookup_bag_ref(w, ids, off, mode=mode, padding_idx=padding_idx,
                                        include_last_offset=last)
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    psw = rng.random(30).astype(np.float32)
    want = F.embedding_bag(torch.tensor(ids), torch.tensor(w), torch.tensor(offsets), mode="sum",
                           per_sample_weights=torch.tensor(psw)).numpy()
    np.testing.assert_allclose(reference.lookup_bag_ref(w, ids, offsets, per_sample_weights=psw),
                               want, rtol=1e-5, atol=1e-6)


def test_contract_reference_of_accumulate_bag_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(23)
    w = rng.standard_normal((30, 5))
    ids = rng.integers(0, 30, 24)
    offsets = np.array([0, 0, 3, 10, 10, 17])
    bounds = np.concatenate([offsets, [24]])
    grad = rng.standard_normal((6, 5))
    psw = rng.random(24) + 0.2
    pad = int(ids[4])

    def forward(tw, tpsw, mode):  # the contract's forward, written in torch ops
        rows = []
        for b in range(6):
            pos = [p for p in range(bounds[b], bounds[b + 1]) if ids[p] != pad]
            if not pos:
                rows.append(torch.zeros(5, dtype=torch.float64))
                continue
            e = tw[torch.tensor(ids[pos])]
            if mode == "max":
                rows.append(e.max(dim=0).values)
                continue
            ws = tpsw[torch.tensor(pos)] if tpsw is not None else torch.ones(len(pos), dtype=torch.float64)
            total = (ws[:, None] * e).sum(0)
            rows.append(total if mode == "sum" else total / ws.sum() if mode == "mean"
                        else total / torch.sqrt((ws ** 2).sum()))
        return torch.stack(rows)

    for mode in reference.BAG_MODES:
        for with_psw in ((False, True) if mode != "max" else (False,)):
            tw = torch.tensor(w, requires_grad=True)
            tpsw = torch.tensor(psw, requires_grad=True) if with_psw else None
            forward(tw, tpsw, mode).backward(torch.tensor(grad))
            got = reference.accumulate_bag_ref(ids, offsets, grad, 30, mode=mode,
                                        per_sample_weights=psw if with_psw else None,
                                        padding_idx=pad, weights=w)
            dense, gpsw = got if with_psw else (got, None)
            np.testing.assert_allclose(dense, tw.grad.numpy(), rtol=1e-9, atol=1e-12)
            if with_psw:
                np.testing.assert_allclose(gpsw, tpsw.grad.numpy(), rtol=1e-9, atol=1e-12)
