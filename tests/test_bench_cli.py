"""`python -m fastembed bench`: JSON structure, correctness checks before timing, exit
status, failing peers reported (not fatal), plot, memory measurement. Tiny sizes only:
these tests check behaviour, never speed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastembed
from fastembed.bench import core, main, report, runner
from fastembed.bench.renorm import numpy_renorm_

TINY = ["--size", "tiny", "--copy-mb", "2", "--progress", "off"]
if os.environ.get("FASTEMBED_ASAN"):
    # under make test-asan: JAX's C++ exceptions abort with ASan's runtime preloaded (and
    # FBGEMM's C++ library is left out with it)
    TINY += ["--without", "jax", "--without", "fbgemm"]
ROW_KEYS = {"kernel", "case", "params", "library", "variant", "threads", "threads_used",
            "status", "error", "bytes_moved"}
TIMED_KEYS = {"median_s", "iqr_s", "min_s", "rounds", "gbps", "copy_fraction",
              "fastembed_speedup", "peak_extra_bytes", "memory_method"}


def run_bench(tmp_path, *args):
    path = tmp_path / "bench.json"
    rc = main(TINY + ["--json", str(path)] + list(args))
    return rc, json.loads(path.read_text())


@pytest.fixture
def fake_kernel():
    """Registers a kernel "fake" for the test and removes it afterwards."""
    added = []

    def add(impls, compare=None):
        core.register("fake")(lambda size: [core.Case(
            kernel="fake", name="tiny fake", params={"n": 8},
            make=lambda: {"x": np.arange(8.0)}, reference=lambda d: d["x"] * 2,
            bytes_moved=lambda d: 2 * d["x"].nbytes, impls=impls, compare=compare)])
        added.append("fake")
    yield add
    for name in added:
        core._FAMILIES.pop(name, None)


def counting(fn, calls, key):
    def prepare(d, threads):
        def call():
            calls[key] = calls.get(key, 0) + 1
            return fn(d)
        return core.Timed(call)
    return prepare


# ---- the real suite on tiny sizes ----------------------------------------------------------

def test_json_structure_and_every_result_checked(tmp_path):
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--threads", "1,2")
    assert rc == 0
    assert doc["schema"] == "fastembed-bench/1"
    assert doc["size"] == "tiny" and doc["threads"] == [1, 2]
    assert {"cpu", "cpu_count", "cpus_available", "memory_bytes", "platform",
            "python", "load_average_before", "load_average_after"} <= set(doc["machine"])
    assert doc["versions"]["numpy"] == np.__version__
    assert doc["versions"]["fastembed"] == fastembed.__version__
    assert doc["fastembed_config"]["version"] == fastembed.__version__
    assert "openmp" in doc["fastembed_config"]
    assert [c["threads"] for c in doc["copy_bandwidth"]] == [1, 2]
    for c in doc["copy_bandwidth"]:
        assert c["bytes"] >= 2 * 2 * 2**20 and c["gbps"] > 0 and c["median_s"] > 0
    assert doc["kernels"]["lookup"]["available"]
    results = doc["results"]
    assert results and all(ROW_KEYS <= set(r) for r in results)
    # every implementation of every case appears at every thread count, and all agreed
    # with NumPy (fastembed and the peers are correct on these inputs)
    libraries = {r["library"] for r in results}
    assert {"fastembed", "numpy", "scipy"} <= libraries
    for case in doc["kernels"]["lookup"]["cases"]:
        per_thread = [sorted((r["library"], r["variant"]) for r in results
                             if r["case"] == case and r["threads"] == t) for t in (1, 2)]
        assert per_thread[0] and per_thread[0] == per_thread[1]
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"]
    assert doc["fastembed_failures"] == 0 and doc["peer_failures"] == 0
    for r in results:
        assert TIMED_KEYS <= set(r)
        assert r["median_s"] > 0 and r["rounds"] >= 2 and r["peak_extra_bytes"] >= 0
        assert r["gbps"] == pytest.approx(r["bytes_moved"] / r["median_s"] / 1e9)
        copy = next(c for c in doc["copy_bandwidth"] if c["threads"] == r["threads"])
        assert r["copy_fraction"] == pytest.approx(r["gbps"] / copy["gbps"])
        fes = [x for x in results if x["case"] == r["case"] and x["threads"] == r["threads"]
               and x["library"] == "fastembed"]
        fe = next((x for x in fes if x["variant"] == r["compare_to"]), fes[0])
        assert r["fastembed_compared"] == fe["variant"]
        assert r["fastembed_speedup"] == pytest.approx(r["median_s"] / fe["median_s"])
        if r["library"] in ("numpy", "scipy"):
            assert r["threads_used"] == 1
        if r["library"] == "fastembed":
            assert r["threads_used"] == r["threads"]
    # fastembed against itself: the case's declared ratio and the 2-thread / 1-thread time
    assert doc["ratios"]["lookup"] and all(
        r == [["allocating / out=", "lookup", "lookup(out=)"]]
        for r in doc["ratios"]["lookup"].values())
    selfr = report.self_ratios(doc, "lookup")
    med = {(r["case"], r["threads"], r["variant"]): r["median_s"] for r in results
           if r["library"] == "fastembed"}
    for case in doc["kernels"]["lookup"]["cases"]:
        for t in (1, 2):
            assert (case, t, "allocating / out=", pytest.approx(
                med[(case, t, "lookup")] / med[(case, t, "lookup(out=)")])) in selfr
        assert (case, 2, "lookup: 2 thr / 1 thr", pytest.approx(
            med[(case, 2, "lookup")] / med[(case, 1, "lookup")])) in selfr
    assert "fastembed against itself" in report.tables(doc)
    # a peer writing into out= is compared with fastembed's out= variant
    assert any(r["compare_to"] == "lookup(out=)" and r["fastembed_compared"] == "lookup(out=)"
               for r in results)


def test_kernels_not_exported_are_listed_not_run(tmp_path):
    core.register("not here", available=lambda: False, requires="fastembed.not_here")(
        lambda size: pytest.fail("the cases of an unavailable family are not built"))
    try:
        rc, doc = run_bench(tmp_path, "--threads", "1", "--no-memory", "--only", "lookup",
                            "--only", "not here")
    finally:
        core._FAMILIES.pop("not here")
    assert rc == 0
    assert doc["kernels"]["not here"] == {
        "available": False,
        "reason": f"this fastembed ({fastembed.__version__}) has no fastembed.not_here"}
    assert doc["kernels"]["lookup"]["available"]
    assert {r["kernel"] for r in doc["results"]} == {"lookup"}


def test_module_entry_point(tmp_path):
    path = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "fastembed", "bench", *TINY, "--only",
                           "lookup", "--threads", "1", "--no-memory", "--json", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "lookup, 1 thread" in proc.stdout and "GB/s" in proc.stdout
    doc = json.loads(path.read_text())
    assert all("peak_extra_bytes" not in r for r in doc["results"])
    bad = subprocess.run([sys.executable, "-m", "fastembed", "bench", "--only", "nosuch"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown kernel" in bad.stderr


# ---- wrong results: checked before timing ----------------------------------------------------

def test_wrong_fastembed_result_fails_the_run(tmp_path, monkeypatch, capsys):
    real = fastembed.lookup
    monkeypatch.setattr(fastembed, "lookup", lambda w, ids, **kw: real(w, ids, **kw) + 1)
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--threads", "1")
    assert rc == 1
    fe = [r for r in doc["results"] if r["library"] == "fastembed"]
    assert fe and all(r["status"] == "wrong" and "median_s" not in r for r in fe)
    assert doc["fastembed_failures"] == len(fe)
    # the peers were still checked and timed
    assert all(r["status"] == "ok" and r["median_s"] > 0 for r in doc["results"]
               if r["library"] != "fastembed")
    assert "FAILED" in capsys.readouterr().err


def test_failing_peers_are_reported_not_fatal(tmp_path, fake_kernel, capsys):
    calls = {}

    def boom(d):
        raise RuntimeError("peer exploded")
    fake_kernel([
        core.Impl("fastembed", "good", counting(lambda d: d["x"] * 2, calls, "good")),
        core.Impl("numpy", "wrong", counting(lambda d: d["x"] * 3, calls, "wrong")),
        core.Impl("torch", "raises", counting(boom, calls, "raises")),
    ])
    rc, doc = run_bench(tmp_path, "--only", "fake", "--threads", "1")
    assert rc == 0
    by = {r["variant"]: r for r in doc["results"]}
    assert by["good"]["status"] == "ok" and by["good"]["median_s"] > 0
    assert by["wrong"]["status"] == "wrong" and "median_s" not in by["wrong"]
    assert by["raises"]["status"] == "error" and "peer exploded" in by["raises"]["error"]
    assert doc["peer_failures"] == 2 and doc["fastembed_failures"] == 0
    # the wrong peer ran once (its check) and was never timed; the good one was timed
    assert calls["wrong"] == 1 and calls["raises"] == 1 and calls["good"] > 2
    out = capsys.readouterr().out
    assert "WRONG" in out and "ERROR: RuntimeError: peer exploded" in out


def test_fastembed_raising_fails_the_run(tmp_path, fake_kernel):
    def boom(d):
        raise MemoryError("no")
    fake_kernel([core.Impl("fastembed", "raises", counting(boom, {}, "x")),
                 core.Impl("numpy", "ok", counting(lambda d: d["x"] * 2, {}, "y"))])
    rc, doc = run_bench(tmp_path, "--only", "fake", "--threads", "1")
    assert rc == 1 and doc["fastembed_failures"] == 1


def test_single_threaded_peers_timed_once(tmp_path, fake_kernel):
    calls = {}
    fake_kernel([core.Impl("fastembed", "fe", counting(lambda d: d["x"] * 2, calls, "fe"),
                           threaded=True),
                 core.Impl("numpy", "np", counting(lambda d: d["x"] * 2, calls, "np"))])
    rc, doc = run_bench(tmp_path, "--only", "fake", "--threads", "1,2", "--no-memory")
    assert rc == 0
    np_rows = [r for r in doc["results"] if r["library"] == "numpy"]
    assert [r["threads"] for r in np_rows] == [1, 2]
    assert np_rows[0]["median_s"] == np_rows[1]["median_s"]
    fe_rows = [r for r in doc["results"] if r["library"] == "fastembed"]
    assert [r["threads_used"] for r in fe_rows] == [1, 2]


@pytest.mark.parametrize("memory", [True, False])
def test_one_warm_up_then_the_timed_rounds(memory):
    """Each implementation is called once to be checked (its warm-up), then once per timed
    round: no second warm-up, and peak memory is read around its first timed round (no
    call of its own) where VmHWM can be reset."""
    calls = {}

    def slow(d):  # above BATCH_SECONDS: one call per round
        import time
        time.sleep(2 * runner.BATCH_SECONDS)
        return d["x"] * 2

    case = core.Case(kernel="fake", name="c", params={}, make=lambda: {"x": np.arange(8.0)},
                     reference=lambda d: d["x"] * 2, bytes_moved=lambda d: 0)
    impls = [core.Impl("fastembed", "fe", counting(slow, calls, "fe"), threaded=True),
             core.Impl("numpy", "np", counting(slow, calls, "np"))]
    data = case.make()
    rows = runner.run_case(case, impls, data, case.reference(data), 1,
                           runner.Rounds(3, 4, 0.0), measure_memory=memory)
    assert [r["rounds"] for r in rows] == [3, 3]  # the budget is spent: the minimum
    extra = 1 if memory and not runner._hwm() else 0
    assert calls == {"fe": 1 + 3 + extra, "np": 1 + 3 + extra}
    assert all(("peak_extra_bytes" in r) == memory for r in rows)


def test_median_stable_once_its_standard_error_is_small():
    assert runner.stable([1.0, 1.0, 1.001, 0.999, 1.0])
    assert not runner.stable([1.0, 1.3, 0.8, 1.1, 0.9])
    assert runner.stable([1.0, 1.3, 0.8, 1.1, 0.9], rel=0.2)


# ---- every registered family, on tiny sizes -----------------------------------------------

@pytest.mark.parametrize("kernel", list(core.families()))
def test_registered_kernels_and_their_peers(tmp_path, kernel):
    """Each registration runs, and every implementation (fastembed's and every installed
    peer's) agrees with NumPy, at 2 threads."""
    rc, doc = run_bench(tmp_path, "--only", kernel, "--threads", "2", "--no-memory")
    assert rc == 0
    info = doc["kernels"][kernel]
    assert info["available"] == core.families()[kernel].available()
    if not info["available"]:
        pytest.skip(info["reason"])
    rows = doc["results"]
    assert rows and "fastembed" in {r["library"] for r in rows}
    assert len({r["library"] for r in rows}) >= 2  # fastembed and at least one peer
    assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"]


def test_in_place_kernel_restored_before_every_timed_call(tmp_path, monkeypatch):
    """renorm_ changes its table: every timed call must start from the original table
    (else later calls find nothing to scale). Count calls that saw a modified table."""
    seen = []

    def renorm(weights, ids, max_norm, **kw):
        seen.append(float(np.linalg.norm(weights[ids], axis=1).max()) > max_norm)
        numpy_renorm_(weights, ids, max_norm)
    monkeypatch.setattr(fastembed, "renorm_", renorm, raising=False)
    rc, _ = run_bench(tmp_path, "--only", "renorm_", "--threads", "1", "--no-memory")
    assert rc == 0 and len(seen) >= 3 and all(seen)


# ---- options ------------------------------------------------------------------------------

def test_without_leaves_a_peer_out(tmp_path):
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--only", "lookup_bag", "--threads", "1",
                        "--no-memory", "--without", "torch", "--without", "jax",
                        "--without", "fbgemm")
    assert rc == 0
    assert {r["library"] for r in doc["results"]} == {"fastembed", "numpy", "scipy"}
    assert not {"torch", "jax", "fbgemm_gpu"} & set(doc["versions"])


