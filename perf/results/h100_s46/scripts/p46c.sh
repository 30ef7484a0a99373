#!/bin/sh
# session 46, call c: build-gpu = kvsel46i + the row's query norm and list start loaded before phase 2's copy
# wait; build-ik = a20032f (kvsel45b + the key-tile scales ahead); build-old = main 7ae125e.
. tools/gpu_call.sh # its prof, ncu_src, check_misc and bench_ab were defined here when the call ran (same commands)
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_WG_BREAK=1" --op kv_select --case d128
check ops_kv_fbrk test_ops cuda:0 "VOXATTN_KV_SELECT_FAST_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
check_misc
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
bench_ab 2 "$A"
bench wnew cuda:0 wan-1.3b-480p "$A" ""
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof ik_topk build-ik "" "--mode bsa --density 0.1 --keep 1"
gpu_call_end
