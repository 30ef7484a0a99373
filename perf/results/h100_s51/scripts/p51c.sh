#!/bin/sh
# Session 51, third call: the uncertified rows listed per head, vox_kv_select_rows taking a head's rows four at a
# time (each key chunk loaded once for the four). Checks (test_ops kv_select, its mutation build-mut: each group's
# first row skipped, conformance, hostile, memcheck), then main before (build-old, 864bede) and after
# in alternating processes, per-launch profiles of a tau build.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
B=build-mut check ops_mut test_ops cuda:0 "" --op kv_select
check conf conformance cuda:0 ""
check hostile robust/test_hostile cuda:0 ""
sanitize mc_kv 150 memcheck test_ops --device cuda:0 --op kv_select
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench_ab 2 "$A"
prof tau_new build-gpu "" "--mode bsa --tau 0.9 --keep 1"
prof tau_old build-old "" "--mode bsa --tau 0.9 --keep 1"
B=build-old bench wold cuda:0 wan-1.3b-480p "$A" ""
bench wnew cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
