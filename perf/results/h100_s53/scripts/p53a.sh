#!/bin/sh
# Session 53, first call (library c256572: main 30d5c24 + CUMULATIVE on vox_kf_topk's bins; build-mut = the
# same with the new path's certificate skipped: the mass-edge cases must FAIL; build-old = c5ee520's library =
# main's kernels before): test_ops kv_select, conformance, per-launch tau A/B in one process
# (VOXATTN_KV_SELECT_CUM_ABL), the build column against build-old and with VOXATTN_KV_SELECT_CUM_OLD, the
# mutation, memcheck, the old path's and the break's test_ops, wan-1.3b.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check conf conformance cuda:0 ""
prof tau_abl build-gpu "VOXATTN_KV_SELECT_CUM_ABL=1" "--mode bsa --tau 0.9 --keep 1"
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench_ab 1 "$A"
B=build-mut; check ops_mut test_ops cuda:0 "" --op kv_select; B=build-gpu
grep -E "FAIL" "$L/ops_mut.txt" | head -4 >>"$S"
bench co1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_CUM_OLD=1"
sanitize mc 60 memcheck test_ops --device cuda:0 --op kv_select --case cumulative
check ops_kv_co test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_OLD=1" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_FAST_BREAK=1" --op kv_select
grep -E "FAIL" "$L/ops_kv_brk.txt" | head -3 >>"$S"
bench wan cuda:0 wan-1.3b-480p "$A" ""
B=build-old bench wold cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
