"""Reporting: derived figures (GB/s, fraction of copy bandwidth, ratios), the text tables,
the JSON document and the optional plot."""
import json
import os
import textwrap

import numpy as np

SCHEMA = "fastembed-bench/1"


def derive(results, copy_by_threads):
    """Add GB/s, the fraction of the measured copy bandwidth at the same thread count, and
    `fastembed_speedup` (this row's median / fastembed's on the same case and threads:
    how many times faster fastembed is than this implementation) to every timed row.
    fastembed's figure is its variant named by the row's `compare_to`, else its first."""
    primary, variants = {}, {}
    for r in results:
        if r["library"] == "fastembed" and r["status"] == "ok":
            primary.setdefault((r["kernel"], r["case"], r["threads"]), r)
            variants[(r["kernel"], r["case"], r["threads"], r["variant"])] = r
    for r in results:
        if r["status"] != "ok":
            continue
        r["gbps"] = r["bytes_moved"] / r["median_s"] / 1e9
        copy = copy_by_threads.get(r["threads"])
        r["copy_fraction"] = r["gbps"] / copy["gbps"] if copy else None
        key = (r["kernel"], r["case"], r["threads"])
        fe = variants.get(key + (r.get("compare_to"),)) or primary.get(key)
        r["fastembed_speedup"] = r["median_s"] / fe["median_s"] if fe else None
        r["fastembed_compared"] = fe["variant"] if fe else None
    return results


def summary(doc, kernel):
    """Per case and thread count: fastembed against each peer library's fastest (correct)
    variant, as (case, threads, fastembed's variant, its GB/s, its copy fraction,
    {library: how many times faster fastembed is}). fastembed's figure is its fastest
    variant, or the variant the peer's row names in `compare_to` (a fused step against
    torch's step, not fastembed's two-call path)."""
    rows = []
    for threads in doc["threads"]:
        cases = {}
        for r in doc["results"]:
            if r["kernel"] == kernel and r["threads"] == threads and r["status"] == "ok":
                best = cases.setdefault(r["case"], {})
                if r["library"] not in best or r["median_s"] < best[r["library"]]["median_s"]:
                    best[r["library"]] = r
        for case, best in cases.items():
            fe = best.get("fastembed")
            if fe is None:
                continue
            ratios = {lib: r["median_s"] / _variant(doc, r, r.get("compare_to"), fe)["median_s"]
                      for lib, r in best.items() if lib != "fastembed"}
            rows.append((case, threads, fe["variant"], fe["gbps"], fe.get("copy_fraction"),
                         ratios))
    return rows


def _variant(doc, row, variant, default):
    """fastembed's row of `variant` on `row`'s case and thread count (or `default`)."""
    if variant is None:
        return default
    for r in doc["results"]:
        if (r["library"] == "fastembed" and r["variant"] == variant and r["status"] == "ok"
                and r["kernel"] == row["kernel"] and r["case"] == row["case"]
                and r["threads"] == row["threads"]):
            return r
    return default


def self_ratios(doc, kernel):
    """fastembed against itself, as (case, threads, label, ratio): the ratios a case
    declares (`Case.ratios`: e.g. allocating / out=, fused / accumulate+apply), and for
    every fastembed variant timed at several thread counts, its time at each count above
    1 / its time at 1 thread ("N thr / 1 thr": above 1, more threads were slower)."""
    return [row[:4] for row in _self_ratio_rows(doc, kernel)]


# A timed row whose interquartile range is above this fraction of its median is noisy: a
# ratio that uses it says little (a loaded machine, or too few rounds).
NOISY_IQR = 0.5


def _self_ratio_rows(doc, kernel):
    """self_ratios, each with a fifth item: True when a row it divides is noisy."""
    med = {}
    for r in doc["results"]:
        if r["kernel"] == kernel and r["library"] == "fastembed" and r["status"] == "ok":
            med[(r["case"], r["threads"], r["variant"])] = r

    def noisy(*rows):
        return any(r.get("iqr_s", 0) > NOISY_IQR * r["median_s"] for r in rows)

    out = []
    declared = doc.get("ratios", {}).get(kernel, {})
    cases = list(dict.fromkeys(c for c, _, _ in med))
    for case in cases:
        for threads in doc["threads"]:
            for label, a, b in declared.get(case, []):
                if (case, threads, a) in med and (case, threads, b) in med:
                    ra, rb = med[(case, threads, a)], med[(case, threads, b)]
                    out.append((case, threads, label, ra["median_s"] / rb["median_s"],
                                noisy(ra, rb)))
            for variant in dict.fromkeys(v for c, t, v in med if c == case):
                one, more = med.get((case, 1, variant)), med.get((case, threads, variant))
                if threads > 1 and one and more and more["threads_used"] == threads:
                    out.append((case, threads, f"{variant}: {threads} thr / 1 thr",
                                more["median_s"] / one["median_s"], noisy(one, more)))
    return out


