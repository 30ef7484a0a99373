#!/bin/sh
# session 45, call a: kv_select's new sm_90a phase-1 forms (_ss2: A read by wgmma from shared memory; _chain: a
# chunk's 24 wgmma one accumulator chain, a wider bound) in test_ops, per launch against _wgs2 in one process
# (VOXATTN_KV_SELECT_SS_ABL), and the build column A/B; then NVIDIA OpenCL at HEAD (the SVG walk with its one
# loader): conformance and hostile inputs; ncu of _wgs2 and _chain if time is left.
. tools/gpu_call.sh
ocl=$("$B/cli/voxattn" devices | awk '/^  opencl:[0-9]+ .*NVIDIA/ {print $1}' | head -1)
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_ss test_ops cuda:0 "VOXATTN_KV_SELECT_WG_SS=1" --op kv_select
check ops_kv_ch2 test_ops cuda:0 "VOXATTN_KV_SELECT_WG_CHAIN=2" --op kv_select
check ops_kv_ch1 test_ops cuda:0 "VOXATTN_KV_SELECT_WG_CHAIN=1" --op kv_select
check ops_kv_ch_brk test_ops cuda:0 "VOXATTN_KV_SELECT_WG_CHAIN=2 VOXATTN_KV_SELECT_WG_BREAK=1" --op kv_select --case d128
H=hunyuan-720p
A="--mode bsa --tau 0.9 --density 0.1 --keep 1,0.5"
BENCH_TIMEOUT=150 bench abl cuda:0 $H "--mode bsa --density 0.1 --keep 1" "VOXATTN_KV_SELECT_SS_ABL=1 VOXATTN_GPU_PROFILE=1"
grep -oE "vox_kv_select_fast_kb_(wgs2|ss2|chain)[^0-9]*[0-9.]+" "$L/b_abl.txt" | head -40 | tr '\n' ';' >>"$S"; echo >>"$S"
bench d1 cuda:0 $H "$A" ""
bench c1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_CHAIN=1"
bench d2 cuda:0 $H "$A" ""
bench c2 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_CHAIN=1"
bench s1 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_SS=1"
bench a2 cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_CHAIN=2"
bench wd cuda:0 wan-1.3b-480p "$A" ""
bench wc cuda:0 wan-1.3b-480p "$A" "VOXATTN_KV_SELECT_WG_CHAIN=1"
check conf_cu_ch conformance cuda:0 "VOXATTN_KV_SELECT_WG_CHAIN=2"
check conf_ocl conformance "${ocl:-opencl:1}" ""
check hostile_ocl robust/test_hostile "${ocl:-opencl:1}" ""
M=gpu__time_duration.sum,lts__t_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed,smsp__issue_active.avg.pct_of_peak_sustained_elapsed,sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_elapsed
for v in wgs2 chain; do
  e=""; [ $v = chain ] && e="VOXATTN_KV_SELECT_WG_CHAIN=1"
  timeout 90 env $e ncu --clock-control none -k regex:fast_kb_ --launch-skip 2 --launch-count 1 --metrics $M \
    "$B/cli/voxattn" bench --device cuda:0 --preset $H --mode bsa --density 0.1 --keep 1 --build-only --warmup 2 --runs 1 \
    >"$L/ncu_$v.txt" 2>&1
  echo "ncu $v rc=$?: $(grep -E '^ +[a-z_]+__' "$L/ncu_$v.txt" | tr -s ' ' | tr '\n' ';') $(el)" >>"$S"
done
gpu_call_end
