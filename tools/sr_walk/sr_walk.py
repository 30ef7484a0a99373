#!/usr/bin/env python3
"""tools/sr_walk: the tile walk of shaders/sample_rows_nv2.comp's -DSR_NV2_PIPE form (`advance`, two tiles
ahead, the next block's valid count loaded a block early; OpenCL's SRM_WALK, `vox_srm_advance` in
backends/opencl/kernels/sample_rows_mma.cl, is the same walk with a signed block index) against the plain walk
(`next_tile` in shaders/sample_rows_tile.glsl, the skip loop of sample_rows_mma.cl), as Python models of both: the same sequence of (block, first key, valid keys)
tiles for random splits of random blocks (empty and partial blocks, several tiles a block, empty splits).
Run: python3 tools/sr_walk/sr_walk.py [cases]   (session 43 ran 20,000: equal). A model of the GLSL, not the
shader itself: edit both together."""
import random
import sys

KT = 64  # SR_KT: keys a tile
U32 = 2 ** 32


def default_walk(valid, jb0, jb1):
    """next_tile(): the block's valid count read when the cursor reaches the block"""
    out, jb, c0, nv = [], (jb0 - 1) % U32, 0, 0

    def step():
        nonlocal jb, c0, nv
        c0 += KT
        while c0 >= nv:
            jb = (jb + 1) % U32
            if jb >= jb1:
                return False
            nv, c0 = valid[jb], 0
        return True

    have = jb0 < jb1 and step()
    while have:
        out.append((jb, c0, min(nv - c0, KT)))
        have = step()
    return out


def pipe_walk(valid, jb0, jb1):
    """advance(): positions (jb, c0, nv, nvn), nvn the next block's count loaded a block early; the loop keeps
    cur (computed), p1 (rows in flight) and p2 (the one after)"""
    end = jb1

    def bvalid(j):
        return valid[j] if j < end else 0

    def advance(p):
        jb, c0, nv, nvn = p
        c0 += KT
        while c0 >= nv:
            jb = (jb + 1) % U32
            if jb >= end:
                jb = end
                break
            nv, nvn, c0 = nvn, bvalid(jb + 1), 0
        return (jb, c0, nv, nvn)

    out = []
    p1 = advance(((jb0 - 1) % U32, 0, 0, bvalid(jb0)))
    p2 = advance(p1)
    have = p1[0] < end
    cur, p1, p2 = p1, p2, advance(p2)
    while have:
        out.append((cur[0], cur[1], min(cur[2] - cur[1], KT)))
        have = p1[0] < end
        cur, p1, p2 = p1, p2, advance(p2)
    return out


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rng = random.Random(1)
    for _ in range(cases):
        nb, v = rng.randint(1, 12), rng.choice([8, 27, 64, 100, 128, 200])
        valid = [rng.choice([0, v, v, rng.randint(0, v)]) for _ in range(nb)]
        jb0 = rng.randint(0, nb)
        jb1 = rng.randint(jb0, nb)
        a, b = default_walk(valid, jb0, jb1), pipe_walk(valid, jb0, jb1)
        if a != b:
            print("differ:", valid, jb0, jb1, a, b)
            return 1
    print(f"sr_walk: {cases} splits, the same tiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
