#!/usr/bin/env python3
"""Turns the scheduler benchmark's criterion output into a table and a chart.

Reads target/criterion/{framework,end_to_end,baseline}/<workload>/<nodes>/new/ (written by
`cargo bench --bench scheduler`), then:

- writes docs/scheduler.svg: pods/s against node count, per workload, framework alone
  (solid) and end to end (dashed), on a log scale, with Kubernetes' scheduler_perf floors
  drawn across;
- rewrites the table between the markers in docs/benchmarks/scheduler.md;
- prints the table.

Given several criterion directories (copies of target/criterion from repeated runs), each
figure is the median of the runs and the table shows the range beside it: the machine
the figures come from is shared, and one run can be off by a factor of two.

Standard library only. Usage: python3 scripts/scheduler_chart.py [criterion-dir ...]
"""

import json
import math
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = ["framework", "end_to_end", "baseline"]
WORKLOADS = ["basic", "affinity_taints", "anti_affinity", "topology_spread", "preemption"]
# Kubernetes' scheduler_perf thresholds at 5,000 nodes (pods/s).
FLOORS = [
    ("SchedulingBasic", 680, "basic"),
    ("PreemptionBasic", 570, "preemption"),
    ("mixed churn", 710, None),
]
COLORS = {
    "basic": "#1f77b4",
    "affinity_taints": "#2ca02c",
    "anti_affinity": "#9467bd",
    "topology_spread": "#ff7f0e",
    "preemption": "#d62728",
}
TABLE_START = "<!-- scheduler-table:start -->"
TABLE_END = "<!-- scheduler-table:end -->"


def read_results(criterion_dir):
    """{(family, workload, nodes): pods per second} from criterion's estimates."""
    results = {}
    for family in FAMILIES:
        for workload in WORKLOADS:
            base = os.path.join(criterion_dir, family, workload)
            if not os.path.isdir(base):
                continue
            for nodes in os.listdir(base):
                new = os.path.join(base, nodes, "new")
                try:
                    with open(os.path.join(new, "benchmark.json")) as f:
                        bench = json.load(f)
                    with open(os.path.join(new, "estimates.json")) as f:
                        est = json.load(f)
                except (OSError, ValueError):
                    continue
                elements = (bench.get("throughput") or {}).get("Elements")
                mean_ns = est["mean"]["point_estimate"]
                if not elements or mean_ns <= 0:
                    continue
                results[(family, workload, int(nodes))] = elements / (mean_ns / 1e9)
    return results


def combine(runs):
    """{key: (median, min, max)} over the runs that measured each key."""
    keys = set().union(*runs)
    out = {}
    for k in keys:
        vals = [r[k] for r in runs if k in r]
        out[k] = (statistics.median(vals), min(vals), max(vals))
    return out


def fmt(v):
    if v is None:
        return "–"
    if v >= 100_000:
        return f"{v / 1000:,.0f}k"
    if v >= 10_000:
        return f"{v / 1000:,.1f}k"
    return f"{v:,.0f}"


def cell(stats):
    if stats is None:
        return "–"
    mid, lo, hi = stats
    if lo == hi:
        return fmt(mid)
    return f"{fmt(mid)} ({fmt(lo)}–{fmt(hi)})"


