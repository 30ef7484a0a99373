#!/bin/sh
# session 46, call b: kvsel46i = main + kvsel45b (TOPK's histogram sweep) + the key-tile scales loaded ahead of
# phase 1's steps (build-gpu); main 7ae125e as build-old.
. tools/gpu_call.sh # its prof, ncu_src, check_misc and bench_ab were defined here when the call ran (same commands)
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_lda test_ops cuda:0 "VOXATTN_KV_SELECT_WG_LDA=1" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_WG_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench_ab 2 "$A"
bench wnew cuda:0 wan-1.3b-480p "$A" ""
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof old_topk build-old "" "--mode bsa --density 0.1 --keep 1"
prof new_p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
ncu_src whole build-gpu "" 2
check hostile_cu robust/test_hostile cuda:0 ""
check_misc
gpu_call_end
