#!/bin/sh
# Builds tools/bm_emu and runs its matrix; one line per run and a count of failed runs.
# usage: [KERNELS="pipe lean ring"] sh tools/bm_emu/run.sh   (lean_brk: the deliberate break, fails with specials)
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); T=$(mktemp -d)
# block_means.cuh (and the half_bits.cuh it includes) next to an empty mma_sync.cuh: bm_emu.cpp's cp.async
# stand-ins are used instead
cp "$R/backends/gpu/kernels/block_means.cuh" "$R/backends/gpu/kernels/half_bits.cuh" "$T/" && : > "$T/mma_sync.cuh"
g++ -std=c++20 -O1 -pthread -I"$R/core" -I"$T" "$R/tools/bm_emu/bm_emu.cpp" -o "$T/bm_emu" || exit 2
n=0; f=0
for k in ${KERNELS:-pipe lean ring}; do for dt in 1 2; do for D in 128 64 72; do for V in 64 128; do
for kept in 0 1; do for sp in 0 1; do
  n=$((n + 1))
  "$T/bm_emu" $k $dt $D $V $kept $sp > "$T/o" 2>&1 || { f=$((f + 1)); echo "FAIL: $(tail -1 "$T/o")"; }
done; done; done; done; done; done
echo "bm_emu: $n runs, $f failed"; rm -rf "$T"; [ $f = 0 ]