def table(stats):
    results = {k: v[0] for k, v in stats.items()}
    lines = [
        "| workload | nodes | framework, 1 core (pods/s) | end to end (pods/s) "
        "| bare CPU/memory loop (pods/s) | framework cost vs bare loop | Kubernetes floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    sizes = sorted({n for (_, _, n) in results})
    for workload in WORKLOADS:
        for nodes in sizes:
            fw = results.get(("framework", workload, nodes))
            e2e = results.get(("end_to_end", workload, nodes))
            base = results.get(("baseline", workload, nodes))
            if fw is None and e2e is None:
                continue
            ratio = f"{base / fw:,.0f}×" if fw and base else "–"
            floor = next(
                (f"{v} ({name})" for name, v, w in FLOORS if w == workload and nodes == 5000),
                "–",
            )
            lines.append(
                f"| {workload} | {nodes:,} | {cell(stats.get(('framework', workload, nodes)))} "
                f"| {cell(stats.get(('end_to_end', workload, nodes)))} | {fmt(base)} | {ratio} | {floor} |"
            )
    return "\n".join(lines)


def svg(results):
    width, height = 1000, 560
    left, right, top, bottom = 80, 330, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for (f, _, _), v in results.items() if f != "baseline"] + [v for _, v, _ in FLOORS]
    lo = 10 ** math.floor(math.log10(min(values) * 0.8))
    hi = 10 ** math.ceil(math.log10(max(values) * 1.2))
    sizes = sorted({n for (_, _, n) in results})
    xs = [math.log10(n) for n in sizes]
    x_lo, x_hi = (xs[0] - 0.15, xs[-1] + 0.15) if xs else (2, 4)

    def x(n):
        return left + (math.log10(n) - x_lo) / (x_hi - x_lo) * plot_w

    def y(v):
        return top + (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">kube-sched: pods scheduled per second</text>',
    ]
    # Grid and axes.
    decade = lo
    while decade <= hi:
        for m in (1, 2, 5):
            v = decade * m
            if lo <= v <= hi:
                yy = y(v)
                stroke = "#ccc" if m == 1 else "#eee"
                out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="{stroke}"/>')
                out.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        decade *= 10
    for n in sizes:
        xx = x(n)
        out.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{xx:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{n:,} nodes</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(
        f'<text x="18" y="{top + plot_h / 2}" transform="rotate(-90 18 {top + plot_h / 2})" '
        'text-anchor="middle">pods/s (log scale)</text>'
    )
    # Kubernetes' floors.
    for name, v, _ in FLOORS:
        yy = y(v)
        out.append(
            f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" '
            'stroke="#b00" stroke-width="1.5" stroke-dasharray="2,3"/>'
        )
    # Series.
    legend_y = top + 10
    lx = left + plot_w + 16
    out.append(
        f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 26}" y2="{legend_y}" stroke="#b00" '
        'stroke-width="1.5" stroke-dasharray="2,3"/>'
    )
    out.append(f'<text x="{lx + 32}" y="{legend_y + 4}" fill="#b00">Kubernetes scheduler_perf floors</text>')
    legend_y += 16
    for name, v, _ in sorted(FLOORS, key=lambda f: -f[1]):
        out.append(f'<text x="{lx + 32}" y="{legend_y + 4}" fill="#b00">{v} {name} (5,000 nodes)</text>')
        legend_y += 16
    legend_y += 10
    for workload in WORKLOADS:
        color = COLORS[workload]
        for family, dash, label in (("framework", "", "framework, 1 core"), ("end_to_end", "6,4", "end to end")):
            pts = [(n, results[(family, workload, n)]) for n in sizes if (family, workload, n) in results]
            if not pts:
                continue
            path = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in pts)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>')
            for n, v in pts:
                out.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}"/>')
            lx = left + plot_w + 16
            out.append(
                f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 26}" y2="{legend_y}" stroke="{color}" '
                f'stroke-width="2"{dash_attr}/>'
            )
            out.append(f'<text x="{lx + 32}" y="{legend_y + 4}">{workload}, {label}</text>')
            legend_y += 20
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    dirs = sys.argv[1:] or [os.path.join(ROOT, "target", "criterion")]
    runs = [r for r in (read_results(d) for d in dirs) if r]
    if not runs:
        sys.exit(f"no scheduler results under {dirs}: run `cargo bench --bench scheduler` first")
    stats = combine(runs)
    rendered = table(stats)
    if len(runs) > 1:
        rendered += f"\n\nMedian of {len(runs)} runs, range in brackets."
    with open(os.path.join(ROOT, "docs", "scheduler.svg"), "w") as f:
        f.write(svg({k: v[0] for k, v in stats.items()}))
    doc = os.path.join(ROOT, "docs", "benchmarks", "scheduler.md")
    if os.path.exists(doc):
        with open(doc) as f:
            text = f.read()
        if TABLE_START in text and TABLE_END in text:
            head, rest = text.split(TABLE_START, 1)
            _, tail = rest.split(TABLE_END, 1)
            with open(doc, "w") as f:
                f.write(f"{head}{TABLE_START}\n{rendered}\n{TABLE_END}{tail}")
    print(rendered)


if __name__ == "__main__":
    main()
