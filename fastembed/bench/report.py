"""Reporting: derived figures (GB/s, fraction of copy bandwidth, ratios), the text tables,
the JSON document and the optional plot."""
import json
import textwrap

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
    """Per case and thread count: fastembed's fastest variant against each peer library's
    fastest (correct) variant, as (case, threads, fastembed GB/s, copy fraction,
    {library: how many times faster fastembed is})."""
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
            ratios = {lib: r["median_s"] / fe["median_s"] for lib, r in best.items()
                      if lib != "fastembed"}
            rows.append((case, threads, fe["gbps"], fe.get("copy_fraction"), ratios))
    return rows


def busy_warning(doc):
    """A warning when other processes were loading the CPUs as the run started."""
    load = doc["machine"].get("load_average_before")
    if load and load[0] >= 0.5:
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


def tables(doc):
    """The text report: one table per kernel and thread count."""
    lines = []
    copy = {c["threads"]: c for c in doc["copy_bandwidth"]}
    results = doc["results"]
    for kernel, info in doc["kernels"].items():
        if not info["available"]:
            lines.append(f"{kernel}: not run ({info['reason']})")
            lines.append("")
            continue
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
                used = r["threads_used"]
                variant = r["variant"] + ("" if used == threads else " [1 thr]" if used == 1
                                          else " [own thr]")
                left = f"{case:<{cw}} {r['library']:<9} {variant:<{vw}}"
                if r["status"] != "ok":
                    lines.append(f"{left} {r['status'].upper()}: {r['error']}")
                    continue
                frac = f"{r['copy_fraction']:7.2f}" if r.get("copy_fraction") is not None else " " * 7
                mem = r.get("peak_extra_bytes")
                mem = f"{mem / 2**20:8.1f}" if mem is not None else " " * 8
                sp = r.get("fastembed_speedup")
                ratio = ("" if r["library"] == "fastembed" or not sp else
                         f"{sp:.2f}x faster" if sp >= 1 else f"{1 / sp:.2f}x slower")
                if ratio and r.get("compare_to"):
                    ratio += f" (vs {r['fastembed_compared']})"
                lines.append(f"{left} {_time(r['median_s'])} {r['gbps']:7.2f} {frac} {mem}  "
                             f"{ratio}".rstrip())
            lines.append("")
        summ = summary(doc, kernel)
        if summ:
            libs = sorted({lib for *_, ratios in summ for lib in ratios})
            cw = max(len(c) for c, *_ in summ)
            title = f"{kernel}: fastembed's fastest variant vs each library's fastest"
            lines += [title, "-" * len(title),
                      f"{'case':<{cw}} {'thr':>3} {'GB/s':>7} {'of copy':>7} "
                      + " ".join(f"{'vs ' + lib:>10}" for lib in libs)]
            for case, threads, gbps, frac, ratios in summ:
                fr = f"{frac:7.2f}" if frac is not None else " " * 7
                lines.append(f"{case:<{cw}} {threads:>3} {gbps:7.2f} {fr} " + " ".join(
                    f"{_ratio(ratios[lib]) if lib in ratios else '-':>10}" for lib in libs))
            lines.append("")
    lines.append("vs LIB = LIB's median / fastembed's (above 1: fastembed is faster).")
    lines.append("GB/s = bytes a kernel must move (inputs read + outputs written) / median time;"
                 " 'of copy' = that / the copy bandwidth at the same thread count;")
    lines.append("'fastembed is' = this row's median / fastembed's (its first variant; peers"
                 " that write into a given out= against fastembed's out= variant);"
                 " peak+MB = peak memory beyond inputs and output;")
    lines.append("[1 thr] = the library runs this on one thread, [own thr] = on the threads it"
                 " chose at start-up (both timed once, shown at every thread count).")
    return "\n".join(lines)


def write_json(doc, path):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False, default=str)
        f.write("\n")


class PlotUnavailable(RuntimeError):
    pass


