#!/bin/sh
# Session 51, first call: _ss_p1nu (session 50's store-free sweep with descriptors by adds) beside _ss_p1 / _p1ns /
# _p1nk / _p1nd; the full kernel with the same change (_su, VOXATTN_KV_SELECT_SU) checked (test_ops kv_select,
# conformance, memcheck) and timed against the default _ss in alternating processes; conformance on cuda:0 (not
# run on the GPU since session 50's call a); the three-pass kernel after the vox_kf_bins fold.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_su test_ops cuda:0 "VOXATTN_KV_SELECT_SU=1" --op kv_select
check conf conformance cuda:0 ""
check conf_su conformance cuda:0 "VOXATTN_KV_SELECT_SU=1"
check ops_kv_tp test_ops cuda:0 "VOXATTN_KV_SELECT_TP=1" --op kv_select
prof p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
A="--mode bsa --density 0.1 --tau 0.9 --keep 1,0.5"
bench ss1 cuda:0 $H "$A" ""
bench su1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_SU=1"
bench ss2 cuda:0 $H "$A" ""
bench su2 cuda:0 $H "$A" "VOXATTN_KV_SELECT_SU=1"
prof ss build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof su build-gpu "VOXATTN_KV_SELECT_SU=1" "--mode bsa --density 0.1 --keep 1"
bench wss cuda:0 wan-1.3b-480p "$A" ""
bench wsu cuda:0 wan-1.3b-480p "$A" "VOXATTN_KV_SELECT_SU=1"
export VOXATTN_KV_SELECT_SU=1
sanitize mc_su 120 memcheck test_ops --device cuda:0 --op kv_select
NCU_K=fast_kb_su ncu_src su build-gpu "VOXATTN_KV_SELECT_SU=1" 2
gpu_call_end
