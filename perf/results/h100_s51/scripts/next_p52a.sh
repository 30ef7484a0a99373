#!/bin/sh
# Next session's first call (prepared in session 51; pack build-gpu's library, cli and tests at main): the staged
# list writes (_sl, VOXATTN_KV_SELECT_SL: built and checked on the host with tools/kv_emu mode 3, never run on a
# GPU) checked and timed against the default _ss in alternating processes; per launch in a tau build; then, on
# whatever card came, issue 17's build column at main (hunyuan-720p and wan-1.3b-480p, every mask).
. tools/gpu_call.sh
check ops_sl test_ops cuda:0 "VOXATTN_KV_SELECT_SL=1" --op kv_select
check conf_sl conformance cuda:0 "VOXATTN_KV_SELECT_SL=1"
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench_env 2 sl "$A" "VOXATTN_KV_SELECT_SL=1"
prof tau_ss build-gpu "" "--mode bsa --tau 0.9 --keep 1"
prof tau_sl build-gpu "VOXATTN_KV_SELECT_SL=1" "--mode bsa --tau 0.9 --keep 1"
A="--mode bsa,svg --density 0.1 --tau 0.9 --keep 1,0.5"
bench hy cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
