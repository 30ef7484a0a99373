#!/bin/sh
# session 46, call a (H200): kvsel46 = main + kvsel45k (_ssk: keys' evict_last alone, VOXATTN_KV_SELECT_WG_KHINT)
# + kvsel45b (TOPK's histogram sweep, 21 instr/quad) as build-gpu; main 7ae125e as build-old.
. tools/gpu_call.sh # its prof, ncu_src and check_misc were defined here when the call ran (same commands)
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_k test_ops cuda:0 "VOXATTN_KV_SELECT_WG_KHINT=1" --op kv_select
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
for i in 1 2; do
  B=build-old bench old$i cuda:0 $H "$A" ""
  bench new$i cuda:0 $H "$A" ""
  bench newk$i cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_KHINT=1"
done
bench wnew cuda:0 wan-1.3b-480p "$A" ""
B=build-old bench wold cuda:0 wan-1.3b-480p "$A" ""
prof abl3 build-gpu "VOXATTN_KV_SELECT_SS_ABL=1" "--mode bsa --density 0.1 --keep 1"
prof old_topk build-old "" "--mode bsa --density 0.1 --keep 1,0.5"
prof old_tau build-old "" "--mode bsa --tau 0.9 --keep 1"
ncu_src p1 build-old "VOXATTN_KV_SELECT_WGS_P1=1" 0
ncu_src whole build-old "" 2
A5="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
BENCH_TIMEOUT=150 B=build-old bench vk vulkan:0 $H "$A5" ""
BENCH_TIMEOUT=150 B=build-old bench ocl opencl:1 $H "$A5" ""
gpu_call_end
