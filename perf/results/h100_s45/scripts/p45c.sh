#!/bin/sh
# session 45, call c: per launch (VOXATTN_GPU_PROFILE=1, -v; host-timed incl. launch): phase 1 alone of _wgs2
# and of _chain (VOXATTN_KV_SELECT_WGS_P1: no lists, so the bench's stats fail after the builds; the launches
# are what counts), and _wgs2 / _ss2 / _ss2h in turn in one process (VOXATTN_KV_SELECT_SS_ABL).
. tools/gpu_call.sh
H=hunyuan-720p
T="--mode bsa --density 0.1 --keep 1 --build-only --warmup 2 --runs 10 -v"
prof() {
  timeout 100 env VOXATTN_GPU_PROFILE=1 $2 "$B/cli/voxattn" bench --device cuda:0 --preset $H $T >"$L/p_$1.txt" 2>&1
  echo "$1 [$2] rc=$?: $(grep -oE 'vox_kv_select_fast_kb_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_$1.txt" |
    awk '{n[$1]++; v[$1]=v[$1]" "$NF} END {for (k in n) print k":"v[k]}' | tr '\n' ';') $(el)" >>"$S"
}
prof w1 "VOXATTN_KV_SELECT_WGS_P1=1"
prof c1 "VOXATTN_KV_SELECT_WGS_P1=1 VOXATTN_KV_SELECT_WG_CHAIN=1"
prof abl "VOXATTN_KV_SELECT_SS_ABL=1"
prof ch "VOXATTN_KV_SELECT_WG_CHAIN=1"
gpu_call_end
