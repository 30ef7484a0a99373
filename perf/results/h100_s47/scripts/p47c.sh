#!/bin/sh
# Session 47, call c: build-gpu = branch split47b (on sm_90a at D 128, where the full 64-row tiles fill whole waves,
# _ss_full runs them and a second launch _ss_short runs the 16-row short tiles with their key chunks split between
# 2-4 CTAs; _ss itself unchanged), build-old = main 1648ee9. Checks (topk_mma_split_d128, its break, the switch off),
# builds against main in the same call, per launch with and without the split in one process
# (VOXATTN_KV_SELECT_SPLIT_ABL), tau, wan; NVIDIA Vulkan/OpenCL builds (issue 17's 3x line against the new CUDA figures).
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_SPLIT_BREAK=1" --op kv_select --case _mma_split_
check ops_kv_off test_ops cuda:0 "VOXATTN_KV_SELECT_SPLIT=0" --op kv_select --case _mma_split_
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
check_misc
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench_ab 2 "$A"
bench wnew cuda:0 wan-1.3b-480p "$A" ""
prof abl_topk build-gpu "VOXATTN_KV_SELECT_SPLIT_ABL=1" "--mode bsa --density 0.1 --keep 1,0.5"
prof new_tau build-gpu "" "--mode bsa --tau 0.9 --keep 1"
BENCH_TIMEOUT=150 bench vk vulkan:0 $H "$A" ""
BENCH_TIMEOUT=150 bench ocl opencl:1 $H "$A" ""
gpu_call_end
