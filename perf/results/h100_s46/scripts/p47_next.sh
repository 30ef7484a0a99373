#!/bin/sh
# For the next sitting (not run): HEAD's builds on whatever GPU comes (issue 17's lines are H200 lines), with
# session 45's library (7ae125e) as build-old for the same-call comparison; where phase 1 and the whole fast
# kernel wait now (ncu source counters; read with tools/ncu_stalls.py).
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench_ab 2 "$A"
bench wnew cuda:0 wan-1.3b-480p "$A" ""
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1,0.5"
prof new_tau build-gpu "" "--mode bsa --tau 0.9 --keep 1"
ncu_src p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 0
ncu_src whole build-gpu "" 2
BENCH_TIMEOUT=150 bench vk vulkan:0 $H "$A" ""
BENCH_TIMEOUT=150 bench ocl opencl:1 $H "$A" ""
check conf_ocl conformance opencl:1 ""
gpu_call_end