def busy_warning(doc):
    """A warning when other processes were loading the CPUs as the run started (beyond
    the --busy spinners the run started itself, which the header reports)."""
    load = doc["machine"].get("load_average_before")
    if load and load[0] >= 0.5 + doc.get("busy", 0):
        return (f"note: load average {load[0]:.2f} before the run on "
                f"{doc['machine']['cpus_available']} CPUs: other processes were running, "
                "so figures are noisier than on a quiet machine")
    return None


def _ratio(x):
    return f"{x:.2f}x" if x >= 1 else f"1/{1 / x:.2f}x"


def _time(s):
    if s >= 1:
        return f"{s:8.3f} s "
    if s >= 1e-3:
        return f"{s * 1e3:8.3f} ms"
    return f"{s * 1e6:8.2f} us"


def header(doc):
    """The lines above the tables: versions, machine, threads, size, --busy, load, and
    whether the run is partial (stopped, or still going when the file was written)."""
    lines = [f"fastembed {doc['versions']['fastembed']} | {doc['machine']['cpu']} | "
             f"{doc['machine']['cpus_available']} CPUs | threads {doc['threads']} | "
             f"size {doc['size']} | "
             + " ".join(f"{k} {v}" for k, v in doc["versions"].items() if k != "fastembed")]
    if doc.get("busy"):
        lines.append(f"busy run: {doc['busy']} other process(es) kept spinning for the whole"
                     f" run (--busy {doc['busy']}), one CPU each")
    busy = busy_warning(doc)
    if busy:
        lines.append(busy)
    if doc.get("partial") and doc.get("created"):
        done = len({(r["kernel"], r["case"]) for r in doc["results"]})
        planned = sum(len(k.get("cases", ())) for k in doc["kernels"].values())
        lines.append(f"PARTIAL run: {done} of {planned} cases measured (stopped, or still "
                     f"running, at {doc['created']})")
    return "\n".join(lines) + "\n"


def progress_note(rows):
    """What a progress line says of one case at one thread count: fastembed's median (its
    first variant) and how many times faster it is than each peer library's fastest."""
    fe = next((r for r in rows if r["library"] == "fastembed"), None)
    if fe is None or fe["status"] != "ok":
        return f"fastembed {fe['status'].upper()}" if fe else ""
    best = {}
    for r in rows:
        if r["library"] != "fastembed" and r["status"] == "ok" and r.get("fastembed_speedup"):
            best[r["library"]] = min(best.get(r["library"], float("inf")),
                                     r["fastembed_speedup"])
    return (f"fastembed {fe['variant']} {_time(fe['median_s']).strip()}"
            + "".join(f", vs {lib} {_ratio(x)}" for lib, x in best.items()))


def _variant_label(r, threads):
    """The variant and, when it did not run on `threads` threads, on how many it did."""
    used = r["threads_used"]
    return r["variant"] + ("" if used == threads else " [1 thr]" if used == 1
                           else " [own thr]")


def _faster(r, bold=lambda x: x, code=lambda x: x):
    """'N.NNx faster' / 'N.NNx slower' of a peer's row (empty for fastembed's own)."""
    sp = r.get("fastembed_speedup")
    if r["library"] == "fastembed" or not sp:
        return ""
    text = bold(f"{sp:.2f}x faster") if sp >= 1 else f"{1 / sp:.2f}x slower"
    if r.get("compare_to"):
        text += f" (vs {code(r['fastembed_compared'])})"
    return text


def tables(doc):
    """The text report: per kernel its tables (`kernel_tables`), where the time went,
    then the legend."""
    return "\n".join([kernel_tables(doc, k) for k in doc["kernels"]]
                     + [time_spent(doc), legend()])


