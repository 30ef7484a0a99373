#!/bin/sh
# Session 54, second call (library: main + _ss_cb's crossing by rank-then-scan: compares only in the
# O(cnt^2) loop, the masses once a rank in a warp scan; build-mut = the same with the scan's prefix
# inclusive, which must FAIL): test_ops kv_select under VOXATTN_KV_SELECT_CUM_BINS, the mutation, per-launch
# A/B (VOXATTN_KV_SELECT_CUM_ABL), ncu of the new _ss_cb, builds default / CUM_BINS, memcheck.
. tools/gpu_call.sh
check ops_cb test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select
prof abl build-gpu "VOXATTN_KV_SELECT_CUM_ABL=1" "--mode bsa --tau 0.9 --keep 1"
B=build-mut; check ops_mut test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select; B=build-gpu
grep -E "FAIL" "$L/ops_mut.txt" | head -3 >>"$S"
NCU_ARGS="--mode bsa --tau 0.9 --keep 1"
NCU_K=fast_kb_ss_cb; ncu_src cb build-gpu "VOXATTN_KV_SELECT_CUM_BINS=1" 3
bench_env 1 cb "--mode bsa --tau 0.9 --density 0.1 --keep 1,0.5" "VOXATTN_KV_SELECT_CUM_BINS=1"
bench wss cuda:0 wan-1.3b-480p "--mode bsa --tau 0.9 --keep 1" ""
bench wcb cuda:0 wan-1.3b-480p "--mode bsa --tau 0.9 --keep 1" "VOXATTN_KV_SELECT_CUM_BINS=1"
export VOXATTN_KV_SELECT_CUM_BINS=1
sanitize mc 60 memcheck test_ops --device cuda:0 --op kv_select --case cumulative
unset VOXATTN_KV_SELECT_CUM_BINS
check conf_cb conformance cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1"
gpu_call_end
