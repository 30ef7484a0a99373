#!/bin/sh
# Session 51, fourth call (library 740a6af, as call c): racecheck of the exact rows kernel's new grouping (the
# NaN-row and cumulative cases: rows listed from several heads), the CUDA graph capture and async tests, and ncu
# of the new vox_kv_select_rows in a hunyuan-720p tau 0.9 build (where its 0.235 ms now go).
. tools/gpu_call.sh
sanitize rc_nan 150 racecheck test_ops --device cuda:0 --op kv_select --case nan_rows
sanitize rc_cum 150 racecheck test_ops --device cuda:0 --op kv_select --case cumulative
check_misc
# (as run: a local copy of ncu_src without SchedulerStats, with these masks; ncu_src now takes them as variables)
NCU_ARGS="--mode bsa --tau 0.9 --keep 1" NCU_K='kv_select_rows$' ncu_src rows build-gpu "" 2
gpu_call_end
