#!/bin/sh
# Session 52, third call (library 3e091a2 + the wide cases at their final shapes): test_ops
# kv_select with the new cases, the same tests against build-mut (vox_kv_select_rows' score loop skipping every
# other pass of keys: the wide cases must FAIL), conformance, hostile, graph capture and async, the build column.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
B=build-mut; check ops_mut test_ops cuda:0 "" --op kv_select; B=build-gpu
grep -E "FAIL" "$L/ops_mut.txt" | head -8 >>"$S"
check conf conformance cuda:0 ""
check hostile robust/test_hostile cuda:0 ""
check_misc
A="--mode bsa,svg --density 0.1 --tau 0.9 --keep 1,0.5"
bench hy cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
