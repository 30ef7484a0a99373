#!/bin/sh
# branch kvsel45b, for the next sitting (not run: no device time left in session 45): TOPK's histogram sweep
# without the clamp (vox_kf_bin_in, the row's own range) and with a one-multiply-add bin address (red.shared on
# NVIDIA). Pack the branch's build as build-gpu and main's as build-old (both in .gpu/pack.tar.xz), then:
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa --tau 0.9 --density 0.1 --keep 1,0.5"
for i in 1 2; do
  bench new$i cuda:0 $H "$A" ""
  B=build-old bench old$i cuda:0 $H "$A" ""
done
gpu_call_end
