#!/bin/sh
# Session 51, second call: where a hunyuan-720p tau 0.9 build's time goes (its +0.8 ms over top-k): per-launch
# profile, then ncu (source counters, stalls) of the exact-rows kernel vox_kv_select_rows and of the fast kernel
# _ss in a tau build.
. tools/gpu_call.sh
prof tau build-gpu "" "--mode bsa --tau 0.9 --keep 1"
ncu_tau() { # TAG KERNEL-REGEX SKIP
  timeout 200 ncu --clock-control none -k regex:$2 --launch-skip $3 --launch-count 1 \
    --section SpeedOfLight --section SourceCounters --section WarpStateStats --section SchedulerStats \
    --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
    --section InstructionStats -o "$L/ncu_$1" \
    build-gpu/cli/voxattn bench --device cuda:0 --preset $H --mode bsa --tau 0.9 --keep 1 --build-only --warmup 1 \
    --runs 2 >"$L/ncu_$1.log" 2>&1
  _rc=$?
  ncu -i "$L/ncu_$1.ncu-rep" --page details >"$L/ncu_$1_details.txt" 2>&1
  ncu -i "$L/ncu_$1.ncu-rep" --page source --csv --print-source sass >"$L/ncu_$1_sass.csv" 2>&1
  rm -f "$L/ncu_$1.ncu-rep"
  echo "ncu $1 rc=$_rc: $(grep -E 'Duration|Warp Cycles Per Issued|Issue Slots Busy' "$L/ncu_$1_details.txt" |
    tr -s ' ' | tr '\n' ';') sass $(wc -l <"$L/ncu_$1_sass.csv") $(el)" >>"$S"
}
ncu_tau rows "kv_select_rows$" 2
ncu_tau fast "fast_kb_ss$" 2
gpu_call_end
