#!/usr/bin/env python3
"""Plots of `voxattn bench` / perf/baselines.py JSON files.

usage: plot.py RESULTS.json [MORE.json ...] [--out DIR] [--prefix NAME]

Writes, from every record whose status is "ok":
  DIR/NAME_tflops_vs_density.png  effective TFLOP/s vs achieved density, one
                                  panel per preset, one series per device /
                                  baseline (dense runs sit at density 1)
  DIR/NAME_speedup_vs_seqlen.png  speedup over the same device's dense run
                                  (baselines: over cuDNN dense) vs sequence
                                  length, one series per device and mask setting

Needs matplotlib (Debian: apt-get install python3-matplotlib). Without it the
same data is printed as text and the script exits 0.
"""
import argparse
import json
import os
import sys
from collections import defaultdict


def load(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        for r in d.get("results", []):
            if r.get("status") == "ok" and r.get("ms_median"):
                r = dict(r)
                r["_src"] = os.path.basename(p)
                recs.append(r)
    return recs


def label(r):
    dev = r["device"] if r.get("backend") == "torch" else "voxattn " + r["device"]
    return "%s %s%s" % (dev, r.get("dtype", ""), r.get("_tag", ""))


def tag_duplicates(recs):
    """The same device in several files (e.g. two runs): tell the series apart by file name."""
    files = defaultdict(set)
    for r in recs:
        files[(label(r), r["preset"], r["mode"], r.get("param"))].add(r["_src"])
    if any(len(v) > 1 for v in files.values()):
        for r in recs:
            r["_tag"] = " [%s]" % r["_src"]


def series_key(r):
    return (label(r), r["mode"], r.get("param") or "")


def text_summary(recs):
    print("%-44s %-14s %-5s %-20s %8s %9s %9s %8s" % ("series", "preset", "mode", "param", "density", "tokens",
                                                       "TFLOP/s", "speedup"))
    for r in sorted(recs, key=lambda r: (r["preset"], label(r), -(r.get("density") or 0))):
        sp = r.get("speedup_vs_dense")
        print("%-44s %-14s %-5s %-20s %8.4f %9d %9.3f %8s" % (
            label(r)[:44], r["preset"], r["mode"], r.get("param") or "-", r.get("density") or 0, r.get("tokens") or 0,
            r.get("tflops_effective") or 0, "%.2fx" % sp if sp else "-"))


def main(argv=None):
    ap = argparse.ArgumentParser(description="plots of voxattn bench JSON files")
    ap.add_argument("json", nargs="+")
    ap.add_argument("--out", default=".", help="output folder (default .)")
    ap.add_argument("--prefix", default="voxattn", help="file name prefix (default voxattn)")
    args = ap.parse_args(argv)
    try:
        recs = load(args.json)
    except (OSError, ValueError) as e:
        print("plot: %s" % e, file=sys.stderr)
        return 2
    tag_duplicates(recs)
    if not recs:
        print("plot: no successful results in %s" % ", ".join(args.json), file=sys.stderr)
        return 0
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is not installed (apt-get install python3-matplotlib or pip install matplotlib);"
              " text summary instead:", file=sys.stderr)
        text_summary(recs)
        return 0
    os.makedirs(args.out, exist_ok=True)
    written = []

    # 1. effective TFLOP/s vs density, one panel per preset
    presets = sorted(set(r["preset"] for r in recs), key=lambda p: min(r["tokens"] for r in recs if r["preset"] == p))
    labels = sorted(set(label(r) for r in recs))
    cmap = plt.get_cmap("tab10")
    color = {lab: cmap(i % 10) for i, lab in enumerate(labels)}
    marker = {"dense": "s", "bsa": "o", "svg": "^"}
    n = len(presets)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.6 * rows), squeeze=False)
    for ax, preset in zip(axes.flat, presets):
        rs = [r for r in recs if r["preset"] == preset]
        for lab in labels:
            pts = sorted((r["density"], r["tflops_effective"], r["mode"], r.get("keep") or 1.0) for r in rs
                         if label(r) == lab and r.get("tflops_effective") is not None
                         and r.get("density") is not None)
            if not pts:
                continue
            line = [p for p in pts if p[2] != "svg" and p[3] >= 1.0]  # BSA curve (no query pruning) + dense
            ax.plot([p[0] for p in line], [p[1] for p in line], "-", color=color[lab], alpha=0.5, lw=1)
            for mode in marker:
                sel = [p for p in pts if p[2] == mode]
                if sel:
                    ax.scatter([p[0] for p in sel], [p[1] for p in sel], color=color[lab], marker=marker[mode],
                               s=30, zorder=3)
            ax.plot([], [], "-o", color=color[lab], label=lab)
        r0 = rs[0]
        ax.set_title("%s: %dx%dx%d+%d tokens, %d heads, D %d" % (preset, r0["frames"], r0["height"], r0["width"],
                                                                 r0["text"], r0["heads"], r0["head_dim"]), fontsize=9)
        ax.set_xlabel("density (computed blocks / all blocks)")
        ax.set_ylabel("effective TFLOP/s")
        ax.set_xlim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    names = sorted(set(r["device_name"] for r in recs if r.get("device_name")))
    if len(names) == 1:  # one GPU under several APIs: name it once
        devs = ["all on " + names[0]]
    else:
        devs = sorted(set("%s = %s" % (r["device"], r["device_name"]) for r in recs if r.get("device_name")))
    fig.suptitle("effective TFLOP/s vs density (square: dense, circle: BSA, triangle: SVG)\n" + "; ".join(devs)[:300],
                 fontsize=9)
    fig.tight_layout()
    p1 = os.path.join(args.out, args.prefix + "_tflops_vs_density.png")
    fig.savefig(p1, dpi=120)
    plt.close(fig)
    written.append(p1)

    # 2. speedup vs sequence length
    groups = defaultdict(list)
    for r in recs:
        if r.get("speedup_vs_dense") and r["mode"] != "dense":
            groups[series_key(r)].append((r["tokens"], r["speedup_vs_dense"], r["density"]))
    fig, ax = plt.subplots(figsize=(8, 5))
    if groups:
        cmap2 = plt.get_cmap("tab20")
        for i, (key, pts) in enumerate(sorted(groups.items())):
            pts.sort()
            lab, mode, param = key
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-" + marker.get(mode, "o"), color=cmap2(i % 20),
                    label="%s %s %s" % (lab, mode, param))
        ax.set_xscale("log")
        ax.legend(fontsize=6, ncol=1 if len(groups) < 12 else 2)
    else:
        ax.text(0.5, 0.5, "no sparse runs with a dense reference", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("speedup vs dense (same device; baselines: vs cuDNN dense)")
    ax.set_title("sparse attention speedup vs sequence length", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    p2 = os.path.join(args.out, args.prefix + "_speedup_vs_seqlen.png")
    fig.savefig(p2, dpi=120)
    plt.close(fig)
    written.append(p2)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
