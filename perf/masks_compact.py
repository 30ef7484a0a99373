#!/usr/bin/env python3
"""Convert a pack_stats --save mask file (perf/pack_stats.c, x86-64 struct layout) into the
compact file that backends/cuda/sm90/bench_sm90 reads with VOX_MASKS (the real BSA masks of
the bench's workload for the harness's "real keep*" configs). Little-endian:
  b"VXM1", int32 NB, NBv, gt, gh, gw, V, H (heads), nk (keeps); int32 valid[NB];
  per keep: float64 keep; per head: uint16 cnt[NB], uint8 kept[NB], uint16 cols[sum cnt].
usage: masks_compact.py IN OUT"""
import struct, sys
from array import array

def main(src, dst):
    f = open(src, "rb")
    NB, NBv, gt, gh, gw, V, BH, words = struct.unpack("<8i", f.read(32))
    f.read(16)  # the two pointers of geom
    nk, = struct.unpack("<i", f.read(4))
    BH2, = struct.unpack("<q", f.read(8))
    valid = array("i"); valid.frombytes(f.read(4 * NB))
    out = open(dst, "wb")
    out.write(b"VXM1" + struct.pack("<8i", NB, NBv, gt, gh, gw, V, BH2, nk))
    out.write(valid.tobytes())
    for _ in range(nk):
        keep, pruned = struct.unpack("<di", f.read(12))
        f.read(28)
        out.write(struct.pack("<d", keep))
        for _h in range(BH2):
            ptr = array("i"); ptr.frombytes(f.read(4 * (NB + 1)))
            cols = array("i"); cols.frombytes(f.read(4 * ptr[NB]))
            kept = array("i"); kept.frombytes(f.read(4 * NB))
            out.write(array("H", [ptr[i + 1] - ptr[i] for i in range(NB)]).tobytes())
            out.write(bytes(min(max(k, 0), 255) for k in kept))
            out.write(array("H", cols).tobytes())
        print("keep %g: %d heads" % (keep, BH2), file=sys.stderr)
    out.close()

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
