#!/bin/sh
# Session 52, first call: the rows kernel after a280ed0's fold (plain test_ops kv_select, conformance), _sl
# (VOXATTN_KV_SELECT_SL) checked, memchecked and timed against the default _ss in alternating processes, a tau
# build per launch each way, then issue 17's build column at main (hunyuan-720p, wan-1.3b-480p, every mask).
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check conf conformance cuda:0 ""
check ops_sl test_ops cuda:0 "VOXATTN_KV_SELECT_SL=1" --op kv_select
check conf_sl conformance cuda:0 "VOXATTN_KV_SELECT_SL=1"
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench_env 2 sl "$A" "VOXATTN_KV_SELECT_SL=1"
prof tau_ss build-gpu "" "--mode bsa --tau 0.9 --keep 1"
prof tau_sl build-gpu "VOXATTN_KV_SELECT_SL=1" "--mode bsa --tau 0.9 --keep 1"
A="--mode bsa,svg --density 0.1 --tau 0.9 --keep 1,0.5"
bench hy cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
export VOXATTN_KV_SELECT_SL=1; sanitize mc_sl 120 memcheck test_ops --device cuda:0 --op kv_select
gpu_call_end
