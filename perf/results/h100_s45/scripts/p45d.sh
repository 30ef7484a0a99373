#!/bin/sh
# session 45, call d: the new default kv_select fast kernel on sm_90a (vox_kv_select_fast_kb_ss: A read by wgmma
# from shared memory, L2 hints) against sessions 16-44's (_wgs2, VOXATTN_KV_SELECT_WG_LDA): tests, the build
# column in alternating processes, per launch in one process.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_lda test_ops cuda:0 "VOXATTN_KV_SELECT_WG_LDA=1" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_WG_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
for t in test_cuda_graph "test_async --backend cuda"; do
  timeout 60 $B/tests/$t >"$L/$(echo $t | cut -d' ' -f1).txt" 2>&1
  echo "$t rc=$?: $(tail -2 "$L/$(echo $t | cut -d' ' -f1).txt" | tr '\n' ' ') $(el)" >>"$S"
done
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench n1 cuda:0 $H "$A" ""
bench o1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_LDA=1"
bench n2 cuda:0 $H "$A" ""
bench o2 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_LDA=1"
bench wn cuda:0 wan-1.3b-480p "$A" ""
timeout 100 env VOXATTN_GPU_PROFILE=1 VOXATTN_KV_SELECT_SS_ABL=1 "$B/cli/voxattn" bench --device cuda:0 --preset $H \
  --mode bsa --density 0.1 --keep 1 --build-only --warmup 2 --runs 10 -v >"$L/p_abl.txt" 2>&1
echo "abl rc=$?: $(grep -oE 'vox_kv_select_fast_kb_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_abl.txt" |
  awk '{v[$1]=v[$1]" "$NF} END {for (k in v) print k":"v[k]}' | tr '\n' ';') $(el)" >>"$S"
gpu_call_end