def kernel_tables(doc, kernel):
    """One kernel's text report: a table per thread count, the summary against each peer
    library, fastembed against itself."""
    lines = []
    info = doc["kernels"][kernel]
    copy = {c["threads"]: c for c in doc["copy_bandwidth"]}
    results = doc["results"]
    if not info["available"]:
        return f"{kernel}: not run ({info['reason']})\n"
    for threads in doc["threads"]:
        rows = [r for r in results if r["kernel"] == kernel and r["threads"] == threads]
        if not rows:
            continue
        c = copy.get(threads)
        bw = f"copy bandwidth {c['gbps']:.1f} GB/s" if c else "copy bandwidth not measured"
        title = f"{kernel}, {threads} thread{'s' if threads > 1 else ''} ({bw})"
        lines.append(title)
        lines.append("=" * len(title))
        cw = max(len(r["case"]) for r in rows)
        vw = max(len(r["variant"]) for r in rows) + 10
        head = (f"{'case':<{cw}} {'library':<9} {'variant':<{vw}} {'median':>11} {'GB/s':>7} "
                f"{'of copy':>7} {'peak+MB':>8}  fastembed is")
        lines.append(head)
        lines.append("-" * len(head))
        last_case = None
        for r in rows:
            case = r["case"] if r["case"] != last_case else ""
            last_case = r["case"]
            left = f"{case:<{cw}} {r['library']:<9} {_variant_label(r, threads):<{vw}}"
            if r["status"] != "ok":
                lines.append(f"{left} {r['status'].upper()}: {r['error']}")
                continue
            frac = f"{r['copy_fraction']:7.2f}" if r.get("copy_fraction") is not None else " " * 7
            mem = r.get("peak_extra_bytes")
            mem = f"{mem / 2**20:8.1f}" if mem is not None else " " * 8
            lines.append(f"{left} {_time(r['median_s'])} {r['gbps']:7.2f} {frac} {mem}  "
                         f"{_faster(r)}".rstrip())
        lines.append("")
    summ = summary(doc, kernel)
    if summ:
        libs = sorted({lib for *_, ratios in summ for lib in ratios})
        cw = max(len(c) for c, *_ in summ)
        vw = max(len(v) for _, _, v, *_ in summ)
        title = f"{kernel}: fastembed's fastest variant vs each library's fastest"
        lines += [title, "-" * len(title),
                  f"{'case':<{cw}} {'thr':>3} {'fastembed':<{vw}} {'GB/s':>7} {'of copy':>7} "
                  + " ".join(f"{'vs ' + lib:>10}" for lib in libs)]
        for case, threads, variant, gbps, frac, ratios in summ:
            fr = f"{frac:7.2f}" if frac is not None else " " * 7
            lines.append(f"{case:<{cw}} {threads:>3} {variant:<{vw}} {gbps:7.2f} {fr} "
                         + " ".join(
                f"{_ratio(ratios[lib]) if lib in ratios else '-':>10}" for lib in libs))
        lines.append("")
    selfr = _self_ratio_rows(doc, kernel)
    if selfr:
        cw = max(len(c) for c, *_ in selfr)
        lw = max(len(label) for _, _, label, *_ in selfr)
        title = f"{kernel}: fastembed against itself (time / time)"
        lines += [title, "-" * len(title),
                  f"{'case':<{cw}} {'thr':>3} {'ratio':<{lw}} {'value':>7}"]
        for case, threads, label, x, noisy in selfr:
            lines.append(f"{case:<{cw}} {threads:>3} {label:<{lw}} {x:7.2f}"
                         + (" (noisy)" if noisy else ""))
        lines.append("")
    return "\n".join(lines)


def time_spent(doc):
    """Where the run's time went, per kernel: wall seconds building inputs and NumPy's
    results, then timing (prepare, check, rounds, memory) at each thread count, with the
    CPU seconds of the timing (above the wall time when threads ran in parallel)."""
    spent = doc.get("seconds")
    if not spent or not spent.get("cases"):
        return ""
    per = {}
    for c in spent["cases"]:
        k = per.setdefault(c["kernel"], {"cases": 0, "inputs": 0.0, "threads": {}, "cpu": 0.0})
        k["cases"] += 1
        k["inputs"] += c["make_s"] + c["reference_s"]
        for t in c["threads"]:
            k["threads"][t["threads"]] = k["threads"].get(t["threads"], 0.0) + t["wall_s"]
            k["cpu"] += t["cpu_s"]
    counts = sorted({t for k in per.values() for t in k["threads"]})
    kw = max(len(k) for k in per)
    head = (f"{'kernel':<{kw}} {'cases':>5} {'inputs':>8} "
            + " ".join(f"{f'{t} thr':>8}" for t in counts) + f" {'total':>8} {'timing CPU':>10}")
    lines = ["time spent (wall seconds)", "-" * len(head), head]
    total = 0.0
    for name, k in per.items():
        wall = k["inputs"] + sum(k["threads"].values())
        total += wall
        lines.append(f"{name:<{kw}} {k['cases']:>5} {k['inputs']:8.1f} "
                     + " ".join(f"{k['threads'].get(t, 0.0):8.1f}" for t in counts)
                     + f" {wall:8.1f} {k['cpu']:10.1f}")
    run = spent.get("total")
    lines.append(f"cases {total:.0f} s + copy bandwidth {spent.get('copy', 0):.0f} s"
                 + (f" of the run's {run:.0f} s ({run / 60:.1f} min)" if run else ""))
    return "\n".join(lines) + "\n"


