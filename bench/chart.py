#!/usr/bin/env python3
"""chart.py: the chart of a bench/run.sh run.

    python3 bench/chart.py MEDIANS.tsv OUT.png [TITLE]

MEDIANS.tsv is what run.sh writes beside the CSV (bench-medians.tsv: workload,
contender, median ops/s, min, max, median peak RSS in MiB). The chart has two
panels sharing the workload axis: throughput and peak RSS, each as the
contender's median over the system allocator's in the same run (1 = glibc),
with the min-max range of throughput as a whisker; bars start at 1. Ratios, not absolute
figures, because only ratios from one run compare on a shared machine.

Needs matplotlib (run.sh falls back to gnuplot, then to no chart).
"""
import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after use())

COLOURS = {
    "hakmem": "#d62728",
    "mimalloc": "#1f77b4",
    "jemalloc": "#2ca02c",
    "tcmalloc": "#ff7f0e",
}


def load(path):
    rows = {}
    workloads, contenders = [], []
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            w, c = r["workload"], r["contender"]
            if w not in workloads:
                workloads.append(w)
            if c not in contenders:
                contenders.append(c)
            rows[w, c] = (float(r["median_ops_per_s"]), float(r["min"]), float(r["max"]),
                          float(r["median_peak_rss_mib"]))
    return rows, workloads, contenders


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: chart.py MEDIANS.tsv OUT.png [TITLE]")
    rows, workloads, contenders = load(sys.argv[1])
    title = sys.argv[3] if len(sys.argv) > 3 else "hakmem benchmarks"
    if "system" not in contenders or not workloads:
        sys.exit("chart.py: no system rows to take ratios to")

    # The system allocator is the line at 1, not a bar.
    bars = [c for c in contenders if c != "system"]
    height = 0.8 / len(bars)
    fig, (ax_t, ax_r) = plt.subplots(1, 2, sharey=True,
                                     figsize=(14, 1.2 + 0.42 * len(workloads)))
    for j, c in enumerate(bars):
        ys, tput, lo, hi, rss = [], [], [], [], []
        for i, w in enumerate(workloads):
            base = rows.get((w, "system"))
            mine = rows.get((w, c))
            if base is None or mine is None or base[0] <= 0 or base[3] <= 0:
                continue
            ys.append(i - 0.4 + height * (j + 0.5))
            tput.append(mine[0] / base[0])
            lo.append(max(mine[0] - mine[1], 0) / base[0])
            hi.append(max(mine[2] - mine[0], 0) / base[0])
            rss.append(mine[3] / base[3])
        colour = COLOURS.get(c, None)
        # Bars grow from 1 (the system allocator), right for more, left for
        # less, so that on the log axis x2 and x0.5 look the same size.
        ax_t.barh(ys, [t - 1 for t in tput], left=1, height=height, color=colour, label=c,
                  xerr=[lo, hi], error_kw={"elinewidth": 0.6, "capsize": 0})
        ax_r.barh(ys, [r - 1 for r in rss], left=1, height=height, color=colour, label=c)

    for ax in (ax_t, ax_r):
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.grid(axis="x", linewidth=0.3)
    ax_t.set_xscale("log", base=2)
    ax_r.set_xscale("log", base=2)
    ax_t.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax_r.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v))
    ax_t.set_yticks(range(len(workloads)))
    ax_t.set_yticklabels(workloads)
    ax_t.invert_yaxis()
    ax_t.set_title("throughput / system's (median, min-max); higher is better", fontsize=10)
    ax_r.set_title("peak RSS / system's (median); lower is better", fontsize=10)
    handles, labels = ax_t.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", ncol=len(bars), fontsize=8)

    # Geometric means, the suite's one-figure summary, under the panels.
    notes = []
    for c in contenders:
        if c == "system":
            continue
        rs = [rows[w, c][3] / rows[w, "system"][3] for w in workloads
              if (w, c) in rows and rows[w, "system"][3] > 0]
        ts = [rows[w, c][0] / rows[w, "system"][0] for w in workloads
              if (w, c) in rows and rows[w, "system"][0] > 0]
        if rs and ts:
            gt = math.exp(sum(map(math.log, ts)) / len(ts))
            gr = math.exp(sum(map(math.log, rs)) / len(rs))
            notes.append("%s: speed x%.2f, peak RSS x%.2f" % (c, gt, gr))
    fig.suptitle(title, fontsize=12)
    fig.text(0.5, 0.005, "geometric means over the suite, relative to system: " + "; ".join(notes),
             ha="center", va="bottom", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