def test_report_rerenders_a_saved_run(tmp_path, capsys):
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--threads", "1", "--no-memory")
    capsys.readouterr()
    md = tmp_path / "tables.md"
    assert main(["--report", str(tmp_path / "bench.json"), "--markdown", str(md)]) == 0
    assert "lookup, 1 thread" in capsys.readouterr().out
    text = md.read_text()
    assert "| case | library | variant | median |" in text
    assert text.count("| fastembed |") == sum(r["library"] == "fastembed" for r in doc["results"])
    (tmp_path / "bad.json").write_text("{}")
    assert main(["--report", str(tmp_path / "bad.json")]) == 2


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    rc, _ = run_bench(tmp_path, "--only", "lookup", "--threads", "1", "--no-memory",
                      "--plot", str(png))
    assert rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_plot_without_matplotlib_says_so_before_running(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = main(TINY + ["--plot", str(tmp_path / "x.png")])
    assert rc == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_progress_line_per_case_and_thread_count(tmp_path, capsys):
    """One line on stderr per copy measurement and per case and thread count, as each
    finishes, though stderr is not a terminal here; `--progress off` prints none."""
    assert main(TINY + ["--only", "lookup", "--threads", "1,2", "--no-memory",
                        "--progress", "on"]) == 0
    lines = capsys.readouterr().err.splitlines()
    names = [c.name for c in core.families()["lookup"].cases("tiny")]
    total = 2 * (1 + len(names))
    assert len(lines) == total
    assert lines[0].startswith(f"[1/{total} ") and "copy bandwidth, 1 thread" in lines[0]
    want = [f"lookup | {n} | {t} thread" for n in names for t in (1, 2)]
    assert all(w in line for w, line in zip(want, lines[2:])), lines
    assert all("fastembed lookup " in line for line in lines[2:])
    assert main(TINY + ["--only", "lookup", "--threads", "1", "--no-memory"]) == 0
    assert capsys.readouterr().err == ""


def _spinners():
    """The --busy spinners this process started (children running runner.SPINNER)."""
    pid = os.getpid()
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(p) for p in f.read().split()]
    out = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"getppid" in f.read():
                out.append(child)
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_stopped_run_keeps_every_finished_case(tmp_path, capsys):
    """The --json file is rewritten after every case and thread count, "partial" until
    the end: a run stopped by Ctrl-C (in the third case here) keeps the cases done before,
    stops its --busy spinners, and `--report` prints the partial file."""
    path = tmp_path / "partial.json"
    seen = {}

    def make(i):
        def build():
            if i == 2:
                seen["file"] = json.loads(path.read_text())
                seen["spinners"] = _spinners()
                raise KeyboardInterrupt
            return {"x": np.arange(8.0) + i}
        return build

    core.register("fake")(lambda size: [core.Case(
        kernel="fake", name=f"fake {i}", params={"i": i}, make=make(i),
        reference=lambda d: d["x"] * 2, bytes_moved=lambda d: 2 * d["x"].nbytes,
        impls=[core.Impl("fastembed", "x*2",
                         lambda d, t: core.Timed(lambda: d["x"] * 2), threaded=True)])
        for i in range(3)])
    try:
        rc = main(TINY + ["--only", "fake", "--threads", "1,2", "--busy", "1",
                          "--json", str(path)])
    finally:
        core._FAMILIES.pop("fake", None)
    assert rc == 130
    out = capsys.readouterr()
    assert "interrupted: 2 of 3 cases measured" in out.err
    assert "fake, 2 threads" in out.out  # the tables of what was measured
    before = seen["file"]  # as the third case started: the first two, partial
    assert before["partial"] is True
    assert [(r["case"], r["threads"]) for r in before["results"]] == [
        ("fake 0", 1), ("fake 0", 2), ("fake 1", 1), ("fake 1", 2)]
    assert all(r["status"] == "ok" and r["median_s"] > 0 for r in before["results"])
    doc = json.loads(path.read_text())
    assert doc["partial"] is True and doc["results"] == before["results"]
    assert [c["case"] for c in doc["seconds"]["cases"]] == ["fake 0", "fake 1"]
    assert len(seen["spinners"]) == 1 and not _alive(seen["spinners"][0])
    assert not list(tmp_path.glob("*.tmp*"))
    assert main(["--report", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "PARTIAL run: 2 of 3 cases measured" in printed and "fake 1" in printed


def test_finished_run_is_not_partial_and_says_where_its_time_went(tmp_path):
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--threads", "1,2", "--no-memory")
    assert rc == 0 and doc["partial"] is False
    names = [c.name for c in core.families()["lookup"].cases("tiny")]
    spent = doc["seconds"]
    assert [c["case"] for c in spent["cases"]] == names
    assert all([t["threads"] for t in c["threads"]] == [1, 2] for c in spent["cases"])
    assert spent["total"] >= sum(t["wall_s"] for c in spent["cases"] for t in c["threads"])
    timed_here = [r for r in doc["results"] if r["cost_s"] is not None]
    assert timed_here and all(r["cost_s"]["timed"] > 0 for r in timed_here
                              if r["status"] == "ok")
    table = report.time_spent(doc).splitlines()
    assert table[0] == "time spent (wall seconds)"
    assert any(line.split()[:2] == ["lookup", str(len(names))] for line in table)
    assert report.time_spent(doc) in report.tables(doc)


@pytest.mark.parametrize("args", [["--threads", "0"], ["--threads", "a"], ["--size", "huge"]])
def test_bad_options(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2


def test_peak_memory_counts_temporaries_not_the_result():
    n = 64 * 2**20 // 8

    def call():
        tmp = np.ones(n)          # 64 MB temporary, freed before returning
        return np.full(4, tmp[0])
    extra, method = runner.peak_extra_bytes(core.Timed(call), {})
    assert method in ("rss", "tracemalloc") and extra >= 56 * 2**20, (method, extra)
    big = runner.peak_extra_bytes(core.Timed(lambda: np.ones(n)), {})[0]  # only a result
    assert big < 8 * 2**20


def test_copy_bandwidth_counts_read_and_written_bytes():
    stats = runner.measure_copy(2**20, 2, runner.ROUNDS["tiny"])
    assert stats["bytes"] == 2 * 2**20 and stats["threads"] == 2
    assert stats["gbps"] == pytest.approx(stats["bytes"] / stats["median_s"] / 1e9)


def test_quick_selects_the_quick_cases_and_rounds(tmp_path, monkeypatch):
    """`--quick` (what `make bench BENCH_ARGS=--quick` passes) asks every family for its
    "quick" cases and times with the quick round counts; it is the same as `--size quick`."""
    asked = []
    core.register("fake")(lambda size: asked.append(size) or [core.Case(
        kernel="fake", name="quick fake", params={"n": 8},
        make=lambda: {"x": np.arange(8.0)}, reference=lambda d: d["x"] * 2,
        bytes_moved=lambda d: 2 * d["x"].nbytes,
        impls=[core.Impl("fastembed", "x*2", lambda d, t: core.Timed(lambda: d["x"] * 2))])])
    try:
        path = tmp_path / "quick.json"
        assert main(["--quick", "--only", "fake", "--copy-mb", "2", "--progress", "off",
                     "--json", str(path)]) == 0
    finally:
        core._FAMILIES.pop("fake", None)
    assert asked == ["quick"]
    rows = [r for r in json.loads(path.read_text())["results"] if r["kernel"] == "fake"]
    q = runner.ROUNDS["quick"]
    assert rows and all(q.min_rounds <= r["rounds"] <= q.max_rounds for r in rows), rows
    for name, fam in core.families().items():
        if fam.available():
            quick = fam.cases("quick")
            assert 0 < len(quick) <= len(fam.cases("full")), name


# ---- --busy -----------------------------------------------------------------------------------

def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_busy_processes_spin_for_the_run_and_stop_however_it_ends():
    with runner.busy_processes(2) as pids:
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    assert not any(_alive(p) for p in pids)
    with pytest.raises(KeyboardInterrupt):
        with runner.busy_processes(1) as pids:
            raise KeyboardInterrupt
    assert not any(_alive(p) for p in pids)
    with runner.busy_processes(0) as pids:
        assert pids == []


def test_busy_run_is_reported(tmp_path, capsys):
    rc, doc = run_bench(tmp_path, "--only", "lookup", "--threads", "1", "--no-memory",
                        "--busy", "1")
    assert rc == 0 and doc["busy"] == 1
    assert "--busy 1" in capsys.readouterr().out
    assert main(TINY + ["--busy", "-1"]) == 2


def test_self_ratio_marked_noisy_when_a_time_it_divides_is_noisy():
    def row(threads, variant, median, iqr):
        return {"kernel": "k", "case": "c", "library": "fastembed", "status": "ok",
                "threads": threads, "threads_used": threads, "variant": variant,
                "median_s": median, "iqr_s": iqr}
    doc = {"threads": [1, 2], "ratios": {"k": {"c": [["alloc / out=", "a", "o"]]}},
           "results": [row(1, "a", 1.0, 0.1), row(1, "o", 1.0, 0.1),
                       row(2, "a", 0.6, 0.1), row(2, "o", 2.0, 1.5)]}
    rows = {(t, label): (x, noisy) for _, t, label, x, noisy in report._self_ratio_rows(doc, "k")}
    assert rows[(1, "alloc / out=")] == (1.0, False)
    assert rows[(2, "alloc / out=")] == (pytest.approx(0.3), True)
    assert rows[(2, "a: 2 thr / 1 thr")] == (pytest.approx(0.6), False)
    assert rows[(2, "o: 2 thr / 1 thr")] == (2.0, True)
    assert [r[:4] for r in report._self_ratio_rows(doc, "k")] == report.self_ratios(doc, "k")
