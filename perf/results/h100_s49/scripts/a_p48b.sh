#!/bin/sh
# Session 48, call b: build-gpu = branch kt48 (main + kbar's transpose kt written by the keys' preparation,
# vox_km_prep; the vox_kv_select_kt launch gone where the keys are prepared); build-old = main (session 46's code).
# Checks (test_ops kv_select, its KT_BREAK must fail, conformance, hostile, graph, async), builds against main in
# alternating processes, per launch; the later steps only while the session's device time lasts (the summary
# comes back line by line even if the call is cut); NVIDIA Vulkan and OpenCL builds on an H200 only (main's code;
# session 47 measured them on the H100).
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_KT_BREAK=1" --op kv_select
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
check_misc
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench_ab 1 "$A"
prof new build-gpu "" "--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
prof old build-old "" "--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
B=build-old bench old2 cuda:0 $H "$A" ""
bench new2 cuda:0 $H "$A" ""
B=build-old bench wold cuda:0 wan-1.3b-480p "$A" ""
bench wnew cuda:0 wan-1.3b-480p "$A" ""
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  BENCH_TIMEOUT=90 bench vk vulkan:0 $H "$A" ""
  BENCH_TIMEOUT=70 bench ocl opencl:1 $H "$A" ""
fi
gpu_call_end
