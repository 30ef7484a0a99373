#!/bin/sh
# Session 54, first call (library = main b7bfb7e): the opt-in _ss_cb's launcher after the review mend
# (test_ops kv_select under VOXATTN_KV_SELECT_CUM_BINS), then ncu source counters of _ss_cb and of _ss in a
# hunyuan-720p tau 0.9 build (why _ss_cb is +0.47 ms a launch), per-launch A/B, conformance.
. tools/gpu_call.sh
check ops_cb test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select
NCU_ARGS="--mode bsa --tau 0.9 --keep 1"
NCU_K=fast_kb_ss_cb; ncu_src cb build-gpu "VOXATTN_KV_SELECT_CUM_BINS=1" 3
NCU_K='fast_kb_ss$'; ncu_src ss build-gpu "" 3
prof abl build-gpu "VOXATTN_KV_SELECT_CUM_ABL=1" "--mode bsa --tau 0.9 --keep 1"
check conf conformance cuda:0 ""
check ops_kv test_ops cuda:0 "" --op kv_select
gpu_call_end
