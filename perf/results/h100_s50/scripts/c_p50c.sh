#!/bin/sh
# Session 50, third call: _ss_p1nd (a store-free sweep with three wgmma steps in flight instead of two) beside
# _ss_p1 / _p1ns / _p2h / _p1nk (VOXATTN_KV_SELECT_WGS_P1 in turn), top-k builds; the three-pass kernel's checks again
# (its sweep now the DEPTH-templated form); the default kernel after the tile-start/tiling fold (PTX reordered a few
# instructions): test_ops kv_select, its build column and per-launch time against call a's (ss1/ss2: 1.374 / 1.378 ms).
. tools/gpu_call.sh
check ops_kv_tp test_ops cuda:0 "VOXATTN_KV_SELECT_TP=1" --op kv_select
prof p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
prof p1t build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --tau 0.9 --keep 1"
NCU_K=fast_kb_ss_p1nd ncu_src nd build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" 2
check ops_kv test_ops cuda:0 "" --op kv_select
bench ss3 cuda:0 $H "--mode bsa --density 0.1 --keep 1,0.5" ""
bench ss4 cuda:0 $H "--mode bsa --density 0.1 --keep 1,0.5" ""
prof ss build-gpu "" "--mode bsa --density 0.1 --keep 1"
gpu_call_end
