#!/bin/sh
# Session 50, second call: where a store-free sweep's 0.32 ms goes. build-gpu = main + _ss_p1nk (the sweep with the
# keys staged once per tile instead of 32 KB a chunk from L2): VOXATTN_KV_SELECT_WGS_P1 takes _ss_p1 / _p1ns / _p2h /
# _p1nk in turn on top-k builds; ncu of _p1ns and _p1nk (memory, stalls); where an H200 comes, main's builds.
. tools/gpu_call.sh
check ops_kv_tp test_ops cuda:0 "VOXATTN_KV_SELECT_TP=1" --op kv_select --case d128
prof p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
NCU_K=fast_kb_ss_p1ns ncu_src ns build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
NCU_K=fast_kb_ss_p1nk ncu_src nk build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
NCU_K='fast_kb_ss$' ncu_src ss build-gpu "" 2
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
  bench hy cuda:0 $H "$A" ""
  bench wan cuda:0 wan-1.3b-480p "$A" ""
fi
gpu_call_end
