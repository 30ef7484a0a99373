#!/bin/sh
# Session 47, call b: build-gpu = branch split47 (the short tiles' keys split between CTAs of the fast kernel's last
# wave), build-old = main 1648ee9. Checks (the new _mma_split_ cases, their break, the switch off), builds against
# main in the same call, per launch with and without the split in one process (VOXATTN_KV_SELECT_SPLIT_ABL: _ss and
# _ss_ns in turn), tau, wan; NVIDIA OpenCL conformance and sample_rows (session 46's vox_row_of fold). (Its
# NVIDIA Vulkan/OpenCL builds were cut before it ran, to fit the device time left; call c ran them.)
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
check conf_ocl conformance opencl:1 ""
check ops_srm_ocl test_ops opencl:1 "" --op sample_rows
gpu_call_end
