#!/usr/bin/env python3
"""Summarises Nsight Compute's source page of one kernel (`ncu -i REP --page source --csv --print-source sass`):
the warp-stall samples by reason, then the N instructions with the most samples, each with its two largest
reasons. usage: ncu_stalls.py CSV [N]"""
import csv
import sys


def num(r, i):
    """column i of row r as an integer (0 where empty or absent)"""
    try:
        return int(r[i])
    except (ValueError, IndexError):
        return 0


def load(path):
    """the source page's kernel name, header, instruction rows and the stall-reason columns (all samples)"""
    rows = list(csv.reader(open(path)))
    name = rows[0][1] if rows and len(rows[0]) > 1 else "?"
    hdr = rows[1]
    reasons = [i for i, h in enumerate(hdr) if h.startswith("stall_") and "Not Issued" not in h]
    return name, hdr, rows[2:], reasons


def main():
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
    name, hdr, data, reasons = load(path)
    total = sum(num(r, 2) for r in data)
    print(f"{name}: {len(data)} SASS instructions, {total} warp-stall samples")
    sums = sorted(((sum(num(r, i) for r in data), hdr[i]) for i in reasons), reverse=True)
    for v, h in sums[:10]:
        print(f"  {h:<24} {v:7d} {100.0 * v / max(total, 1):5.1f}%")
    print(f"top {top} instructions (index in the SASS listing, samples, instruction, two largest reasons):")
    for k in sorted(range(len(data)), key=lambda k: -num(data[k], 2))[:top]:
        r = data[k]
        st = sorted(((num(r, i), hdr[i][6:]) for i in reasons), reverse=True)[:2]
        print(f"  {k:6d} {num(r, 2):6d} {r[1].strip()[:58]:<58} {st[0][1]} {st[0][0]}, {st[1][1]} {st[1][0]}")


if __name__ == "__main__":
    main()
