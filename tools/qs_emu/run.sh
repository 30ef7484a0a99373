#!/bin/sh
# Builds tools/qs_emu and runs its matrix; prints one line per failing run and a count.
# usage: [STAGES="0 1 9 17 25"] sh tools/qs_emu/run.sh [KERNEL_DIR (default backends/gpu/kernels)]
# (STAGES: the kernels, qs_emu's STAGE values; default the warp kernel and the staged kernel)
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); K=${1:-$R/backends/gpu/kernels}; T=$(mktemp -d)
g++ -std=c++20 -O1 -pthread -include "$R/tools/qs_emu/emu_port.h" -I"$R/core" -I"$K" "$R/tools/qs_emu/qs_emu.cpp" -o "$T/qs_emu" || exit 2
n=0; f=0
for st in ${STAGES:-0 1}; do
for dt in 0 1 2; do for D in 32 128; do for m in 0 1 2 3 4; do for fl in 0 1; do for w in "" x b; do for c in "" 1; do
  n=$((n + 1))
  if ! env STAGE=$st ${c:+CALLER=1} "$T/qs_emu" $m $fl $dt $D 0.5 $w > "$T/o" 2>&1; then f=$((f + 1)); echo "FAIL: STAGE=$st ${c:+CALLER=1 }qs_emu $m $fl $dt $D 0.5 $w: $(tail -1 "$T/o")"; fi
done; done; done; done; done; done; done
echo "qs_emu: $n runs, $f failed"; rm -rf "$T"; [ $f = 0 ]
