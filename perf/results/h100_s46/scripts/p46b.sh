#!/bin/sh
# session 46, call b: kvsel46i = main + kvsel45b (TOPK's histogram sweep) + the key-tile scales loaded ahead of
# phase 1's steps (build-gpu); main 7ae125e as build-old.
. tools/gpu_call.sh
check ops_kv test_ops cuda:0 "" --op kv_select
check ops_kv_lda test_ops cuda:0 "VOXATTN_KV_SELECT_WG_LDA=1" --op kv_select
check ops_kv_brk test_ops cuda:0 "VOXATTN_KV_SELECT_WG_BREAK=1" --op kv_select --case d128
check conf_cu conformance cuda:0 ""
H=hunyuan-720p
A="--mode bsa,svg --tau 0.9 --density 0.1 --keep 1,0.5"
for i in 1 2; do
  B=build-old bench old$i cuda:0 $H "$A" ""
  bench new$i cuda:0 $H "$A" ""
done
bench wnew cuda:0 wan-1.3b-480p "$A" ""
prof() { # TAG BUILD ENV ARGS: per launch medians of one process
  timeout 100 env VOXATTN_GPU_PROFILE=1 $3 "$2/cli/voxattn" bench --device cuda:0 --preset $H $4 --build-only \
    --warmup 2 --runs 10 -v >"$L/p_$1.txt" 2>&1
  echo "prof $1 [$3] rc=$?: $(grep -oE 'vox_[a-z0-9_]+ grid [0-9]+ x [0-9]+: [0-9.]+' "$L/p_$1.txt" |
    awk '{print $1, $NF}' | sort -k1,1 -k2,2n | awk '{k[NR]=$1; v[NR]=$2} END {i=1; while (i<=NR) {j=i;
      while (j<NR && k[j+1]==k[i]) j++; printf "%s x%d med %s; ", k[i], j-i+1, v[int((i+j)/2)]; i=j+1}}') $(el)" >>"$S"
  xz -9 "$L/p_$1.txt"
}
prof new_topk build-gpu "" "--mode bsa --density 0.1 --keep 1"
prof old_topk build-old "" "--mode bsa --density 0.1 --keep 1"
prof new_p1 build-gpu "VOXATTN_KV_SELECT_WGS_P1=1" "--mode bsa --density 0.1 --keep 1"
nc() { # TAG BUILD ENV SKIP: ncu with source counters of one launch
  timeout 150 env $3 ncu --clock-control none -k regex:fast_kb_ss --launch-skip $4 --launch-count 1 \
    --section SpeedOfLight --section SourceCounters --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats -o "$L/ncu_$1" \
    "$2/cli/voxattn" bench --device cuda:0 --preset $H --mode bsa --density 0.1 --keep 1 --build-only --warmup 1 \
    --runs 2 >"$L/ncu_$1.log" 2>&1
  _rc=$?
  ncu -i "$L/ncu_$1.ncu-rep" --page details >"$L/ncu_$1_details.txt" 2>&1
  ncu -i "$L/ncu_$1.ncu-rep" --page source --csv --print-source sass >"$L/ncu_$1_sass.csv" 2>&1
  rm -f "$L/ncu_$1.ncu-rep"
  echo "ncu $1 rc=$_rc: $(grep -E 'Duration|Warp Cycles Per Issued|Issue Slots Busy' "$L/ncu_$1_details.txt" | tr -s ' ' | tr '\n' ';') sass $(wc -l <"$L/ncu_$1_sass.csv") $(el)" >>"$S"
}
nc whole build-gpu "" 2
check hostile_cu robust/test_hostile cuda:0 ""
for t in test_cuda_graph "test_async --backend cuda"; do
  timeout 60 $B/tests/$t >"$L/$(echo $t | cut -d' ' -f1).txt" 2>&1
  echo "$t rc=$?: $(tail -2 "$L/$(echo $t | cut -d' ' -f1).txt" | tr '\n' ' ') $(el)" >>"$S"
done
gpu_call_end
