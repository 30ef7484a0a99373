#!/bin/sh
# session 45, call b: the chain's phase 1 alone against _wgs2's (VOXATTN_KV_SELECT_WGS_P1: no lists; the build
# column's difference is phase 1's), and _ss2h (L2 hints: the keys' copies evict_last, the score stores
# evict_first) against the default: test_ops, build column A/B, ncu's DRAM bytes.
. tools/gpu_call.sh
check ops_kv_l2 test_ops cuda:0 "VOXATTN_KV_SELECT_WG_L2=1" --op kv_select
H=hunyuan-720p
T="--mode bsa --density 0.1 --keep 1"
bench p1w cuda:0 $H "$T" "VOXATTN_KV_SELECT_WGS_P1=1"
bench p1c cuda:0 $H "$T" "VOXATTN_KV_SELECT_WGS_P1=1 VOXATTN_KV_SELECT_WG_CHAIN=1"
bench p1w2 cuda:0 $H "$T" "VOXATTN_KV_SELECT_WGS_P1=1"
bench p1c2 cuda:0 $H "$T" "VOXATTN_KV_SELECT_WGS_P1=1 VOXATTN_KV_SELECT_WG_CHAIN=1"
A="--mode bsa --tau 0.9 --density 0.1 --keep 1,0.5"
bench d1 cuda:0 $H "$A" ""
bench l1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_L2=1"
bench d2 cuda:0 $H "$A" ""
bench l2 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_L2=1"
M=gpu__time_duration.sum,lts__t_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,smsp__issue_active.avg.pct_of_peak_sustained_elapsed
for v in wgs2 l2; do
  e=""; [ $v = l2 ] && e="VOXATTN_KV_SELECT_WG_L2=1"
  timeout 80 env $e ncu --clock-control none -k regex:fast_kb_ --launch-skip 2 --launch-count 1 --metrics $M \
    "$B/cli/voxattn" bench --device cuda:0 --preset $H $T --build-only --warmup 2 --runs 1 \
    >"$L/ncu_$v.txt" 2>&1
  echo "ncu $v rc=$?: $(grep -E '^ +[a-z_]+__' "$L/ncu_$v.txt" | tr -s ' ' | tr '\n' ';') $(el)" >>"$S"
done
gpu_call_end
