"""`python -m fastembed bench`: every kernel against its peers on the same data, checked
against NumPy before it is timed, reported as tables (and JSON, and a plot, if asked)."""
import argparse
import json
import datetime
import gc
import platform
import sys
import time

import fastembed
from fastembed.bench import peers, report, runner
from fastembed.bench.core import SIZES, families


def parse_threads(text):
    try:
        counts = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threads wants a comma-separated list of counts, "
                                         f"got {text!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return counts


def build_parser():
    kernels = ", ".join(families())
    p = argparse.ArgumentParser(
        prog="python -m fastembed bench",
        description="Benchmark fastembed's kernels against NumPy, SciPy, and PyTorch and JAX "
                    "when installed, on the same data; every result is checked against NumPy "
                    "before it is timed. Throughput is compared with the memory copy "
                    "bandwidth measured in the same run.")
    p.add_argument("--quick", action="store_true",
                   help="fewer and smaller cases, fewer rounds (about a minute)")
    p.add_argument("--size", choices=SIZES, default=None,
                   help="case sizes: full (default), quick (= --quick), tiny (a smoke test)")
    p.add_argument("--only", action="append", metavar="KERNEL",
                   help=f"run only this kernel (repeatable): {kernels}")
    p.add_argument("--threads", type=parse_threads, default=None, metavar="N[,N...]",
                   help="thread counts to run (default: 1 and fastembed.get_num_threads())")
    p.add_argument("--without", action="append", choices=peers.OPTIONAL, default=[],
                   metavar="LIB", help="leave out an installed optional peer (torch, jax)")
    p.add_argument("--json", metavar="PATH", help="write machine-readable results here")
    p.add_argument("--markdown", metavar="PATH", help="write the tables in Markdown here")
    p.add_argument("--plot", metavar="PATH", help="write a PNG plot here (needs matplotlib)")
    p.add_argument("--copy-mb", type=float, default=None,
                   help="size of the copy that measures bandwidth, per buffer "
                        f"(default {runner.COPY_MIN_BYTES >> 20} MB; smaller is cached)")
    p.add_argument("--report", metavar="JSON",
                   help="run nothing: print (and --markdown/--plot) a saved --json file")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="run with N other processes spinning (one busy CPU each), started "
                        "for the run and stopped after it: the figures of a shared machine")
    p.add_argument("--no-memory", action="store_true", help="skip peak-memory measurement")
    p.add_argument("--progress", choices=("on", "off"), default="on",
                   help="one line on stderr per case and thread count as it finishes "
                        "(default on, also when stderr is not a terminal)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    peers.without(args.without)
    fams = families()
    if args.only:
        unknown = [k for k in args.only if k not in fams]
        if unknown:
            print(f"unknown kernel(s) {', '.join(unknown)}; choose from {', '.join(fams)}",
                  file=sys.stderr)
            return 2
        fams = {k: fams[k] for k in args.only}
    if args.plot:  # fail before a long run, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("--plot needs matplotlib: pip install 'fastembed-kernels[plot]'"
                  " (or pip install matplotlib)", file=sys.stderr)
            return 2
    if args.report:
        try:
            with open(args.report) as f:
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            print(f"cannot read {args.report}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(doc, dict) or doc.get("schema") != report.SCHEMA:
            print(f"{args.report} is not a {report.SCHEMA} document", file=sys.stderr)
            return 2
        print(report.header(doc))
        print(report.tables(doc))
        return _failed(write_outputs(doc, args))
    if args.busy < 0:
        print(f"--busy wants a count >= 0, got {args.busy}", file=sys.stderr)
        return 2
    with runner.busy_processes(args.busy):
        return run(args, argv, size, fams)


def run(args, argv, size, fams):
    """Measure every case of `fams` and report (inside --busy's spinners, if asked). Each
    kernel's tables are printed when its last case is done, a progress line goes to stderr
    after every case and thread count, and the --json file is rewritten (atomically) after
    each too, with "partial": true until the end: a run stopped early (Ctrl-C) keeps every
    figure it took, and `--report` prints it."""
    threads = args.threads or sorted({1, fastembed.get_num_threads()})
    rounds = runner.ROUNDS[size]
    copy_bytes = (int(args.copy_mb * 2**20) if args.copy_mb is not None
                  else runner.COPY_MIN_BYTES)

    kernels_info, plan, ratios = {}, [], {}
    for kernel, fam in fams.items():
        if not fam.available():
            kernels_info[kernel] = {"available": False,
                                    "reason": f"this fastembed ({fastembed.__version__}) "
                                              f"has no {fam.requires}"}
            continue
        cases = fam.cases(size)
        kernels_info[kernel] = {"available": True, "cases": [c.name for c in cases]}
        ratios[kernel] = {c.name: [list(r) for r in c.ratios] for c in cases if c.ratios}
        plan.extend(cases)

    from fastembed._build_info import config_dict
    doc = {
        "schema": report.SCHEMA,
        "partial": True,  # until the last case is done
        "started": _now(),
        "created": None,
        "command": ["python", "-m", "fastembed", "bench"] + list(argv if argv is not None
                                                                 else sys.argv[1:]),
        "size": size,
        "threads": threads,
        # other processes this run kept spinning (--busy), one CPU each
        "busy": args.busy,
        "machine": {
            "cpu": runner.cpu_model(),
            "cpu_count": __import__("os").cpu_count(),
            "cpus_available": fastembed._threads.available_cpus(),
            "memory_bytes": runner.memory_total(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # other processes' load: the 1, 5 and 15 minute averages before and after
            "load_average_before": runner.load_average(),
            "load_average_after": None,
        },
        "versions": dict(peers.versions(), fastembed=fastembed.__version__),
        "fastembed_config": config_dict(),
        "copy_bandwidth": [],
        "kernels": kernels_info,
        "ratios": ratios,
        "results": [],
        # where the run's time went: per case, building its inputs and NumPy's result,
        # then per thread count the wall and CPU seconds of its implementations
        "seconds": {"copy": 0.0, "cases": [], "total": None},
    }

    def save():
        if args.json:
            doc["created"] = _now()
            report.write_json(doc, args.json)

    print(report.header(doc), flush=True)
    progress = runner.Progress(len(threads) * (1 + len(plan)), args.progress == "on")
    start = time.perf_counter()
    printed = set()

    def print_done(kernel):
        if kernel is not None and kernel not in printed:
            printed.add(kernel)
            print(report.kernel_tables(doc, kernel), flush=True)

    kernel = None
    try:
        for t in threads:
            t0 = time.perf_counter()
            copy = runner.measure_copy(copy_bytes, t, rounds)
            doc["copy_bandwidth"].append(copy)
            doc["seconds"]["copy"] += time.perf_counter() - t0
            progress.step(f"copy bandwidth, {_threads(t)}", time.perf_counter() - t0,
                          f"{copy['gbps']:.1f} GB/s")
        save()
        copy_by_threads = {c["threads"]: c for c in doc["copy_bandwidth"]}
        for case in plan:
            if case.kernel != kernel:
                print_done(kernel)
                kernel = case.kernel
            _run_one(case, threads, rounds, args, copy_by_threads, doc, progress, save)
            gc.collect()
        print_done(kernel)
        doc["partial"] = False
    except KeyboardInterrupt:
        print_done(kernel)
        print(f"\ninterrupted: {len(doc['seconds']['cases'])} of {len(plan)} cases measured"
              + (f", saved in {args.json}" if args.json else ""), file=sys.stderr)
    finally:
        peers.set_threads("torch", fastembed.get_num_threads())
        doc["machine"]["load_average_after"] = runner.load_average()
        doc["seconds"]["total"] = time.perf_counter() - start
        failures = [r for r in doc["results"]
                    if r["library"] == "fastembed" and r["status"] != "ok"]
        doc["fastembed_failures"] = len(failures)
        doc["peer_failures"] = sum(r["library"] != "fastembed" and r["status"] != "ok"
                                   for r in doc["results"])
        save()
    if doc["partial"]:
        return 130
    print(report.time_spent(doc))
    print(report.legend())
    if args.json:
        print(f"\nJSON written to {args.json}")
    failures = write_outputs(doc, args)
    return _failed(failures)


def _run_one(case, threads, rounds, args, copy_by_threads, doc, progress, save):
    """One case at every thread count (its inputs built once): its rows go to
    doc["results"] and its seconds to doc["seconds"]; a progress line and a save after
    each thread count."""
    t0 = time.perf_counter()
    data = case.make()
    t1 = time.perf_counter()
    want = case.reference(data)
    moved = case.bytes_moved(data)
    spent = {"kernel": case.kernel, "case": case.name, "make_s": t1 - t0,
             "reference_s": time.perf_counter() - t1, "threads": []}
    doc["seconds"]["cases"].append(spent)
    once = {}  # peers that ignore the thread count: timed once, shown at every count
    for t in threads:
        w0, c0 = time.perf_counter(), time.process_time()
        todo = [impl for impl in case.impls
                if impl.threaded or (impl.library, impl.variant) not in once]
        rows = runner.run_case(case, todo, data, want, t, rounds,
                               measure_memory=not args.no_memory)
        measured = {(row["library"], row["variant"]): row for row in rows}
        step = []
        for impl in case.impls:
            key = (impl.library, impl.variant)
            if key in measured:
                row = measured[key]
                row["bytes_moved"] = int(moved)
                if not impl.threaded:
                    once[key] = row
            else:
                row = dict(once[key], threads=t, cost_s=None)  # timed at another count
            step.append(row)
        doc["results"].extend(report.derive(step, copy_by_threads))
        wall = time.perf_counter() - w0
        spent["threads"].append({"threads": t, "wall_s": wall,
                                 "cpu_s": time.process_time() - c0})
        progress.step(f"{case.kernel} | {case.name} | {_threads(t)}", wall,
                      report.progress_note(step))
        save()


def _threads(t):
    return f"{t} thread{'s' if t > 1 else ''}"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _failed(failures):
    """Exit status 1 and the list of fastembed's failed results, or 0."""
    if not failures:
        return 0
    print(f"\nFAILED: {len(failures)} fastembed result(s) wrong or raising:", file=sys.stderr)
    for r in failures:
        print(f"  {r['kernel']} {r['case']} {r['variant']} ({r['threads']}t): {r['error']}",
              file=sys.stderr)
    return 1


def write_outputs(doc, args):
    """Write --markdown and --plot; returns fastembed's failed results."""
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown(doc) + "\n")
        print(f"Markdown tables written to {args.markdown}")
    if args.plot:
        report.plot(doc, args.plot)
        print(f"plot written to {args.plot}")
    return [r for r in doc["results"] if r["library"] == "fastembed" and r["status"] != "ok"]
