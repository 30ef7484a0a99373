#!/usr/bin/env python3
"""Nsight Compute's per-instruction counters summed per source line.

usage: ncu_lines.py CSV SASS [N]
  CSV   `ncu -i REP --page source --csv --print-source sass` of one kernel (the library's build, no line info)
  SASS  `nvdisasm -c -gi` of the same kernel from a cubin of the same source built with -lineinfo (-lineinfo
        changes no instruction; the opcodes are checked one by one against CSV's)
Prints, for the N source lines with the most warp-stall samples, the samples, the warp instructions executed
and the two largest stall reasons; a line is the innermost inlined location outside the toolkit's headers
(`file:line`), or with OUTER=k in the environment the k-th location from the kernel's body outwards in
(OUTER=1: the kernel's own lines, each with everything it inlines)."""
import os
import re
import sys
from collections import defaultdict

from ncu_stalls import load, num

INS = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;?\s*$")
LOC = re.compile(r'//## File "([^"]+)", line (\d+)')
OUTER = int(os.environ.get("OUTER", "0"))


def location(chain):
    """chain: the (file, line) frames nvdisasm -gi prints before an instruction, innermost first"""
    name = [f"{f.rsplit('/', 1)[-1]}:{n}" for f, n in chain] or ["?"]
    if OUTER > 0:
        return name[max(len(name) - OUTER, 0)]
    for (f, _), n in zip(chain, name):
        if "/include/" not in f:
            return n
    return name[-1]


def sass_lines(path):
    """[(opcode, location)] in address order"""
    out, chain, loc = [], [], "?"
    for s in open(path):
        m = LOC.search(s)
        if m:
            chain.append((m.group(1), m.group(2)))
            continue
        m = INS.match(s)
        if m:
            if chain:
                loc, chain = location(chain), []
            out.append((opcode(m.group(2)), loc))
    return out


def opcode(text):
    t = text.strip()
    if t.startswith("@"):
        t = t.split(None, 1)[1] if " " in t else t
    return t.split()[0] if t else ""


def main():
    cpath, spath = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    _, hdr, data, reasons = load(cpath)
    col = {h: i for i, h in enumerate(hdr)}
    lines = sass_lines(spath)
    if len(lines) != len(data):
        sys.exit(f"{spath}: {len(lines)} instructions, {cpath}: {len(data)}: not the same kernel")
    bad = sum(1 for (op, _), r in zip(lines, data) if op != opcode(r[1]))
    samp, inst = defaultdict(int), defaultdict(int)
    why = defaultdict(lambda: defaultdict(int))
    for (op, loc), r in zip(lines, data):
        samp[loc] += num(r, col["Warp Stall Sampling (All Samples)"])
        inst[loc] += num(r, col["Instructions Executed"])
        for i in reasons:
            why[loc][hdr[i][6:]] += num(r, i)
    ts, ti = sum(samp.values()), sum(inst.values())
    print(f"{len(data)} instructions ({bad} opcodes differ), {ts} samples, {ti} warp instructions executed")
    print(f"{'line':<28} {'samples':>8} {'%':>5} {'executed':>11} {'%':>5}  reasons")
    for loc in sorted(samp, key=lambda k: -samp[k])[:top]:
        w = sorted(why[loc].items(), key=lambda kv: -kv[1])[:2]
        print(f"{loc:<28} {samp[loc]:8d} {100.0 * samp[loc] / max(ts, 1):5.1f} {inst[loc]:11d} "
              f"{100.0 * inst[loc] / max(ti, 1):5.1f}  " + ", ".join(f"{k} {v}" for k, v in w))


if __name__ == "__main__":
    main()
