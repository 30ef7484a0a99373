#!/bin/sh
# Builds tools/qs_emu and runs its matrix; prints one line per failing run and a count.
# usage: [STAGES="0 1 9 17 25"] [MEANS=0|1] [BREAK=1|2] [MODES=..] [DTS=..] [DS=..] sh tools/qs_emu/run.sh [KERNEL_DIR (default backends/gpu/kernels)]
# (STAGES: the kernels, qs_emu's STAGE values; default the warp kernel and the staged kernel. MEANS (default 1):
# the staged runs also write and check the q means of the kept rows (VOXATTN_QUERY_SELECT_MEANS). BREAK: build
# with a deliberate break of those means (VOX_QSM_BREAK: 1 rows summed descending, 2 a block's last kept row left
# out). MODES, DTS, DS: a smaller matrix (default 0-4, 0-2, 32 128).)
set -u
R=$(cd "$(dirname "$0")/../.." && pwd); K=${1:-$R/backends/gpu/kernels}; T=$(mktemp -d)
g++ -std=c++20 -O1 -pthread ${BREAK:+-DVOX_QSM_BREAK=$BREAK} -include "$R/tools/qs_emu/emu_port.h" -I"$R/core" -I"$K" "$R/tools/qs_emu/qs_emu.cpp" -o "$T/qs_emu" || exit 2
n=0; f=0
for st in ${STAGES:-0 1}; do
for dt in ${DTS:-0 1 2}; do for D in ${DS:-32 128}; do for m in ${MODES:-0 1 2 3 4}; do for fl in 0 1; do for w in "" x b; do for c in "" 1; do
  n=$((n + 1))
  if ! env STAGE=$st MEANS=${MEANS:-1} ${c:+CALLER=1} "$T/qs_emu" $m $fl $dt $D 0.5 $w > "$T/o" 2>&1; then f=$((f + 1)); echo "FAIL: STAGE=$st MEANS=${MEANS:-1} ${c:+CALLER=1 }qs_emu $m $fl $dt $D 0.5 $w: $(tail -1 "$T/o")"; fi
done; done; done; done; done; done; done
echo "qs_emu: $n runs, $f failed"; rm -rf "$T"; [ $f = 0 ]
