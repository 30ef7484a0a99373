#!/bin/sh
# Session 54, third call (library 0377e80 + _ss_cb's T taken at the crossing's rank, not re-ranked; build-mut
# = 0377e80 with the crossing's prefix inclusive: one rank off): the new case cumulative_crowded_bin (a
# CUMULATIVE crossing inside a crowded bin) with _ss_cb, the default and build-mut (must FAIL); the kv_select
# table under CUM_BINS; per-launch A/B (VOXATTN_KV_SELECT_CUM_ABL) and builds default / CUM_BINS.
# Pack: build-gpu (libvoxattn, cli/voxattn, tests/test_ops) at main; build-mut = the library with the
# crossing's prefix inclusive (kv_select_fast.cuh: `pre = run + si`) and tests/test_ops of main (the case's final recipe).
. tools/gpu_call.sh
B=build-mut; check mut_crowd test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select --case crowded; B=build-gpu
grep -E "FAIL|kv_count|reference" "$L/mut_crowd.txt" | head -3 >>"$S"
check cb_crowd test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select --case crowded
check ss_crowd test_ops cuda:0 "" --op kv_select --case crowded
check ops_cb test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select
prof abl build-gpu "VOXATTN_KV_SELECT_CUM_ABL=1" "--mode bsa --tau 0.9 --keep 1"
bench_env 1 cb "--mode bsa --tau 0.9 --density 0.1 --keep 1,0.5" "VOXATTN_KV_SELECT_CUM_BINS=1"
check ops_ss test_ops cuda:0 "" --op kv_select
B=build-mut; check ops_mut test_ops cuda:0 "VOXATTN_KV_SELECT_CUM_BINS=1" --op kv_select; B=build-gpu
gpu_call_end
