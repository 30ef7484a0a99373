#!/bin/sh
# Next session's first call (prepared in session 50): build-gpu = main (ef2612a or later). _ss_p1nu (the sweep with
# each wgmma's descriptors one add from per-sweep bases: 420 SASS instructions a chunk against _ss_p1ns's 512)
# beside _ss_p1 / _p1ns / _p1nk / _p1nd (VOXATTN_KV_SELECT_WGS_P1 takes them in turn) on top-k and tau builds; the
# default kernel's build column; where an H200 comes, issue 17's lines (main's five builds on hunyuan-720p and wan).
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
prof p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
prof p1t build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --tau 0.9 --keep 1"
NCU_K=fast_kb_ss_p1nu ncu_src nu build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench hy cuda:0 $H "$A" ""
bench wan cuda:0 wan-1.3b-480p "$A" ""
gpu_call_end
