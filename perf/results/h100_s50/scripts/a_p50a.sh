#!/bin/sh
# Session 50, first call: build-gpu = main + the timing-only kernels vox_kv_select_fast_kb_ss_p1ns (the default
# kernel's phase 1 storing no score) and _ss_p2h (that, then a second sweep binning the same scores into per-row
# histograms in shared memory): VOXATTN_KV_SELECT_WGS_P1 takes _ss_p1, _p1ns, _p2h in turn, on tau and top-k builds
# (the premise of the three-pass kernel, backends/cuda/NOTES.md session 49). Then main's builds where an H200 comes,
# and compute-sanitizer on the kv_select fast kernels and conformance.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
prof p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --tau 0.9 --keep 1"
prof p1b build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
NCU_K=fast_kb_ss_p1ns ncu_src ns build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
NCU_K=fast_kb_ss_p2h ncu_src p2h build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
  bench hy cuda:0 $H "$A" ""
  bench wan cuda:0 wan-1.3b-480p "$A" ""
fi
sanitize mc_kv 60 memcheck test_ops --device cuda:0 --op kv_select --case d128
sanitize rc_kv 70 racecheck test_ops --device cuda:0 --op kv_select --case topk_mma_short_tiles
sanitize mc_conf 90 memcheck conformance --device cuda:0
gpu_call_end