def legend():
    """What the tables' columns and marks mean."""
    lines = []
    lines.append("vs LIB = LIB's median / fastembed's (above 1: fastembed is faster).")
    lines.append("GB/s = bytes a kernel must move (inputs read + outputs written) / median time;"
                 " 'of copy' = that / the copy bandwidth at the same thread count;")
    lines.append("'fastembed is' = this row's median / fastembed's (its first variant; peers"
                 " that write into a given out= against fastembed's out= variant);"
                 " peak+MB = peak memory beyond inputs and output;")
    lines.append("[1 thr] = the library runs this on one thread, [own thr] = on the threads it"
                 " chose at start-up (both timed once, shown at every thread count).")
    lines.append(f"(noisy) = a time the ratio divides has an interquartile range above "
                 f"{NOISY_IQR:.0%} of its median: within noise, re-take it.")
    return "\n".join(lines)


def write_json(doc, path):
    """Write `doc` to `path` atomically (a temporary file beside it, then a rename): a run
    stopped while writing leaves the previous complete file, never half of one."""
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class PlotUnavailable(RuntimeError):
    pass


def plot(doc, path):
    """One PNG figure, two panels sharing the kernels as x axis, at the run's largest thread
    count. Top: fastembed's speedup over each peer library (log scale; bars: the geometric
    mean over the kernel's cases, dots: each case; above 1, fastembed is faster). Bottom:
    fastembed's throughput as a fraction of the copy bandwidth (bars: the median over the
    cases, dots: each case)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'fastembed-kernels[plot]' "
            "(or pip install matplotlib)") from exc
    threads = max(doc["threads"])
    kernels, speed, frac = [], {}, {}
    for kernel, info in doc["kernels"].items():
        if not info["available"]:
            continue
        rows = [r for r in summary(doc, kernel) if r[1] == threads]
        if not rows:
            continue
        kernels.append(kernel)
        for *_, fr, ratios in rows:
            if fr is not None:
                frac.setdefault(kernel, []).append(fr)
            for lib, x in ratios.items():
                speed.setdefault(lib, {}).setdefault(kernel, []).append(x)
    if not kernels:
        raise ValueError("nothing to plot: no timed results")
    libs = sorted(speed)
    colors = {lib: plt.get_cmap("tab10")(i) for i, lib in enumerate(libs)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(kernels) + 3), 8),
                                      sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / max(len(libs), 1)
    for j, lib in enumerate(libs):
        label = lib
        for i, kernel in enumerate(kernels):
            xs = speed[lib].get(kernel)
            if not xs:
                continue
            x = i + (j - (len(libs) - 1) / 2) * width
            top.bar(x, float(np.exp(np.mean(np.log(xs)))), width, color=colors[lib],
                    alpha=0.75, label=label)
            label = None  # one legend entry per peer
            top.scatter([x] * len(xs), xs, s=10, color="black", zorder=3)
    top.axhline(1.0, color="black", linewidth=1)
    top.set_yscale("log")
    top.set_ylabel("fastembed's speedup over the peer\n(peer time / fastembed time, log)")
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0), title="peer",
               title_fontsize=8)
    top.grid(axis="y", which="both", alpha=0.3)
    # cached cases (a few hot rows, 100 ids) can pass the copy bandwidth many times over:
    # the axis stops at 2 and those cases are drawn on its edge as triangles
    ceiling = min(2.0, max([1.2] + [1.15 * x for fr in frac.values() for x in fr]))
    for i, kernel in enumerate(kernels):
        fr = frac.get(kernel, [])
        if fr:
            bottom.bar(i, min(float(np.median(fr)), ceiling), 0.5, color="tab:gray",
                       alpha=0.75)
            inside = [x for x in fr if x <= ceiling]
            bottom.scatter([i] * len(inside), inside, s=10, color="black", zorder=3)
            above = len(fr) - len(inside)
            bottom.scatter([i] * above, [ceiling] * above, s=25, marker="^", color="black",
                           zorder=3, clip_on=False)
    bottom.set_ylim(0, ceiling)
    bottom.axhline(1.0, color="black", linestyle="--", linewidth=1)
    bottom.set_ylabel("fastembed GB/s /\ncopy bandwidth")
    bottom.set_xticks(range(len(kernels)))
    bottom.set_xticklabels([textwrap.fill(k, 12) for k in kernels], fontsize=8)
    bottom.grid(axis="y", alpha=0.3)
    copy = {c["threads"]: c["gbps"] for c in doc["copy_bandwidth"]}.get(threads)
    busy = f", {doc['busy']} busy process(es)" if doc.get("busy") else ""
    fig.suptitle(f"fastembed {doc['versions'].get('fastembed', '')}, {threads} thread"
                 f"{'s' if threads > 1 else ''}, {doc['size']} run{busy}\n"
                 f"{doc['machine']['cpu']} ({doc['machine']['cpus_available']} CPUs"
                 + (f", copy {copy:.1f} GB/s" if copy else "") + ")", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(doc):
    """The tables in Markdown (one per kernel and thread count), for benchmarks/README.md."""
    copy = {c["threads"]: c for c in doc["copy_bandwidth"]}
    out = []
    for kernel, info in doc["kernels"].items():
        if not info["available"]:
            continue
        out.append(f"### {kernel}")
        out.append("")
        summ = summary(doc, kernel)
        if summ:
            libs = sorted({lib for *_, ratios in summ for lib in ratios})
            out.append(f"#### Summary: fastembed's fastest variant vs each library's fastest")
            out.append("")
            out.append("| case | threads | fastembed variant | GB/s | of copy | "
                       + " | ".join(f"vs {lib}" for lib in libs) + " |")
            out.append("|---|---:|---|---:|---:|" + "---:|" * len(libs))
            for case, threads, variant, gbps, frac, ratios in summ:
                fr = f"{frac:.2f}" if frac is not None else ""
                out.append(f"| {case} | {threads} | `{variant}` | {gbps:.1f} | {fr} | "
                           + " | ".join(
                    _ratio(ratios[lib]) if lib in ratios else "-" for lib in libs) + " |")
            out.append("")
        selfr = _self_ratio_rows(doc, kernel)
        if selfr:
            out += ["#### fastembed against itself (time / time)", "",
                    "| case | threads | ratio | value |", "|---|---:|---|---:|"]
            out += [f"| {case} | {threads} | {label} | {x:.2f}{' (noisy)' if noisy else ''} |"
                    for case, threads, label, x, noisy in selfr]
            out.append("")
        for threads in doc["threads"]:
            rows = [r for r in doc["results"] if r["kernel"] == kernel and r["threads"] == threads]
            if not rows:
                continue
            c = copy.get(threads)
            out.append(f"#### {kernel}, {threads} thread{'s' if threads > 1 else ''}"
                       + (f" (copy bandwidth {c['gbps']:.1f} GB/s)" if c else ""))
            out.append("")
            out.append("| case | library | variant | median | GB/s | of copy | peak extra MB "
                       "| fastembed is |")
            out.append("|---|---|---|---:|---:|---:|---:|---|")
            last = None
            for r in rows:
                case = r["case"] if r["case"] != last else ""
                last = r["case"]
                variant = _variant_label(r, threads)
                if r["status"] != "ok":
                    out.append(f"| {case} | {r['library']} | `{variant}` | {r['status'].upper()}"
                               f" | | | | {r['error']} |")
                    continue
                ratio = _faster(r, bold=lambda x: f"**{x}**", code=lambda x: f"`{x}`")
                mem = r.get("peak_extra_bytes")
                mem = f"{mem / 2**20:.1f}" if mem is not None else ""
                frac = r.get("copy_fraction")
                frac = f"{frac:.2f}" if frac is not None else ""
                out.append(f"| {case} | {r['library']} | `{variant}` | "
                           f"{_time(r['median_s']).strip()}"
                           f" | {r['gbps']:.2f} | {frac} | {mem} | {ratio} |")
            out.append("")
    return "\n".join(out)