def plot(doc, path):
    """A PNG: per kernel and thread count, throughput (GB/s) of each library's fastest
    variant, bars grouped by case, with the copy bandwidth as a horizontal line."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(
            "--plot needs matplotlib: pip install 'fastembed-kernels[plot]' "
            "(or pip install matplotlib)") from exc
    copy = {c["threads"]: c["gbps"] for c in doc["copy_bandwidth"]}
    panels = []
    for kernel, info in doc["kernels"].items():
        if info["available"]:
            for threads in doc["threads"]:
                rows = [r for r in doc["results"] if r["kernel"] == kernel
                        and r["threads"] == threads and r["status"] == "ok"]
                if rows:
                    panels.append((kernel, threads, rows))
    if not panels:
        raise ValueError("nothing to plot: no timed results")
    libraries = []
    for _, _, rows in panels:
        for r in rows:
            if r["library"] not in libraries:
                libraries.append(r["library"])
    colors = {lib: plt.get_cmap("tab10")(i) for i, lib in enumerate(libraries)}
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.4 * len(panels)), squeeze=False)
    for ax, (kernel, threads, rows) in zip(axes[:, 0], panels):
        cases = list(dict.fromkeys(r["case"] for r in rows))
        best = {}
        for r in rows:
            key = (r["case"], r["library"])
            if key not in best or r["gbps"] > best[key]["gbps"]:
                best[key] = r
        width = 0.8 / len(libraries)
        for j, lib in enumerate(libraries):
            xs, ys = [], []
            for i, case in enumerate(cases):
                if (case, lib) in best:
                    xs.append(i + (j - (len(libraries) - 1) / 2) * width)
                    ys.append(best[(case, lib)]["gbps"])
            if xs:
                ax.bar(xs, ys, width, label=lib, color=colors[lib])
        if threads in copy:
            ax.axhline(copy[threads], color="black", linestyle="--", linewidth=1,
                       label=f"copy {copy[threads]:.1f} GB/s")
        top = max([r["gbps"] for r in best.values()] + [copy.get(threads, 0)])
        ax.set_ylim(0, top * 1.35)
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels([textwrap.fill(c, 16) for c in cases], fontsize=8)
        ax.set_ylabel("GB/s")
        ax.set_title(f"{kernel}, {threads} thread{'s' if threads > 1 else ''} "
                     "(fastest variant of each library)", fontsize=10)
        ax.legend(fontsize=7, ncol=len(libraries) + 1, loc="upper left")
    fig.suptitle(f"fastembed {doc['fastembed_config'].get('version', '')} on "
                 f"{doc['machine']['cpu']} ({doc['machine']['cpus_available']} CPUs)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
            out.append("| case | threads | fastembed GB/s | of copy | "
                       + " | ".join(f"vs {lib}" for lib in libs) + " |")
            out.append("|---|---:|---:|---:|" + "---:|" * len(libs))
            for case, threads, gbps, frac, ratios in summ:
                fr = f"{frac:.2f}" if frac is not None else ""
                out.append(f"| {case} | {threads} | {gbps:.1f} | {fr} | " + " | ".join(
                    _ratio(ratios[lib]) if lib in ratios else "-" for lib in libs) + " |")
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
                used = r["threads_used"]
                variant = r["variant"] + ("" if used == threads else " [1 thr]" if used == 1
                                          else " [own thr]")
                if r["status"] != "ok":
                    out.append(f"| {case} | {r['library']} | `{variant}` | {r['status'].upper()}"
                               f" | | | | {r['error']} |")
                    continue
                sp = r.get("fastembed_speedup")
                ratio = ("" if r["library"] == "fastembed" or not sp else
                         f"**{sp:.2f}x faster**" if sp >= 1 else f"{1 / sp:.2f}x slower")
                if ratio and r.get("compare_to"):
                    ratio += f" (vs `{r['fastembed_compared']}`)"
                mem = r.get("peak_extra_bytes")
                mem = f"{mem / 2**20:.1f}" if mem is not None else ""
                frac = r.get("copy_fraction")
                frac = f"{frac:.2f}" if frac is not None else ""
                out.append(f"| {case} | {r['library']} | `{variant}` | {_time(r['median_s']).strip()}"
                           f" | {r['gbps']:.2f} | {frac} | {mem} | {ratio} |")
            out.append("")
    return "\n".join(out)
