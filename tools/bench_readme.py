"""Refresh the "Latest results" section of benchmarks/README.md from a saved run.

    make bench                                   # writes build/bench/results.{json,png}
    python tools/bench_readme.py build/bench/results.json

Copies the JSON (and the plot beside it, when there is one) to benchmarks/results.json and
benchmarks/results.png, and rewrites the text between the results markers of
benchmarks/README.md: the machine, the copy bandwidth, and for every kernel its summary and
tables; a kernel the run did not have is left as a marked section to fill.
"""
import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fastembed.bench import families, report  # noqa: E402

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def section(doc, has_plot):
    m, cfg, v = doc["machine"], doc["fastembed_config"], doc["versions"]
    load = m.get("load_average_before")
    lines = [
        f"Measured {doc.get('started', doc['created'])} with `{' '.join(doc['command'])}`, "
        f"size `{doc['size']}`, threads {doc['threads']}.",
        "",
        f"- Machine: {m['cpu']}, {m['cpus_available']} CPUs available "
        f"({m['cpu_count']} online), {m['memory_bytes'] / 2**30:.0f} GiB, {m['platform']}",
        f"- fastembed {v['fastembed']}: OpenMP {cfg.get('openmp')} "
        f"({cfg.get('openmp_runtime')}), SIMD {cfg.get('simd_chosen')}, "
        f"compiler {cfg.get('compiler')}",
        "- Peers: " + ", ".join(f"{k} {val}" for k, val in v.items() if k != "fastembed"),
    ]
    if load:
        lines.append(f"- Load average before the run: {load[0]:.2f} (1 min), after: "
                     f"{m['load_average_after'][0]:.2f}"
                     + (": other processes shared the CPUs, so single figures are noisy"
                        " (ratios less so: implementations are timed in interleaved rounds)"
                        if load[0] >= 0.5 else ""))
    lines += [f"- Note: {note}" for note in doc.get("notes", [])]
    lines += ["", "Copy bandwidth (np.copyto, 256 MB per buffer, read + written bytes):", "",
              "| threads | median | GB/s |", "|---:|---:|---:|"]
    for c in doc["copy_bandwidth"]:
        lines.append(f"| {c['threads']} | {c['median_s'] * 1e3:.2f} ms | {c['gbps']:.1f} |")
    lines.append("")
    if has_plot:
        lines += ["![throughput per kernel and library](results.png)", ""]
    lines.append("All figures: [results.json](results.json).")
    lines.append("")
    body = report.markdown(doc)
    lines.append(body.replace("\n### ", "\n\n### ").rstrip())
    lines.append("")
    for kernel, family in families().items():  # registered now, not measured in this run
        info = doc["kernels"].get(kernel)
        if info is None or not info["available"]:
            lines += [f"### {kernel}", "",
                      f"**TO FILL (lead):** not measured yet (needs {family.requires}). "
                      "After merging it: `make bench`, then "
                      "`python tools/bench_readme.py build/bench/results.json`.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", help="a `python -m fastembed bench --json` file")
    p.add_argument("--readme", default=os.path.join(ROOT, "benchmarks", "README.md"))
    args = p.parse_args(argv)
    with open(args.json) as f:
        doc = json.load(f)
    if doc.get("schema") != report.SCHEMA:
        sys.exit(f"{args.json} is not a {report.SCHEMA} document")
    bench_dir = os.path.dirname(os.path.abspath(args.readme))
    plot = os.path.splitext(args.json)[0] + ".png"
    has_plot = os.path.exists(plot)
    if os.path.abspath(args.json) != os.path.join(bench_dir, "results.json"):
        shutil.copyfile(args.json, os.path.join(bench_dir, "results.json"))
        if has_plot:
            shutil.copyfile(plot, os.path.join(bench_dir, "results.png"))
    with open(args.readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{args.readme} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(args.readme, "w") as f:
        f.write(head + BEGIN + "\n" + section(doc, has_plot) + "\n" + END + tail)
    print(f"updated {args.readme}")


if __name__ == "__main__":
    main()
