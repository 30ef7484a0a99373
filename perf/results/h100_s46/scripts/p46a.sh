#!/bin/sh
# session 46, call a (H200): kvsel46 = main + kvsel45k (_ssk: keys' evict_last alone, VOXATTN_KV_SELECT_WG_KHINT)
# + kvsel45b (TOPK's histogram sweep, 21 instr/quad) as build-gpu; main 7ae125e as build-old.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_k test_ops cuda:0 "VOXATTN_KV_SELECT_WG_KHINT=1" --op kv_select
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
for i in 1 2; do
  B=build-old bench old$i cuda:0 $H "$A" ""
  bench new$i cuda:0 $H "$A" ""
  bench newk$i cuda:0 $H "$A" "VOXATTN_KV_SELECT_WG_KHINT=1"
done
bench wnew cuda:0 wan-1.3b-480p "$A" ""
B=build-old bench wold cuda:0 wan-1.3b-480p "$A" ""
prof() { # TAG BUILD ENV ARGS: per launch medians of one process
  timeout 100 env VOXATTN_GPU_PROFILE=1 $3 "$2/cli/voxattn" bench --device cuda:0 --preset $H $4 --build-only \
    --warmup 2 --runs 10 -v >"$L/p_$1.txt" 2>&1
  echo "prof $1 [$3] rc=$?: $(grep -oE 'vox_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_$1.txt" |
    awk '{print $1, $NF}' | sort -k1,1 -k2,2n | awk '{k[NR]=$1; v[NR]=$2} END {i=1; while (i<=NR) {j=i;
      while (j<NR && k[j+1]==k[i]) j++; printf "%s x%d med %s; ", k[i], j-i+1, v[int((i+j)/2)]; i=j+1}}') $(el)" >>"$S"
  xz -9 "$L/p_$1.txt"
}
prof abl3 build-gpu "VOXATTN_KV_SELECT_SS_ABL=1" "--mode bsa --density 0.1 --keep 1"
prof old_topk build-old "" "--mode bsa --density 0.1 --keep 1,0.5"
prof old_tau build-old "" "--mode bsa --tau 0.9 --keep 1"
nc() { # TAG BUILD ENV SKIP: ncu with source counters of one launch
  timeout 150 env $3 ncu --clock-control none -k regex:fast_kb_ss --launch-skip $4 --launch-count 1 \
    --section SpeedOfLight --section SourceCounters --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats -o "$L/ncu_$1" \
    "$2/cli/voxattn" bench --device cuda:0 --preset $H --mode bsa --density 0.1 --keep 1 --build-only --warmup 1 \
    --runs 2 >"$L/ncu_$1.log" 2>&1
  _rc=$?
  ncu -i "$L/ncu_$1.ncu-rep" --page details >"$L/ncu_$1_details.txt" 2>&1
  ncu -i "$L/ncu_$1.ncu-rep" --page source --csv --print-source sass >"$L/ncu_$1_sass.csv" 2>&1
  echo "ncu $1 rc=$_rc: $(grep -E 'Duration|Warp Cycles Per Issued|Issue Slots Busy' "$L/ncu_$1_details.txt" | tr -s ' ' | tr '\n' ';') sass $(wc -l <"$L/ncu_$1_sass.csv") $(el)" >>"$S"
}
nc p1 build-old "VOXATTN_KV_SELECT_WGS_P1=1" 0
nc whole build-old "" 2
A5="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
BENCH_TIMEOUT=150 B=build-old bench vk vulkan:0 $H "$A5" ""
BENCH_TIMEOUT=150 B=build-old bench ocl opencl:1 $H "$A5" ""
gpu_call_end
