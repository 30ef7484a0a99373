#!/usr/bin/env python3
"""Markdown table from `voxattn bench` and `perf/baselines.py` JSON files.

One row per (preset, mask configuration); for every device or baseline the
median ms and effective TFLOP/s, plus the achieved density, the mask-building
time (voxattn's first GPU device that built it) and each device's speedup over
its own dense run. Dense PyTorch baselines (cuDNN, flash) appear in the dense
rows; flex_attention in the sparse rows it ran with the same exported mask.

usage: report.py FILE.json [FILE.json ...] [--out table.md]
"""
import argparse
import json
import math
import sys

BASELINE_ORDER = ["torch-cudnn", "torch-flash", "torch-flex"]
MODE_NAMES = {"dense": "dense", "bsa": "BSA", "svg": "SVG"}


def fmt_ms(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return "%.3g" % x if x < 100 else "%.0f" % x


def fmt_num(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return ("%." + str(digits) + "g") % x


def load(paths):
    rows, metas = [], []
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        metas.append(d.get("meta", {}))
        for r in d.get("results", []):
            if r.get("status") == "ok":
                rows.append(r)
    return rows, metas


def column_order(rows):
    devs = []
    for r in rows:
        if r["backend"] != "torch" and r["device"] not in devs:
            devs.append(r["device"])
    base = [b for b in BASELINE_ORDER if any(r["device"] == b for r in rows)]
    return devs, base


def table(rows):
    devs, base = column_order(rows)
    labels = {}
    for r in rows:
        labels[r["device"]] = r["device"] if r["backend"] == "torch" else "%s (%s)" % (r["device"], r["backend"])
    keys = []
    for r in rows:
        if r["backend"] == "torch":
            continue
        k = (r["preset"], r["mode"], r["param"])
        if k not in keys:
            keys.append(k)
    by = {(r["preset"], r["mode"], r["param"], r["device"]): r for r in rows}
    cols = devs + base
    head = ["preset", "mask", "density"] + ["%s ms / TFLOP/s / x dense" % labels[c] if c in devs
                                             else "%s ms / TFLOP/s" % labels[c] for c in cols] + ["mask build ms"]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for preset, mode, param in keys:
        first = next(by[(preset, mode, param, d)] for d in devs if (preset, mode, param, d) in by)
        mask = MODE_NAMES.get(mode, mode) + (" " + param if param else "")
        cells = [preset, mask, "%.3f" % first["density"]]
        for c in cols:
            r = by.get((preset, mode, param, c))
            if r is None:
                cells.append("–")
            elif c in devs:
                sp = r.get("speedup_vs_dense")
                cells.append("%s / %s / %s" % (fmt_ms(r["ms_median"]), fmt_num(r["tflops_effective"]),
                                               "%.2fx" % sp if sp and sp == sp else "–"))
            else:
                cells.append("%s / %s" % (fmt_ms(r["ms_median"]), fmt_num(r["tflops_effective"])))
        builds = [by[(preset, mode, param, d)].get("build_ms") for d in devs if (preset, mode, param, d) in by]
        builds = [b for b in builds if b]
        cells.append(fmt_ms(builds[0]) if builds else "–")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def backward_table(rows):
    """Rows with backward timings (bench --backward, baselines.py --backward): backward alone and
    forward + backward, ms / effective TFLOP/s (2.5x and 3.5x the forward's FLOPs); "" if none."""
    timed = [r for r in rows if r.get("bwd_ms")]
    failed = [r for r in rows if r.get("bwd_status")]
    if not timed and not failed:
        return ""
    out = ["| preset | mask | density | run | backward ms / TFLOP/s | forward + backward ms / TFLOP/s |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in timed + failed:
        mask = MODE_NAMES.get(r["mode"], r["mode"]) + (" " + r["param"] if r["param"] else "")
        run = r["device"] if r["backend"] == "torch" else "%s (%s)" % (r["device"], r["backend"])
        if r.get("bwd_ms"):
            cells = ["%s / %s" % (fmt_ms(r["bwd_ms"]), fmt_num(r.get("bwd_tflops_effective"))),
                     "%s / %s" % (fmt_ms(r["fwdbwd_ms"]), fmt_num(r.get("fwdbwd_tflops_effective")))]
        else:
            cells = ["failed: " + r["bwd_status"][:90], "–"]
        out.append("| %s | %s | %.3f | %s | %s |" % (r["preset"], mask, r["density"], run, " | ".join(cells)))
    return "\n".join(out)


def header(metas, rows):
    lines = []
    for m in metas:
        for d in m.get("devices", []):
            line = "- %s `%s`: %s, %s" % (d.get("backend", ""), d.get("id"), d.get("name"), d.get("driver", ""))
            if line not in lines:
                lines.append(line)
    dates = sorted(m.get("date", "") for m in metas if m.get("date"))
    shapes = sorted({(r["preset"], r["tokens"], r["heads"], r["head_dim"], r["dtype"], tuple(r["block"] or ()))
                     for r in rows if r["backend"] != "torch"})
    runs = sorted({r["runs"] for r in rows})
    s = ["Run: %s to %s; timed runs per point: %s (median reported)." % (dates[0], dates[-1],
                                                                         ", ".join(map(str, runs)))
         if dates else ""]
    s += lines
    s += ["- `%s`: %d tokens, %d heads, D=%d, %s, blocks %s" % (p, n, h, d, dt, "x".join(map(str, b)))
          for p, n, h, d, dt, b in shapes]
    return "\n".join(x for x in s if x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--out", help="write the markdown here too")
    args = ap.parse_args(argv)
    rows, metas = load(args.json)
    if not rows:
        print("report: no ok results in %s" % ", ".join(args.json), file=sys.stderr)
        return 1
    text = header(metas, rows) + "\n\n" + table(rows) + "\n"
    bt = backward_table(rows)
    if bt:
        text += "\nBackward:\n\n" + bt + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
