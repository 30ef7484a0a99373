#!/bin/sh
# session 46, call d (short: the device time left): build-gpu = d698427 (phase 2's query norm and list start
# ahead of the copy wait) against build-ik = a20032f; checks of d698427, one build process each, per launch.
. tools/gpu_call.sh # its prof, ncu_src and check_misc were defined here when the call ran (same commands)
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_fbrk test_ops cuda:0 "VOXATTN_KV_SELECT_FAST_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
check hostile_cu robust/test_hostile cuda:0 ""
check_misc
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
B=build-ik bench ik1 cuda:0 $H "$A" ""
bench new1 cuda:0 $H "$A" ""
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof ik_topk build-ik "" "--mode bsa --density 0.1 --keep 1"
gpu_call_end
