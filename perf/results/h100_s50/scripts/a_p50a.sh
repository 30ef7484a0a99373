#!/bin/sh
# Session 50, first call. build-gpu = main 52291fe + the three-pass TOPK kernel (vox_kv_select_fast_kb_tp,
# kv_select_tp.cuh, opt-in: VOXATTN_KV_SELECT_TP=1). Its checks (test_ops kv_select with it, and with its deliberate
# break, which must fail; conformance), its build column against the default kernel (alternating processes), the
# per-launch times (tp, and the study's timing kernels _ss_p1 / _p1ns / _p2h under VOXATTN_KV_SELECT_WGS_P1), ncu of
# one tp launch, then compute-sanitizer on the kv_select kernels (default and tp) and conformance.
. tools/gpu_call.sh
TP="VOXATTN_KV_SELECT_TP=1"
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_tp test_ops cuda:0 "$TP" --op kv_select
check ops_kv_tpbrk test_ops cuda:0 "$TP VOXATTN_KV_SELECT_FAST_BREAK=1" --op kv_select
A="--mode bsa --density 0.1 --keep 1,0.5"
for i in 1 2; do
  bench ss$i cuda:0 $H "$A" ""
  bench tp$i cuda:0 $H "$A" "$TP"
done
bench wss cuda:0 wan-1.3b-480p "$A" ""
bench wtp cuda:0 wan-1.3b-480p "$A" "$TP"
prof tp build-gpu "$TP" "--mode bsa --density 0.1 --keep 1"
prof p1b build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
check conf_tp conformance cuda:0 "$TP"
NCU_K=fast_kb_tp ncu_src tp build-gpu "$TP" 2
sanitize mc_kv 60 memcheck test_ops --device cuda:0 --op kv_select --case d128
export VOXATTN_KV_SELECT_TP=1
sanitize mc_kv_tp 60 memcheck test_ops --device cuda:0 --op kv_select
sanitize rc_kv_tp 70 racecheck test_ops --device cuda:0 --op kv_select --case topk_near_ties_d128
unset VOXATTN_KV_SELECT_TP
sanitize mc_conf 80 memcheck conformance --device cuda:0
gpu_call_end
