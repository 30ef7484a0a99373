#!/bin/sh
# Session 51, second call: where a hunyuan-720p tau 0.9 build's time goes (its +0.8 ms over top-k): per-launch
# profile, then ncu (source counters, stalls) of the exact-rows kernel vox_kv_select_rows and of the fast kernel
# _ss in a tau build.
. tools/gpu_call.sh
prof tau build-gpu "" "--mode bsa --tau 0.9 --keep 1"
# (as run: a local copy of ncu_src with these masks and two more sections; ncu_src now takes them as variables)
export NCU_ARGS="--mode bsa --tau 0.9 --keep 1" NCU_SECTIONS="--section ComputeWorkloadAnalysis --section InstructionStats"
NCU_K='kv_select_rows$' ncu_src rows build-gpu "" 2
NCU_K='fast_kb_ss$' ncu_src fast build-gpu "" 2
gpu_call_end
